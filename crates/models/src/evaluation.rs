//! Evaluations as processing jobs: starting the built-in evaluator on a candidate (with
//! the group's champion on the same test data), and reading back what it wrote.

use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use trainyard_jobs::processing::{CreateProcessingJob, Status, EVALUATOR_IMAGE};
use trainyard_objects::S3Uri;
use trainyard_store::{ModelPackageRecord, ProcessingJobRecord};

use crate::error::Error;
use crate::evaluator::{CHAMPION_REPORT_FILE, DECISION_FILE, REPORT_FILE};
use crate::gate::{decide, Condition, Decision};
use crate::metrics::Report;
use crate::registry::Registry;

/// Reports and decisions are small; anything larger is not one.
const MAX_DOCUMENT_BYTES: usize = 16 << 20;

/// `POST /model-evaluations`: what to evaluate and against which gate.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StartEvaluation {
    /// `s3://.../model.tar.gz` of the candidate.
    pub model_data_url: String,
    /// `s3://.../test/`: CSV files.
    pub test_data_url: String,
    /// The group whose champion (alias `champion`, else the latest Approved version) is
    /// evaluated on the same data.
    #[serde(default)]
    pub model_package_group_name: Option<String>,
    #[serde(default)]
    pub conditions: Vec<String>,
    /// The CSV files have a header and the label is this column.
    #[serde(default)]
    pub label_column: Option<String>,
    #[serde(default)]
    pub processing_job_name: Option<String>,
    /// The role the evaluation job acts as (recorded as its `RoleArn`).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// A Python evaluation script (`s3://.../evaluate.py`) to run instead of the built-in
    /// evaluator, under the same contract (see [`SCRIPT_VARIABLE`]).
    #[serde(default)]
    pub script: Option<String>,
}

/// Marks a processing job as a script evaluation. The script gets the candidate in
/// `/opt/ml/processing/model/`, the test CSVs in `/opt/ml/processing/test/` and, when the
/// group has one, the champion in `/opt/ml/processing/champion/`; it writes the
/// model-quality report (SageMaker's layout) to `/opt/ml/processing/evaluation/evaluation.json`
/// and, given a champion, the champion's on the same data to `champion-evaluation.json`.
/// The registry decides the gate from these reports.
pub const SCRIPT_VARIABLE: &str = "TRAINYARD_EVALUATION_SCRIPT";
/// A script evaluation's gate conditions (a JSON array), for the registry to decide with.
pub const CONDITIONS_VARIABLE: &str = "EVALUATION_CONDITIONS";
/// A script evaluation's label column, when the test CSVs have a header.
pub const LABEL_VARIABLE: &str = "LABEL_COLUMN";
/// The champion version a script evaluation met.
pub const CHAMPION_VARIABLE: &str = "CHAMPION_VERSION";

/// Where an evaluation job records the group whose champion it met.
pub const GROUP_VARIABLE: &str = "MODEL_PACKAGE_GROUP";

/// A finished evaluation, as a registration uses it.
pub struct CompletedEvaluation {
    pub job: ProcessingJobRecord,
    pub model_data_url: String,
    pub report: Value,
    pub decision: Option<Decision>,
    /// The group whose champion was evaluated alongside, if any.
    pub group: Option<String>,
}

/// The gate conditions an evaluation job was started with (its `--condition` arguments,
/// or a script evaluation's `EVALUATION_CONDITIONS`).
fn job_conditions(job: &ProcessingJobRecord) -> Vec<String> {
    if let Some(script) = job_variable(job, CONDITIONS_VARIABLE) {
        return serde_json::from_str(&script).unwrap_or_default();
    }
    let arguments: Vec<&str> = job
        .request
        .pointer("/AppSpecification/ContainerArguments")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    arguments.windows(2).filter(|w| w[0] == "--condition").map(|w| w[1].trim().to_string()).collect()
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidRequest { field: field.into(), reason: reason.into() }
}

/// The S3 URI of a processing job's named input or output.
fn job_uri(
    job: &ProcessingJobRecord,
    pointer: &str,
    name_field: &str,
    name: &str,
    uri_pointer: &str,
) -> Option<String> {
    job.request
        .pointer(pointer)?
        .as_array()?
        .iter()
        .find(|v| v[name_field] == name)?
        .pointer(uri_pointer)?
        .as_str()
        .map(String::from)
}

