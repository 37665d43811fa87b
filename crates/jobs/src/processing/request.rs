//! `CreateProcessingJob`'s request, in SageMaker's shape, and its validation.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trainyard_objects::S3Uri;

use crate::Error;

/// The image of the built-in model evaluator (any tag).
pub const EVALUATOR_IMAGE: &str = "trainyard/evaluator";

/// Where SageMaker mounts a processing container's inputs and outputs.
pub const PROCESSING_ROOT: &str = "/opt/ml/processing";

pub const MAX_RUNTIME_LIMIT: u64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateProcessingJob {
    pub processing_job_name: String,
    pub app_specification: AppSpecification,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processing_inputs: Vec<ProcessingInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_output_config: Option<ProcessingOutputConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_resources: Option<ProcessingResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping_condition: Option<StoppingCondition>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Accepted as boto3 sends them; recorded, not acted on by the local executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AppSpecification {
    pub image_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_arguments: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProcessingInput {
    pub input_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_managed: Option<bool>,
    #[serde(rename = "S3Input", default, skip_serializing_if = "Option::is_none")]
    pub s3_input: Option<S3Input>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_definition: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Input {
    #[serde(rename = "S3Uri")]
    pub s3_uri: String,
    #[serde(rename = "LocalPath", default, skip_serializing_if = "Option::is_none")]
    pub local_path: Option<String>,
    #[serde(rename = "S3DataType", default = "prefix_type")]
    pub s3_data_type: String,
    #[serde(rename = "S3InputMode", default = "file_mode")]
    pub s3_input_mode: String,
    #[serde(rename = "S3DataDistributionType", default, skip_serializing_if = "Option::is_none")]
    pub s3_data_distribution_type: Option<String>,
    #[serde(rename = "S3CompressionType", default, skip_serializing_if = "Option::is_none")]
    pub s3_compression_type: Option<String>,
}

fn prefix_type() -> String {
    "S3Prefix".into()
}

fn file_mode() -> String {
    "File".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProcessingOutputConfig {
    pub outputs: Vec<ProcessingOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProcessingOutput {
    pub output_name: String,
    #[serde(rename = "S3Output", default, skip_serializing_if = "Option::is_none")]
    pub s3_output: Option<S3Output>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_store_output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_managed: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Output {
    #[serde(rename = "S3Uri")]
    pub s3_uri: String,
    #[serde(rename = "LocalPath")]
    pub local_path: String,
    #[serde(rename = "S3UploadMode", default = "end_of_job")]
    pub s3_upload_mode: String,
}

fn end_of_job() -> String {
    "EndOfJob".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProcessingResources {
    pub cluster_config: ClusterConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ClusterConfig {
    #[serde(default = "one")]
    pub instance_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(rename = "VolumeSizeInGB", default, skip_serializing_if = "Option::is_none")]
    pub volume_size_in_gb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_kms_key_id: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StoppingCondition {
    pub max_runtime_in_seconds: u64,
}

/// What a processing job runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Program {
    /// The built-in evaluator (`trainyard evaluator`), with the request's arguments.
    Evaluator,
    /// `ContainerEntrypoint` run on the host: an interpreter (`python`, `python3`, `bash`,
    /// `sh`) or a program delivered by one of the inputs.
    Entrypoint,
}

const INTERPRETERS: [&str; 4] = ["python", "python3", "bash", "sh"];

/// Checks a `LocalPath`: under `/opt/ml/processing/`, no `..`, no empty segment.
fn check_local_path(what: &str, path: &str, problems: &mut Vec<String>) {
    let inside = path
        .strip_prefix(PROCESSING_ROOT)
        .and_then(|rest| rest.strip_prefix('/'))
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|rest| !rest.is_empty() && rest.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
    if inside.is_none() {
        problems.push(format!("{what} LocalPath {path:?} must be a path under {PROCESSING_ROOT}/ without `..`"));
    }
}

impl CreateProcessingJob {
    /// Checks the request as SageMaker does, and what the local executor can run;
    /// every problem is reported.
    pub fn validate(&self) -> Result<Program, Error> {
        let mut problems = Vec::new();
        if let Err(e) = trainyard_events::validate_name("processing job", &self.processing_job_name) {
            problems.push(e);
        }
        if self.processing_inputs.len() > 10 {
            problems.push("at most 10 ProcessingInputs".into());
        }
        let mut names = BTreeSet::new();
        let mut paths = BTreeSet::new();
        for input in &self.processing_inputs {
            let name = &input.input_name;
            if !names.insert(name.clone()) {
                problems.push(format!("InputName {name:?} appears twice"));
            }
            if input.dataset_definition.is_some() {
                problems.push(format!("input {name}: DatasetDefinition is not supported; use S3Input"));
            }
            let Some(s3) = &input.s3_input else {
                problems.push(format!("input {name}: S3Input is required"));
                continue;
            };
            if let Err(e) = S3Uri::parse(&s3.s3_uri) {
                problems.push(format!("input {name}: {e}"));
            }
            if s3.s3_data_type != "S3Prefix" {
                problems.push(format!("input {name}: S3DataType {:?} is not supported; use S3Prefix", s3.s3_data_type));
            }
            if s3.s3_input_mode != "File" {
                problems.push(format!("input {name}: S3InputMode {:?} is not supported; use File", s3.s3_input_mode));
            }
            if s3.s3_compression_type.as_deref().is_some_and(|c| c != "None") {
                problems.push(format!("input {name}: S3CompressionType must be None"));
            }
            let path = self.input_path(input);
            check_local_path(&format!("input {name}"), &path, &mut problems);
            if !paths.insert(path.trim_end_matches('/').to_string()) {
                problems.push(format!("input {name}: LocalPath {path:?} is used twice"));
            }
        }
        let outputs = self.outputs();
        if outputs.len() > 10 {
            problems.push("at most 10 ProcessingOutputConfig.Outputs".into());
        }
        let mut output_names = BTreeSet::new();
        for output in outputs {
            let name = &output.output_name;
            if !output_names.insert(name.clone()) {
                problems.push(format!("OutputName {name:?} appears twice"));
            }
            let Some(s3) = &output.s3_output else {
                problems.push(format!("output {name}: S3Output is required (FeatureStoreOutput is not supported)"));
                continue;
            };
            if let Err(e) = S3Uri::parse(&s3.s3_uri) {
                problems.push(format!("output {name}: {e}"));
            }
            if s3.s3_upload_mode != "EndOfJob" && s3.s3_upload_mode != "Continuous" {
                problems.push(format!("output {name}: S3UploadMode must be EndOfJob or Continuous"));
            }
            check_local_path(&format!("output {name}"), &s3.local_path, &mut problems);
        }
        if let Some(resources) = &self.processing_resources {
            let instance_type = resources.cluster_config.instance_type.as_deref();
            if let Err(e) = crate::instances::Limits::of(instance_type) {
                problems.push(format!("ClusterConfig.{e}"));
            }
            if resources.cluster_config.instance_count != 1 {
                problems.push(format!(
                    "ClusterConfig.InstanceCount is {}; the local executor runs one instance",
                    resources.cluster_config.instance_count
                ));
            }
        }
        if let Some(seconds) = self.max_runtime_seconds() {
            if !(1..=MAX_RUNTIME_LIMIT).contains(&seconds) {
                problems.push(format!("MaxRuntimeInSeconds {seconds} must be 1-{MAX_RUNTIME_LIMIT}"));
            }
        }
        let program = self.program(&paths);
        match program {
            Ok(program) if problems.is_empty() => Ok(program),
            Ok(_) => Err(Error::InvalidRequest { problems }),
            Err(e) => {
                problems.push(e);
                Err(Error::InvalidRequest { problems })
            }
        }
    }

    fn program(&self, input_paths: &BTreeSet<String>) -> Result<Program, String> {
        let spec = &self.app_specification;
        let image = spec.image_uri.split([':', '@']).next().unwrap_or_default();
        if image == EVALUATOR_IMAGE {
            if spec.container_entrypoint.is_some() {
                return Err(format!("the built-in evaluator ({EVALUATOR_IMAGE}) takes ContainerArguments only"));
            }
            return Ok(Program::Evaluator);
        }
        let Some(first) = spec.container_entrypoint.as_ref().and_then(|e| e.first()) else {
            return Err(format!(
                "image {:?} needs a container executor, which this server does not have; give ContainerEntrypoint \
                 (python3 SCRIPT, or a program from a ProcessingInput) or use the built-in evaluator {EVALUATOR_IMAGE}",
                spec.image_uri
            ));
        };
        let delivered = input_paths.iter().any(|p| first.starts_with(&format!("{p}/")))
            && first.split('/').all(|segment| segment != ".." && segment != ".");
        if INTERPRETERS.contains(&first.as_str()) || delivered {
            Ok(Program::Entrypoint)
        } else {
            Err(format!(
                "ContainerEntrypoint {first:?} is inside image {:?}, which needs a container executor; start with one \
                 of {} or a program from a ProcessingInput",
                spec.image_uri,
                INTERPRETERS.join(", ")
            ))
        }
    }

    /// An input's `LocalPath` (SageMaker's default: `/opt/ml/processing/input/<name>`).
    pub fn input_path(&self, input: &ProcessingInput) -> String {
        input
            .s3_input
            .as_ref()
            .and_then(|s| s.local_path.clone())
            .unwrap_or_else(|| format!("{PROCESSING_ROOT}/input/{}", input.input_name))
    }

    pub fn outputs(&self) -> &[ProcessingOutput] {
        self.processing_output_config.as_ref().map_or(&[], |c| c.outputs.as_slice())
    }

    /// `ProcessingResources.ClusterConfig.InstanceType`, when given.
    pub fn instance_type(&self) -> Option<&str> {
        self.processing_resources.as_ref().and_then(|r| r.cluster_config.instance_type.as_deref())
    }

    pub fn max_runtime_seconds(&self) -> Option<u64> {
        self.stopping_condition.as_ref().map(|s| s.max_runtime_in_seconds)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(value: Value) -> CreateProcessingJob {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_script_processor_request_is_accepted() {
        let r = request(json!({
            "ProcessingJobName": "eval-1",
            "AppSpecification": {"ImageUri": "sklearn:1.2", "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/evaluate.py"]},
            "ProcessingInputs": [
                {"InputName": "code", "S3Input": {"S3Uri": "s3://bkt/code/evaluate.py", "LocalPath": "/opt/ml/processing/input/code", "S3DataType": "S3Prefix", "S3InputMode": "File"}},
                {"InputName": "test", "S3Input": {"S3Uri": "s3://bkt/test/", "LocalPath": "/opt/ml/processing/test"}}
            ],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "evaluation", "S3Output": {"S3Uri": "s3://bkt/eval/", "LocalPath": "/opt/ml/processing/evaluation", "S3UploadMode": "EndOfJob"}}]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}
        }));
        assert_eq!(r.validate().unwrap(), Program::Entrypoint);
        let program = request(json!({
            "ProcessingJobName": "p",
            "AppSpecification": {"ImageUri": "x", "ContainerEntrypoint": ["/opt/ml/processing/code/run.sh"]},
            "ProcessingInputs": [{"InputName": "code", "S3Input": {"S3Uri": "s3://bkt/c/", "LocalPath": "/opt/ml/processing/code"}}]
        }));
        assert_eq!(program.validate().unwrap(), Program::Entrypoint);
        let evaluator =
            request(json!({"ProcessingJobName": "e", "AppSpecification": {"ImageUri": "trainyard/evaluator:latest"}}));
        assert_eq!(evaluator.validate().unwrap(), Program::Evaluator);
    }

    #[test]
    fn every_problem_is_reported() {
        let r = request(json!({
            "ProcessingJobName": "bad name!",
            "AppSpecification": {"ImageUri": "my-image"},
            "ProcessingInputs": [
                {"InputName": "a", "S3Input": {"S3Uri": "http://x", "LocalPath": "/opt/ml/processing/../../etc"}},
                {"InputName": "a", "S3Input": {"S3Uri": "s3://bkt/k", "LocalPath": "/tmp/x", "S3InputMode": "Pipe"}}
            ],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "o", "S3Output": {"S3Uri": "s3://bkt/o", "LocalPath": "/opt/ml/processing"}}]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 2}},
            "StoppingCondition": {"MaxRuntimeInSeconds": 0}
        }));
        let Err(Error::InvalidRequest { problems }) = r.validate() else { panic!("accepted") };
        let text = problems.join("\n");
        for expected in [
            "processing job",
            "appears twice",
            "s3://",
            "without `..`",
            "S3InputMode",
            "InstanceCount",
            "MaxRuntimeInSeconds",
            "container executor",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
        }
        assert!(problems.len() >= 9, "{problems:#?}");
    }
}
