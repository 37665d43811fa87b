//! `trainyard jobs`: training jobs.

use std::time::Duration;

use serde_json::{json, Value};

use crate::args::{JobsCommand, Output};
use crate::client::{encode, Client, Error};
use crate::{output, time};

fn split_pair<'a>(flag: &str, item: &'a str) -> Result<(&'a str, &'a str), Error> {
    item.split_once('=').ok_or_else(|| Error::Usage(format!("--{flag} {item:?}: expected NAME=VALUE")))
}

/// The request: the file's body with the flags applied on top.
#[allow(clippy::too_many_arguments)]
fn build_request(
    file: Option<&std::path::Path>,
    name: Option<String>,
    algorithm: Option<String>,
    image: Option<String>,
    hyperparameters: &[String],
    channels: &[String],
    output_path: Option<String>,
    max_runtime: Option<String>,
    metrics: &[String],
) -> Result<Value, Error> {
    let mut request = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
            serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{}: not valid JSON: {e}", path.display())))?
        }
        None => json!({}),
    };
    if !request.is_object() {
        return Err(Error::Usage("the request must be a JSON object".into()));
    }
    if let Some(name) = name {
        request["TrainingJobName"] = json!(name);
    }
    if request.get("AlgorithmSpecification").is_none() {
        request["AlgorithmSpecification"] = json!({"TrainingInputMode": "File"});
    }
    if let Some(algorithm) = algorithm {
        request["AlgorithmSpecification"]["AlgorithmName"] = json!(algorithm);
    }
    if let Some(image) = image {
        request["AlgorithmSpecification"]["TrainingImage"] = json!(image);
    }
    for item in hyperparameters {
        let (k, v) = split_pair("hyperparameter", item)?;
        request["HyperParameters"][k] = json!(v);
    }
    for item in metrics {
        let (k, v) = split_pair("metric", item)?;
        let definitions =
            request["AlgorithmSpecification"]["MetricDefinitions"].as_array().cloned().unwrap_or_default();
        let mut definitions = definitions;
        definitions.push(json!({"Name": k, "Regex": v}));
        request["AlgorithmSpecification"]["MetricDefinitions"] = json!(definitions);
    }
    for item in channels {
        let (k, v) = split_pair("channel", item)?;
        let mut list = request["InputDataConfig"].as_array().cloned().unwrap_or_default();
        list.retain(|c| c["ChannelName"] != k);
        list.push(json!({"ChannelName": k, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": v}}}));
        request["InputDataConfig"] = json!(list);
    }
    if let Some(path) = output_path {
        request["OutputDataConfig"] = json!({"S3OutputPath": path});
    }
    if let Some(limit) = max_runtime {
        request["StoppingCondition"]["MaxRuntimeInSeconds"] = json!(time::duration(&limit)?.as_secs());
    }
    Ok(request)
}

/// Polls until the job ends, printing each status change; exit 0 only when Completed.
async fn wait(client: &Client, name: &str) -> Result<(), Error> {
    let mut last = String::new();
    loop {
        let job = client.get(&format!("/training-jobs/{}", encode(name))).await?;
        let status =
            format!("{}/{}", output::cell(job.get("TrainingJobStatus")), output::cell(job.get("SecondaryStatus")));
        if status != last {
            eprintln!("{name}: {status}");
            last = status;
        }
        match job["TrainingJobStatus"].as_str() {
            Some("Completed") => {
                println!("{}", output::cell(job.pointer("/ModelArtifacts/S3ModelArtifacts")));
                return Ok(());
            }
            Some("Failed") => {
                return Err(Error::Failure(format!("{name} failed: {}", output::cell(job.get("FailureReason")))))
            }
            Some("Stopped") => return Err(Error::Failure(format!("{name} was stopped"))),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Prints a job's log (`{job}/logs?offset=`), following it until the job ends when asked.
pub async fn print_logs(client: &Client, job: &str, follow: bool) -> Result<(), Error> {
    let mut offset = 0u64;
    loop {
        let chunk = client.get(&format!("{job}/logs?offset={offset}")).await?;
        print!("{}", chunk["Text"].as_str().unwrap_or(""));
        let next = chunk["NextOffset"].as_u64().unwrap_or(offset);
        if !follow || chunk["Complete"] == Value::Bool(true) {
            return Ok(());
        }
        if next == offset {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        offset = next;
    }
}

pub async fn run(client: &Client, out: Output, command: JobsCommand) -> Result<(), Error> {
    match command {
        JobsCommand::CreateTraining {
            file,
            name,
            algorithm,
            image,
            hyperparameters,
            channels,
            output_path: path,
            max_runtime,
            metrics,
            wait: follow,
        } => {
            let request = build_request(
                file.as_deref(),
                name,
                algorithm,
                image,
                &hyperparameters,
                &channels,
                path,
                max_runtime,
                &metrics,
            )?;
            let answer = client.post("/training-jobs", &request).await?;
            println!("{}", output::cell(answer.get("TrainingJobArn")));
            if follow {
                let name = request["TrainingJobName"].as_str().unwrap_or_default().to_string();
                wait(client, &name).await?;
            }
        }
        JobsCommand::Describe { name } => {
            output::item(&client.get(&format!("/training-jobs/{}", encode(&name))).await?)
        }
        JobsCommand::List { status, limit } => {
            let mut path = format!("/training-jobs?limit={limit}");
            if let Some(status) = status {
                path.push_str(&format!("&status={}", encode(&status)));
            }
            output::list(
                out,
                &client.get(&path).await?,
                "TrainingJobSummaries",
                &[
                    ("NAME", "/TrainingJobName"),
                    ("STATUS", "/TrainingJobStatus"),
                    ("SECONDARY", "/SecondaryStatus"),
                    ("CREATED", "/CreationTime"),
                    ("ENDED", "/TrainingEndTime"),
                ],
            );
        }
        JobsCommand::Logs { name, follow } => {
            print_logs(client, &format!("/training-jobs/{}", encode(&name)), follow).await?
        }
        JobsCommand::Metrics { name } => {
            output::list(
                out,
                &client.get(&format!("/training-jobs/{}/metrics", encode(&name))).await?,
                "MetricData",
                &[("TIME", "/Timestamp"), ("METRIC", "/MetricName"), ("VALUE", "/Value")],
            );
        }
        JobsCommand::Wait { name } => wait(client, &name).await?,
        JobsCommand::Stop { name } => {
            client.post(&format!("/training-jobs/{}/stop", encode(&name)), &json!({})).await?;
            println!("stopping {name}");
        }
    }
    Ok(())
}