fn job_variable(job: &ProcessingJobRecord, name: &str) -> Option<String> {
    job.request.pointer(&format!("/Environment/{name}")).and_then(Value::as_str).map(String::from)
}

fn is_script(job: &ProcessingJobRecord) -> bool {
    job_variable(job, SCRIPT_VARIABLE).is_some()
}

fn is_evaluation(job: &ProcessingJobRecord) -> bool {
    is_script(job)
        || job
            .request
            .pointer("/AppSpecification/ImageUri")
            .and_then(Value::as_str)
            .is_some_and(|image| image.split([':', '@']).next() == Some(EVALUATOR_IMAGE))
}

/// `s3://b/models/x/model.tar.gz` + name → `s3://b/models/x/evaluations/<name>/`.
fn output_uri(model: &S3Uri, job: &str) -> String {
    let directory = model.key.rsplit_once('/').map_or("", |(dir, _)| dir);
    if directory.is_empty() {
        format!("s3://{}/evaluations/{job}/", model.bucket)
    } else {
        format!("s3://{}/{directory}/evaluations/{job}/", model.bucket)
    }
}

/// The gate decision of a script evaluation, from the reports it wrote: the script
/// measures, the registry decides.
fn script_decision(job: &ProcessingJobRecord, answer: &Value) -> Result<Value, Error> {
    let conditions = job_conditions(job).iter().map(|c| Condition::parse(c)).collect::<Result<Vec<_>, _>>()?;
    if conditions.is_empty() || answer["Report"].is_null() {
        return Ok(Value::Null);
    }
    let candidate = Report(answer["Report"].clone());
    let relative = conditions.iter().any(|c| matches!(c.threshold, crate::gate::Threshold::Champion { .. }));
    let champion = match (job_variable(job, CHAMPION_VARIABLE), &answer["ChampionReport"]) {
        (None, _) => None,
        // Only a relative condition needs the champion measured.
        (Some(_), Value::Null) if !relative => None,
        (Some(version), Value::Null) => {
            return Err(Error::Evaluation {
                job: job.name.clone(),
                reason: format!("the script wrote no {CHAMPION_REPORT_FILE} though it was given champion {version}"),
            })
        }
        (Some(version), report) => Some((version, Report(report.clone()))),
    };
    let decision = decide(&conditions, &candidate, champion.as_ref().map(|(v, r)| (v.as_str(), r)))?;
    Ok(serde_json::to_value(decision).unwrap_or_default())
}

fn generated_name() -> String {
    let now = chrono::Utc::now();
    format!("evaluation-{}-{:03}", now.format("%Y%m%d%H%M%S"), now.timestamp_subsec_millis())
}

impl Registry {
    /// The group's champion: the version holding the `champion` alias, else the latest
    /// Approved one.
    pub async fn champion(&self, group: &str) -> Result<Option<ModelPackageRecord>, Error> {
        let aliases = self.store().list_model_aliases(group).await?;
        if let Some((_, version)) = aliases.into_iter().find(|(alias, _)| alias == "champion") {
            return Ok(Some(self.store().get_model_package(group, version).await?));
        }
        let versions = self.store().list_model_packages(group).await?;
        Ok(versions.into_iter().filter(|v| v.status == "Approved").max_by_key(|v| v.version))
    }

