//! `trainyard endpoints`: deploy blue/green, inspect, roll back, reweight, invoke.

use std::time::Duration;

use serde_json::{json, Value};
use trainyard_endpoints::policy::{duration, Alarm, Policy, Traffic};

use crate::args::{EndpointsCommand, Output};
use crate::client::{encode, Client, Error};
use crate::output;

/// The request: the file's body with the flags applied on top.
#[allow(clippy::too_many_arguments)]
fn deploy_request(
    file: Option<&std::path::Path>,
    model_package: Option<String>,
    model_data: Option<String>,
    variant_name: String,
    workers: Option<u32>,
    strategy: Option<String>,
    rollback_on: Option<String>,
    termination_wait: Option<String>,
    max_time: Option<String>,
) -> Result<Value, Error> {
    let usage = |e: trainyard_endpoints::Error| Error::Usage(e.to_string());
    let mut request = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
            serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{}: not valid JSON: {e}", path.display())))?
        }
        None => json!({}),
    };
    match (model_package, model_data) {
        (Some(_), Some(_)) => return Err(Error::Usage("give --model-package or --model-data, not both".into())),
        (Some(package), None) => {
            request["ProductionVariants"] = json!([{"VariantName": variant_name, "ModelPackage": package}]);
        }
        (None, Some(url)) => {
            request["ProductionVariants"] = json!([{"VariantName": variant_name, "ModelDataUrl": url}]);
        }
        (None, None) if request.get("ProductionVariants").is_none() => {
            return Err(Error::Usage("give --model-package GROUP/VERSION, --model-data s3://... or --file".into()))
        }
        (None, None) => {}
    }
    if let Some(workers) = workers {
        for variant in request["ProductionVariants"].as_array_mut().into_iter().flatten() {
            variant["InitialInstanceCount"] = json!(workers);
        }
    }
    let mut policy = Policy::from_sagemaker(request.get("DeploymentConfig").unwrap_or(&Value::Null)).map_err(usage)?;
    if let Some(strategy) = strategy {
        policy.traffic = Traffic::parse(&strategy).map_err(usage)?;
    }
    if let Some(conditions) = rollback_on {
        policy.alarms = Alarm::parse_list(&conditions).map_err(usage)?;
    }
    if let Some(wait) = termination_wait {
        policy.termination_wait = duration(&wait).map_err(|e| Error::Usage(format!("--termination-wait: {e}")))?;
    }
    if let Some(limit) = max_time {
        policy.maximum_execution = duration(&limit).map_err(|e| Error::Usage(format!("--max-time: {e}")))?;
    }
    request["DeploymentConfig"] = policy.to_sagemaker();
    Ok(request)
}

/// Polls until no deployment is in progress; exit 0 when the last one completed.
async fn wait(client: &Client, name: &str) -> Result<(), Error> {
    let mut last = String::new();
    loop {
        let endpoint = client.get(&format!("/endpoints/{}", encode(name))).await?;
        let status = output::cell(endpoint.get("EndpointStatus"));
        let share = endpoint.pointer("/PendingDeploymentSummary/NewFleetShare").and_then(Value::as_f64);
        let line = match share {
            Some(s) => format!("{status} ({:.0}% on the new fleet)", s * 100.0),
            None => status.clone(),
        };
        if line != last {
            eprintln!("{name}: {line}");
            last = line;
        }
        let settled = endpoint.get("PendingDeploymentSummary").is_none()
            && matches!(status.as_str(), "InService" | "Failed" | "OutOfService");
        if settled {
            let outcome = endpoint.pointer("/LastDeployment/Outcome").and_then(Value::as_str).unwrap_or("");
            return match (status.as_str(), outcome) {
                ("InService", "Completed") => Ok(()),
                _ => Err(Error::Failure(format!(
                    "{name}: deployment {}: {}",
                    if outcome.is_empty() { "failed" } else { outcome },
                    output::cell(endpoint.get("FailureReason"))
                ))),
            };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn run(client: &Client, out: Output, command: EndpointsCommand) -> Result<(), Error> {
    match command {
        EndpointsCommand::Deploy {
            name,
            model_package,
            model_data,
            variant_name,
            workers,
            file,
            strategy,
            rollback_on,
            termination_wait,
            max_time,
            wait: follow,
        } => {
            let request = deploy_request(
                file.as_deref(),
                model_package,
                model_data,
                variant_name,
                workers,
                strategy,
                rollback_on,
                termination_wait,
                max_time,
            )?;
            let answer = client.post(&format!("/endpoints/{}/deployments", encode(&name)), &request).await?;
            if follow {
                wait(client, &name).await?;
                println!("{name} InService");
            } else {
                output::item(&answer);
            }
        }
        EndpointsCommand::List => output::list(
            out,
            &client.get("/endpoints").await?,
            "Endpoints",
            &[
                ("NAME", "/EndpointName"),
                ("STATUS", "/EndpointStatus"),
                ("CONFIG", "/EndpointConfigName"),
                ("MODIFIED", "/LastModifiedTime"),
            ],
        ),
        EndpointsCommand::Describe { name } => {
            output::item(&client.get(&format!("/endpoints/{}", encode(&name))).await?)
        }
        EndpointsCommand::Delete { name } => {
            client.delete(&format!("/endpoints/{}", encode(&name))).await?;
            println!("deleted {name}");
        }
        EndpointsCommand::Rollback { name, wait: follow } => {
            client.post(&format!("/endpoints/{}/rollback", encode(&name)), &json!({})).await?;
            if follow {
                // A rollback of a deployment in progress ends with that deployment rolled back.
                let _ = wait(client, &name).await;
            }
            println!("rolling back {name}");
        }
        EndpointsCommand::UpdateWeights { name, weights } => {
            let mut desired = Vec::new();
            for item in &weights {
                let (variant, weight) = item
                    .split_once('=')
                    .and_then(|(v, w)| w.parse::<f64>().ok().map(|w| (v, w)))
                    .ok_or_else(|| Error::Usage(format!("{item:?}: expected VARIANT=WEIGHT")))?;
                desired.push(json!({"VariantName": variant, "DesiredWeight": weight}));
            }
            let body = json!({"DesiredWeightsAndCapacities": desired});
            output::item(&client.post(&format!("/endpoints/{}/weights", encode(&name)), &body).await?);
        }
        EndpointsCommand::Invoke { name, body, content_type, accept, variant } => {
            let bytes = match body.strip_prefix('@') {
                Some(path) => std::fs::read(path).map_err(|e| Error::Usage(format!("{path}: {e}")))?,
                None => body.into_bytes(),
            };
            let path = format!("/endpoints/{}/invocations", encode(&name));
            let (answered, text) = client.invoke(&path, bytes, &content_type, &accept, variant.as_deref()).await?;
            if let Some(variant) = answered {
                eprintln!("variant: {variant}");
            }
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
        }
    }
    Ok(())
}
