//! `trainyard processing`: processing jobs (evaluation runs).

use std::time::Duration;

use serde_json::{json, Value};

use crate::args::{Output, ProcessingCommand};
use crate::client::{encode, Client, Error};
use crate::output;

/// Polls until the job ends, printing each status change; exit 0 only when Completed.
async fn wait(client: &Client, name: &str) -> Result<(), Error> {
    let mut last = String::new();
    loop {
        let job = client.get(&format!("/processing-jobs/{}", encode(name))).await?;
        let status = output::cell(job.get("ProcessingJobStatus"));
        if status != last {
            eprintln!("{name}: {status}");
            last = status.clone();
        }
        match status.as_str() {
            "Completed" => return Ok(()),
            "Failed" => {
                return Err(Error::Failure(format!("{name} failed: {}", output::cell(job.get("FailureReason")))))
            }
            "Stopped" => return Err(Error::Failure(format!("{name} was stopped"))),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

pub async fn run(client: &Client, out: Output, command: ProcessingCommand) -> Result<(), Error> {
    match command {
        ProcessingCommand::Create { file, name, wait: follow } => {
            let text = std::fs::read_to_string(&file).map_err(|e| Error::Usage(format!("{}: {e}", file.display())))?;
            let mut request: Value = serde_json::from_str(&text)
                .map_err(|e| Error::Usage(format!("{}: not valid JSON: {e}", file.display())))?;
            if !request.is_object() {
                return Err(Error::Usage("the request must be a JSON object".into()));
            }
            if let Some(name) = name {
                request["ProcessingJobName"] = json!(name);
            }
            let answer = client.post("/processing-jobs", &request).await?;
            println!("{}", output::cell(answer.get("ProcessingJobArn")));
            if follow {
                wait(client, request["ProcessingJobName"].as_str().unwrap_or_default()).await?;
            }
        }
        ProcessingCommand::Describe { name } => {
            output::item(&client.get(&format!("/processing-jobs/{}", encode(&name))).await?)
        }
        ProcessingCommand::List { status, limit } => {
            let mut path = format!("/processing-jobs?limit={limit}");
            if let Some(status) = status {
                path.push_str(&format!("&status={}", encode(&status)));
            }
            output::list(
                out,
                &client.get(&path).await?,
                "ProcessingJobSummaries",
                &[
                    ("NAME", "/ProcessingJobName"),
                    ("STATUS", "/ProcessingJobStatus"),
                    ("CREATED", "/CreationTime"),
                    ("ENDED", "/ProcessingEndTime"),
                ],
            );
        }
        ProcessingCommand::Logs { name, follow } => {
            crate::jobs::print_logs(client, &format!("/processing-jobs/{}", encode(&name)), follow).await?
        }
        ProcessingCommand::Wait { name } => wait(client, &name).await?,
        ProcessingCommand::Stop { name } => {
            client.post(&format!("/processing-jobs/{}/stop", encode(&name)), &json!({})).await?;
            println!("stopping {name}");
        }
    }
    Ok(())
}
