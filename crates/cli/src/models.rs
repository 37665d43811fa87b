//! `trainyard models`: evaluation with the serving runtime and the registration gate.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use trainyard_algorithms::CsvOptions;
use trainyard_models::gate::{decide, Condition};
use trainyard_models::{evaluate, EvaluationInput, Report};

use crate::args::{ModelAliasCommand, ModelGroupsCommand, ModelsCommand, Output};
use crate::client::{encode, Client, Error};
use crate::output;

pub async fn run(client: &Client, out: Output, command: ModelsCommand) -> Result<(), Error> {
    match command {
        ModelsCommand::Groups(command) => groups(client, out, command).await,
        ModelsCommand::Register { group, model_data, report, decision, training_job, status } => {
            let mut body = json!({"ModelPackageGroupName": group, "ModelDataUrl": model_data});
            if let Some(path) = report {
                body["ModelMetrics"] = read_json(&path)?;
            }
            if let Some(path) = decision {
                let document = read_json(&path)?;
                // Accept the whole `models evaluate` output or just its decision.
                body["GateDecision"] = document.get("decision").cloned().unwrap_or(document);
            }
            if let Some(job) = training_job {
                body["TrainingJobName"] = json!(job);
            }
            if let Some(status) = status {
                body["ModelApprovalStatus"] = json!(status);
            }
            let version = client.post("/model-packages", &body).await?;
            match out {
                Output::Json => output::item(&version),
                _ => println!(
                    "{}/{} {}",
                    version["ModelPackageGroupName"].as_str().unwrap_or_default(),
                    version["ModelPackageVersion"],
                    version["ModelApprovalStatus"].as_str().unwrap_or_default()
                ),
            }
            Ok(())
        }
        ModelsCommand::List { group } => {
            let listed = client.get(&format!("/model-package-groups/{}/versions", encode(&group))).await?;
            output::list(
                out,
                &listed,
                "ModelPackageSummaryList",
                &[
                    ("VERSION", "/ModelPackageVersion"),
                    ("STATUS", "/ModelApprovalStatus"),
                    ("MODEL DATA", "/ModelDataUrl"),
                    ("CREATED", "/CreationTime"),
                ],
            );
            Ok(())
        }
        ModelsCommand::Describe { version } => {
            output::item(&client.get(&version_path(&version)?).await?);
            Ok(())
        }
        ModelsCommand::Approve { version, description } => set_status(client, &version, "Approved", &description).await,
        ModelsCommand::Reject { version, description } => set_status(client, &version, "Rejected", &description).await,
        ModelsCommand::Alias(ModelAliasCommand::Set { group, alias, version }) => {
            let path = format!("/model-package-groups/{}/aliases/{}", encode(&group), encode(&alias));
            let group =
                client.call(reqwest::Method::PUT, &path, Some(&json!({"ModelPackageVersion": version}))).await?;
            output::item(&group["Aliases"]);
            Ok(())
        }
        ModelsCommand::Compare { first, second } => {
            let (a, b) = (client.get(&version_path(&first)?).await?, client.get(&version_path(&second)?).await?);
            compare(out, &first, &a, &second, &b);
            Ok(())
        }
        ModelsCommand::Evaluate { model, test, label_column, report, conditions, champion } => {
            let csv = CsvOptions { header: label_column.is_some(), label_column };
            let conditions =
                conditions.iter().map(|c| Condition::parse(c)).collect::<Result<Vec<_>, _>>().map_err(usage)?;
            let candidate = evaluate_one(&model, &test, &csv)?;
            let champion_report = champion.as_deref().map(|c| evaluate_one(c, &test, &csv)).transpose()?;
            let mut document = candidate.0.clone();
            if !conditions.is_empty() {
                let champion_name = champion.as_ref().map(|c| c.display().to_string());
                let decision = decide(&conditions, &candidate, champion_name.as_deref().zip(champion_report.as_ref()))
                    .map_err(usage)?;
                document = json!({"report": candidate.0, "decision": decision});
                if let Some(path) = &report {
                    write_atomically(path, &candidate)?;
                }
                println!("{}", serde_json::to_string_pretty(&document).unwrap_or_default());
                return if decision.passed { Ok(()) } else { Err(Error::Failure("the gate failed".into())) };
            }
            if let Some(path) = &report {
                write_atomically(path, &candidate)?;
            }
            println!("{}", serde_json::to_string_pretty(&document).unwrap_or_default());
            Ok(())
        }
    }
}