    /// Starts the built-in evaluator (or the request's script) as a processing job; the
    /// report goes next to the model, under `evaluations/<job>/`.
    pub async fn start_evaluation(&self, request: StartEvaluation) -> Result<Value, Error> {
        for condition in &request.conditions {
            Condition::parse(condition)?;
        }
        let model = S3Uri::parse(&request.model_data_url).map_err(|e| invalid("ModelDataUrl", e.to_string()))?;
        if model.key.is_empty() || model.key.ends_with('/') {
            return Err(invalid("ModelDataUrl", "must name the model object (s3://bucket/.../model.tar.gz)"));
        }
        S3Uri::parse(&request.test_data_url).map_err(|e| invalid("TestDataUrl", e.to_string()))?;
        let script = match &request.script {
            Some(script) => {
                let uri = S3Uri::parse(script).map_err(|e| invalid("Script", e.to_string()))?;
                let file = uri.key.rsplit('/').next().unwrap_or_default().to_string();
                if !file.ends_with(".py") || file.len() < 4 {
                    return Err(invalid("Script", "must name a Python file (s3://bucket/.../evaluate.py)"));
                }
                Some((script.clone(), file))
            }
            None => None,
        };
        let champion = match &request.model_package_group_name {
            Some(group) => {
                self.store().get_model_group(group).await?;
                self.champion(group).await?
            }
            None => None,
        };
        let name = request.processing_job_name.clone().unwrap_or_else(generated_name);
        let output = output_uri(&model, &name);
        let mut arguments: Vec<String> = Vec::new();
        if let Some(column) = &request.label_column {
            arguments.extend(["--label-column".into(), column.clone()]);
        }
        for condition in &request.conditions {
            arguments.extend(["--condition".into(), condition.clone()]);
        }
        let input = |name: &str, uri: &str| {
            json!({"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": format!("/opt/ml/processing/{name}"),
                   "S3DataType": "S3Prefix", "S3InputMode": "File"}})
        };
        let mut inputs = vec![input("model", &request.model_data_url), input("test", &request.test_data_url)];
        if let Some(champion) = &champion {
            inputs.push(input("champion", &champion.model_data_url));
            arguments.extend(["--champion-version".into(), champion.version.to_string()]);
        }
        let mut environment = serde_json::Map::new();
        if let Some(group) = &request.model_package_group_name {
            environment.insert(GROUP_VARIABLE.into(), json!(group));
        }
        let mut application = json!({"ImageUri": format!("{EVALUATOR_IMAGE}:latest"), "ContainerArguments": arguments});
        if let Some((uri, file)) = &script {
            inputs.push(
                json!({"InputName": "code", "S3Input": {"S3Uri": uri, "LocalPath": "/opt/ml/processing/input/code",
                               "S3DataType": "S3Prefix", "S3InputMode": "File"}}),
            );
            application = json!({"ImageUri": "trainyard/python:latest",
                                 "ContainerEntrypoint": ["python3", format!("/opt/ml/processing/input/code/{file}")]});
            environment.insert(SCRIPT_VARIABLE.into(), json!(uri));
            environment.insert(CONDITIONS_VARIABLE.into(), json!(json!(request.conditions).to_string()));
            if let Some(column) = &request.label_column {
                environment.insert(LABEL_VARIABLE.into(), json!(column));
            }
            if let Some(champion) = &champion {
                environment.insert(CHAMPION_VARIABLE.into(), json!(champion.version.to_string()));
            }
        }
        let processing: CreateProcessingJob = serde_json::from_value(json!({
            "ProcessingJobName": name,
            "Environment": environment,
            "AppSpecification": application,
            "ProcessingInputs": inputs,
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "evaluation", "S3Output": {
                "S3Uri": output, "LocalPath": "/opt/ml/processing/evaluation", "S3UploadMode": "EndOfJob"}}]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "local"}},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "RoleArn": request.role_arn,
        }))
        .map_err(|e| invalid("request", e.to_string()))?;
        let created = self.jobs().create_processing(processing).await?;
        Ok(json!({
            "ProcessingJobName": name,
            "ProcessingJobArn": created["ProcessingJobArn"],
            "ReportUrl": format!("{output}{REPORT_FILE}"),
            "ChampionVersion": champion.map(|c| c.version),
        }))
    }

    /// An evaluation's status and, once it completed, its report, the champion's report
    /// and the gate decision.
    pub async fn evaluation(&self, name: &str) -> Result<Value, Error> {
        let job = self.jobs().processing_job(name).await?;
        if !is_evaluation(&job) {
            return Err(Error::Evaluation {
                job: name.into(),
                reason: "is not an evaluation (the built-in evaluator or a script)".into(),
            });
        }
        let output = job_uri(&job, "/ProcessingOutputConfig/Outputs", "OutputName", "evaluation", "/S3Output/S3Uri");
        let mut answer = json!({
            "ProcessingJobName": job.name,
            "ProcessingJobStatus": job.status,
            "ModelDataUrl": job_uri(&job, "/ProcessingInputs", "InputName", "model", "/S3Input/S3Uri"),
            "TestDataUrl": job_uri(&job, "/ProcessingInputs", "InputName", "test", "/S3Input/S3Uri"),
            "ChampionModelDataUrl": job_uri(&job, "/ProcessingInputs", "InputName", "champion", "/S3Input/S3Uri"),
            "FailureReason": job.failure_reason,
        });
        if job.status == Status::Completed.as_str() {
            if let Some(output) = output {
                let base = output.trim_end_matches('/');
                answer["ReportUrl"] = json!(format!("{base}/{REPORT_FILE}"));
                answer["Report"] = self.read_json(&format!("{base}/{REPORT_FILE}")).await?.unwrap_or(Value::Null);
                answer["ChampionReport"] =
                    self.read_json(&format!("{base}/{CHAMPION_REPORT_FILE}")).await?.unwrap_or(Value::Null);
                answer["Decision"] = if is_script(&job) {
                    script_decision(&job, &answer)?
                } else {
                    self.read_json(&format!("{base}/{DECISION_FILE}")).await?.unwrap_or(Value::Null)
                };
            }
        }
        Ok(answer)
    }

    /// A completed run of the built-in evaluator, for a registration.
    pub async fn completed_evaluation(&self, name: &str) -> Result<CompletedEvaluation, Error> {
        let answer = self.evaluation(name).await?;
        let unusable = |reason: String| Error::Evaluation { job: name.into(), reason };
        if answer["ProcessingJobStatus"] != "Completed" {
            return Err(unusable(format!(
                "is {}, not Completed{}",
                answer["ProcessingJobStatus"].as_str().unwrap_or_default(),
                answer["FailureReason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default()
            )));
        }
        let report = answer["Report"].clone();
        if report.is_null() {
            return Err(unusable("its report is missing from object storage".into()));
        }
        let decision: Option<Decision> = match &answer["Decision"] {
            Value::Null => None,
            value => Some(
                serde_json::from_value(value.clone())
                    .map_err(|e| unusable(format!("its decision is unreadable: {e}")))?,
            ),
        };
        let model_data_url = answer["ModelDataUrl"].as_str().unwrap_or_default().to_string();
        let job = self.jobs().processing_job(name).await?;
        // The decision is read back from storage: it must be the one for this job's gate.
        let asked = job_conditions(&job);
        let decided: Vec<String> =
            decision.iter().flat_map(|d| d.conditions.iter().map(|c| c.condition.trim().to_string())).collect();
        if asked != decided {
            return Err(unusable(format!(
                "its stored decision covers {decided:?}, but the job was started with the conditions {asked:?}"
            )));
        }
        let group =
            job.request.pointer(&format!("/Environment/{GROUP_VARIABLE}")).and_then(Value::as_str).map(String::from);
        Ok(CompletedEvaluation { job, model_data_url, report, decision, group })
    }

    /// A JSON object from storage; `None` when it does not exist.
    async fn read_json(&self, uri: &str) -> Result<Option<Value>, Error> {
        let uri = S3Uri::parse(uri)?;
        let (record, stream) = match self.objects().get(&uri.bucket, &uri.key, None).await {
            Ok(found) => found,
            Err(trainyard_objects::Error::Store(trainyard_store::Error::NotFound { .. })) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if record.size as usize > MAX_DOCUMENT_BYTES {
            return Err(Error::Evaluation { job: uri.to_string(), reason: "is too large to be a report".into() });
        }
        let chunks: Vec<bytes::Bytes> = stream.try_collect().await?;
        let bytes = chunks.concat();
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Evaluation { job: uri.to_string(), reason: format!("is not JSON: {e}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_go_next_to_the_model() {
        let uri = |s| S3Uri::parse(s).unwrap();
        assert_eq!(
            output_uri(&uri("s3://bkt/out/job/output/model.tar.gz"), "e1"),
            "s3://bkt/out/job/output/evaluations/e1/"
        );
        assert_eq!(output_uri(&uri("s3://bkt/model.tar.gz"), "e1"), "s3://bkt/evaluations/e1/");
        assert!(generated_name().len() <= 63);
    }
}
