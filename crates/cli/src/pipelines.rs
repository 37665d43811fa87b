//! `trainyard apply` and `trainyard pipelines`.

use serde_json::{json, Value};

use crate::args::{Output, PipelinesCommand};
use crate::client::{encode, Client, Error};
use crate::output;

pub async fn apply(client: &Client, out: Output, file: &std::path::Path, dry_run: bool) -> Result<(), Error> {
    let spec = std::fs::read_to_string(file).map_err(|e| Error::Usage(format!("{}: {e}", file.display())))?;
    // Relative repository paths in the file are relative to the file's directory.
    let base = std::path::absolute(file).ok().and_then(|f| f.parent().map(|d| d.display().to_string()));
    let answer = client.post("/pipelines", &json!({"Spec": spec, "BaseDirectory": base, "DryRun": dry_run})).await?;
    output::list(out, &answer, "Changes", &[("ACTION", "/Action"), ("KIND", "/Kind"), ("NAME", "/Name")]);
    Ok(())
}

pub async fn run(client: &Client, out: Output, command: PipelinesCommand) -> Result<(), Error> {
    match command {
        PipelinesCommand::List => output::list(
            out,
            &client.get("/pipelines").await?,
            "Pipelines",
            &[("NAME", "/Name"), ("APPLIED", "/AppliedAt"), ("LAST RUN", "/LastRun"), ("STATUS", "/LastRunStatus")],
        ),
        PipelinesCommand::Describe { name } => {
            output::item(&client.get(&format!("/pipelines/{}", encode(&name))).await?)
        }
        PipelinesCommand::Delete { name } => {
            client.delete(&format!("/pipelines/{}", encode(&name))).await?;
            println!("deleted {name}");
        }
        PipelinesCommand::Start { name } => {
            output::item(&client.post(&format!("/pipelines/{}/start", encode(&name)), &json!({})).await?)
        }
        PipelinesCommand::Runs { name } => output::list(
            out,
            &client.get(&format!("/pipelines/{}/runs", encode(&name))).await?,
            "Runs",
            &[
                ("RUN", "/RunId"),
                ("TRIGGER", "/TriggerType"),
                ("STATUS", "/Status"),
                ("STARTED", "/StartTime"),
                ("REASON", "/Reason"),
            ],
        ),
        PipelinesCommand::RunDescribe { id } => {
            let run = client.get(&format!("/pipeline-runs/{}", encode(&id))).await?;
            match out {
                Output::Json => output::item(&run),
                _ => print_chain(&run),
            }
        }
    }
    Ok(())
}

/// The run as a chain: commit → build → image → training → evaluation → version → deployment.
fn print_chain(run: &Value) {
    let text = |v: &Value| output::cell(Some(v));
    println!("run {}  {}  (trigger: {})", text(&run["RunId"]), text(&run["Status"]), text(&run["TriggerType"]));
    if let Some(commit) = run["Trigger"]["Commit"].as_str() {
        println!("  commit      {commit}");
    }
    for step in run["Steps"].as_array().into_iter().flatten() {
        let seconds = match (step["StartTime"].as_str(), step["EndTime"].as_str()) {
            (Some(start), Some(end)) => chrono::DateTime::parse_from_rfc3339(end)
                .ok()
                .zip(chrono::DateTime::parse_from_rfc3339(start).ok())
                .map(|(e, s)| format!("{:.1}s", (e - s).num_milliseconds() as f64 / 1000.0))
                .unwrap_or_default(),
            _ => String::new(),
        };
        println!(
            "  {:<11} {:<12} {}  {}",
            text(&step["Step"]).to_lowercase(),
            text(&step["Status"]),
            text(&step["Resource"]),
            seconds
        );
    }
    if let Some(reason) = run["Reason"].as_str() {
        println!("  reason      {reason}");
    }
}