fn usage(e: trainyard_models::Error) -> Error {
    Error::Usage(e.to_string())
}

fn evaluate_one(model: &Path, test: &Path, csv: &CsvOptions) -> Result<Report, Error> {
    evaluate(&EvaluationInput { model, test, csv: csv.clone() }).map_err(usage)
}

/// Writes the report through a temporary file, fsync and rename.
fn write_atomically(path: &Path, report: &Report) -> Result<(), Error> {
    let failure = |e: std::io::Error| Error::Failure(format!("cannot write {}: {e}", path.display()));
    let directory = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temporary = directory.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("report")));
    let mut file = std::fs::File::create(&temporary).map_err(failure)?;
    file.write_all(serde_json::to_string_pretty(&report.0).unwrap_or_default().as_bytes()).map_err(failure)?;
    file.sync_all().map_err(failure)?;
    std::fs::rename(&temporary, path).map_err(failure)
}

async fn groups(client: &Client, out: Output, command: ModelGroupsCommand) -> Result<(), Error> {
    match command {
        ModelGroupsCommand::Create { name, description, approval } => {
            let body = json!({"ModelPackageGroupName": name, "ModelPackageGroupDescription": description, "ApprovalMode": approval});
            output::item(&client.post("/model-package-groups", &body).await?);
        }
        ModelGroupsCommand::List => {
            let listed = client.get("/model-package-groups").await?;
            output::list(
                out,
                &listed,
                "ModelPackageGroupSummaryList",
                &[("NAME", "/ModelPackageGroupName"), ("APPROVAL", "/ApprovalMode"), ("CREATED", "/CreationTime")],
            );
        }
        ModelGroupsCommand::Describe { name } => {
            output::item(&client.get(&format!("/model-package-groups/{}", encode(&name))).await?)
        }
        ModelGroupsCommand::Delete { name, force } => {
            let force = if force { "?force=true" } else { "" };
            client.delete(&format!("/model-package-groups/{}{force}", encode(&name))).await?;
        }
    }
    Ok(())
}

/// `GROUP/VERSION` → the version's API path.
fn version_path(reference: &str) -> Result<String, Error> {
    let (group, version) = reference
        .split_once('/')
        .filter(|(g, v)| !g.is_empty() && !v.is_empty())
        .ok_or_else(|| Error::Usage(format!("`{reference}`: expected GROUP/VERSION (a number or an alias)")))?;
    Ok(format!("/model-package-groups/{}/versions/{}", encode(group), encode(version)))
}

async fn set_status(client: &Client, reference: &str, status: &str, description: &str) -> Result<(), Error> {
    let path = format!("{}/status", version_path(reference)?);
    let version =
        client.post(&path, &json!({"ModelApprovalStatus": status, "ApprovalDescription": description})).await?;
    println!("{reference} {}", version["ModelApprovalStatus"].as_str().unwrap_or_default());
    Ok(())
}

/// The metric values of a version's report, by name.
fn metric_values(version: &serde_json::Value) -> std::collections::BTreeMap<String, f64> {
    let report = Report(version["ModelMetrics"].clone());
    report.metric_names().into_iter().filter_map(|n| report.metric(&n).map(|v| (n, v))).collect()
}

fn compare(out: Output, first: &str, a: &serde_json::Value, second: &str, b: &serde_json::Value) {
    let (ma, mb) = (metric_values(a), metric_values(b));
    let names: std::collections::BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
    let rows: Vec<serde_json::Value> =
        names.iter().map(|n| json!({"Metric": n, "First": ma.get(*n), "Second": mb.get(*n)})).collect();
    let document = json!({"First": first, "Second": second, "Metrics": rows});
    output::list(out, &document, "Metrics", &[("METRIC", "/Metric"), (first, "/First"), (second, "/Second")]);
}

fn read_json(path: &Path) -> Result<serde_json::Value, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{} is not JSON: {e}", path.display())))
}
