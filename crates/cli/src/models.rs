//! `trainyard models`: evaluation with the serving runtime and the registration gate.

use std::path::{Path, PathBuf};

use serde_json::json;
use trainyard_algorithms::CsvOptions;
use trainyard_models::evaluator::EvaluatorOptions;
use trainyard_models::gate::{decide, Condition};
use trainyard_models::{evaluate, EvaluationInput, Report};

use crate::args::{EvaluatorArgs, ModelAliasCommand, ModelGroupsCommand, ModelsCommand, Output};
use crate::client::{encode, Client, Error};
use crate::output;

pub async fn run(client: &Client, out: Output, command: ModelsCommand) -> Result<(), Error> {
    match command {
        ModelsCommand::Groups(command) => groups(client, out, command).await,
        ModelsCommand::Register { group, model_data, evaluation, report, decision, training_job, status, source } => {
            let mut body = json!({"ModelPackageGroupName": group});
            if let Some(metadata) = source.metadata() {
                body["MetadataProperties"] = metadata;
            }
            if let Some(url) = model_data {
                body["ModelDataUrl"] = json!(url);
            }
            if let Some(job) = evaluation {
                body["EvaluationJobName"] = json!(job);
            }
            if let Some(report) = report {
                body["ModelMetrics"] = match report.strip_prefix("s3://") {
                    Some(_) => {
                        let uri = crate::data::uri(&report)?;
                        client.get(&crate::data::object_path(&uri.bucket, &uri.key)).await?
                    }
                    None => read_json(Path::new(&report))?,
                };
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
        ModelsCommand::Evaluate {
            model,
            test,
            label_column,
            report,
            conditions,
            champion,
            group,
            wait,
            register,
            job_name,
            source,
        } => {
            let remote = model.starts_with("s3://") || test.starts_with("s3://");
            if !remote {
                if group.is_some() || wait || register || job_name.is_some() {
                    return Err(Error::Usage(
                        "--group, --wait, --register and --job-name are for s3:// models (evaluated on the server)"
                            .into(),
                    ));
                }
                return evaluate_locally(
                    Path::new(&model),
                    Path::new(&test),
                    label_column,
                    report,
                    &conditions,
                    champion,
                );
            }
            if champion.is_some() {
                return Err(Error::Usage(
                    "--champion is for local files; on the server the champion comes from --group".into(),
                ));
            }
            if register && group.is_none() {
                return Err(Error::Usage("--register needs --group".into()));
            }
            let request = json!({
                "ModelDataUrl": model, "TestDataUrl": test, "ModelPackageGroupName": group,
                "Conditions": conditions, "LabelColumn": label_column, "ProcessingJobName": job_name,
            });
            let metadata = source.metadata();
            if metadata.is_some() && !register {
                return Err(Error::Usage("--repository and --commit are recorded by --register".into()));
            }
            let remote = RemoteEvaluation { group, wait: wait || register, register, report, metadata };
            remote.run(client, out, request).await
        }
    }
}

fn evaluate_locally(
    model: &Path,
    test: &Path,
    label_column: Option<String>,
    report: Option<PathBuf>,
    conditions: &[String],
    champion: Option<PathBuf>,
) -> Result<(), Error> {
    let csv = CsvOptions { header: label_column.is_some(), label_column };
    let conditions = conditions.iter().map(|c| Condition::parse(c)).collect::<Result<Vec<_>, _>>().map_err(usage)?;
    let candidate = evaluate_one(model, test, &csv)?;
    let champion_report = champion.as_deref().map(|c| evaluate_one(c, test, &csv)).transpose()?;
    if let Some(path) = &report {
        write_report(path, &candidate)?;
    }
    if conditions.is_empty() {
        println!("{}", serde_json::to_string_pretty(&candidate.0).unwrap_or_default());
        return Ok(());
    }
    let champion_name = champion.as_ref().map(|c| c.display().to_string());
    let decision =
        decide(&conditions, &candidate, champion_name.as_deref().zip(champion_report.as_ref())).map_err(usage)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({"report": candidate.0, "decision": decision})).unwrap_or_default()
    );
    if decision.passed {
        Ok(())
    } else {
        Err(Error::Failure("the gate failed".into()))
    }
}

/// An evaluation on the server: the built-in evaluator as a processing job.
struct RemoteEvaluation {
    group: Option<String>,
    wait: bool,
    register: bool,
    report: Option<PathBuf>,
    metadata: Option<serde_json::Value>,
}

impl RemoteEvaluation {
    async fn run(self, client: &Client, out: Output, request: serde_json::Value) -> Result<(), Error> {
        let started = client.post("/model-evaluations", &request).await?;
        let name = started["ProcessingJobName"].as_str().unwrap_or_default().to_string();
        eprintln!(
            "evaluation {name} started (report: {}; champion: {})",
            output::cell(started.get("ReportUrl")),
            started["ChampionVersion"].as_i64().map_or("none".to_string(), |v| format!("version {v}"))
        );
        if !self.wait {
            output::item(&started);
            return Ok(());
        }
        let result = loop {
            let result = client.get(&format!("/model-evaluations/{}", encode(&name))).await?;
            match result["ProcessingJobStatus"].as_str() {
                Some("Completed") => break result,
                Some("Failed") | Some("Stopped") => {
                    return Err(Error::Failure(format!(
                        "evaluation {name} {}: {}",
                        output::cell(result.get("ProcessingJobStatus")).to_lowercase(),
                        output::cell(result.get("FailureReason"))
                    )))
                }
                _ => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
            }
        };
        if let Some(path) = &self.report {
            write_report(path, &Report(result["Report"].clone()))?;
        }
        let passed = result["Decision"]["passed"].as_bool().unwrap_or(true);
        let mut document = json!({"evaluation": name, "report_url": result["ReportUrl"], "report": result["Report"]});
        if !result["ChampionReport"].is_null() {
            document["champion_report"] = result["ChampionReport"].clone();
        }
        if !result["Decision"].is_null() {
            document["decision"] = result["Decision"].clone();
        }
        if self.register {
            let mut body = json!({"ModelPackageGroupName": self.group, "EvaluationJobName": name});
            if let Some(metadata) = &self.metadata {
                body["MetadataProperties"] = metadata.clone();
            }
            match client.post("/model-packages", &body).await {
                Ok(version) => {
                    document["registered"] = json!({
                        "ModelPackageVersion": version["ModelPackageVersion"],
                        "ModelApprovalStatus": version["ModelApprovalStatus"],
                        "ModelPackageArn": version["ModelPackageArn"],
                    });
                }
                Err(Error::Usage(message)) if message.starts_with("GateFailedException") => {
                    document["registered"] = json!(null);
                    document["not_registered"] = json!(message);
                }
                Err(e) => return Err(e),
            }
        }
        match out {
            Output::Json => println!("{}", serde_json::to_string(&document).unwrap_or_default()),
            _ => println!("{}", serde_json::to_string_pretty(&document).unwrap_or_default()),
        }
        if passed {
            Ok(())
        } else {
            Err(Error::Failure("the gate failed".into()))
        }
    }
}

/// `trainyard evaluator`: the built-in evaluator under the processing contract.
pub fn evaluator(args: EvaluatorArgs) -> Result<(), Error> {
    let from = |flag: Option<PathBuf>, variable: &str| flag.or_else(|| std::env::var_os(variable).map(PathBuf::from));
    let required = |value: Option<PathBuf>, what: &str| value.ok_or_else(|| Error::Usage(format!("give {what}")));
    let options = EvaluatorOptions {
        model: required(from(args.model, "SM_CHANNEL_MODEL"), "--model or SM_CHANNEL_MODEL")?,
        test: required(from(args.test, "SM_CHANNEL_TEST"), "--test or SM_CHANNEL_TEST")?,
        champion: from(args.champion, "SM_CHANNEL_CHAMPION"),
        champion_version: args.champion_version,
        output: required(
            from(args.output_dir, "SM_PROCESSING_OUTPUT_EVALUATION"),
            "--output-dir or SM_PROCESSING_OUTPUT_EVALUATION",
        )?,
        csv: CsvOptions { header: args.label_column.is_some(), label_column: args.label_column },
        conditions: args.conditions,
    };
    let outcome = trainyard_models::evaluator::run(&options).map_err(usage)?;
    let mut document = json!({"report": outcome.report.0});
    if let Some(champion) = outcome.champion {
        document["champion_report"] = champion.0;
    }
    if let Some(decision) = outcome.decision {
        document["decision"] = json!(decision);
    }
    println!("{}", serde_json::to_string_pretty(&document).unwrap_or_default());
    Ok(())
}

fn usage(e: trainyard_models::Error) -> Error {
    Error::Usage(e.to_string())
}

fn evaluate_one(model: &Path, test: &Path, csv: &CsvOptions) -> Result<Report, Error> {
    evaluate(&EvaluationInput { model, test, csv: csv.clone() }).map_err(usage)
}

/// Writes the report through a temporary file, fsync and rename.
fn write_report(path: &Path, report: &Report) -> Result<(), Error> {
    trainyard_models::evaluator::write_atomically(path, &report.0)
        .map_err(|e| Error::Failure(format!("cannot write the report: {e}")))
}

async fn groups(client: &Client, out: Output, command: ModelGroupsCommand) -> Result<(), Error> {
    match command {
        ModelGroupsCommand::Create { name, description, approval, gate_failure } => {
            let body = json!({"ModelPackageGroupName": name, "ModelPackageGroupDescription": description,
                              "ApprovalMode": approval, "GateFailure": gate_failure});
            output::item(&client.post("/model-package-groups", &body).await?);
        }
        ModelGroupsCommand::List => {
            let listed = client.get("/model-package-groups").await?;
            output::list(
                out,
                &listed,
                "ModelPackageGroupSummaryList",
                &[
                    ("NAME", "/ModelPackageGroupName"),
                    ("APPROVAL", "/ApprovalMode"),
                    ("GATE FAILURE", "/GateFailure"),
                    ("CREATED", "/CreationTime"),
                ],
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
