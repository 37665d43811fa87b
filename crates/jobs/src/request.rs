//! `CreateTrainingJob`'s request, in SageMaker's shape, and its validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trainyard_objects::S3Uri;

use crate::Error;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateTrainingJob {
    pub training_job_name: String,
    pub algorithm_specification: AlgorithmSpecification,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hyper_parameters: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_data_config: Vec<Channel>,
    pub output_data_config: OutputDataConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_config: Option<ResourceConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping_condition: Option<StoppingCondition>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_strategy: Option<RetryStrategy>,
    /// Accepted as boto3 sends them; recorded, not acted on by the local executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_network_isolation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_managed_spot_training: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_inter_container_traffic_encryption: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_hook_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiler_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_config: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AlgorithmSpecification {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm_name: Option<String>,
    #[serde(default = "file_mode")]
    pub training_input_mode: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_definitions: Vec<MetricDefinition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_sage_maker_metrics_time_series: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_arguments: Option<Vec<String>>,
}

fn file_mode() -> String {
    "File".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MetricDefinition {
    pub name: String,
    pub regex: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Channel {
    pub channel_name: String,
    pub data_source: DataSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_wrapper_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DataSource {
    #[serde(rename = "S3DataSource")]
    pub s3_data_source: S3DataSource,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct S3DataSource {
    #[serde(rename = "S3DataType", default = "prefix_type")]
    pub s3_data_type: String,
    #[serde(rename = "S3Uri")]
    pub s3_uri: String,
    #[serde(rename = "S3DataDistributionType", default, skip_serializing_if = "Option::is_none")]
    pub s3_data_distribution_type: Option<String>,
}

fn prefix_type() -> String {
    "S3Prefix".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OutputDataConfig {
    #[serde(rename = "S3OutputPath")]
    pub s3_output_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ResourceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(default = "one")]
    pub instance_count: u32,
    #[serde(rename = "VolumeSizeInGB", default, skip_serializing_if = "Option::is_none")]
    pub volume_size_in_gb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive_period_in_seconds: Option<u32>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StoppingCondition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runtime_in_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_time_in_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pending_time_in_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RetryStrategy {
    pub maximum_retry_attempts: u32,
}

/// What a job runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Program {
    /// A built-in algorithm (`trainyard algorithm NAME`).
    BuiltIn { algorithm: String },
    /// SageMaker script mode: a program inside a source tarball.
    Script { program: String, submit_directory: S3Uri },
    /// A container image (needs the registry and a container executor).
    Image { uri: String },
}

/// SageMaker's Python SDK JSON-encodes hyperparameter values (`"\"train.py\""`);
/// the training toolkit decodes them. Plain strings stay as they are.
pub fn decode_hyperparameter(value: &str) -> Value {
    serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()))
}

/// A decoded value as the text a script sees on its command line.
pub fn hyperparameter_text(value: &str) -> String {
    match decode_hyperparameter(value) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

pub const MAX_RUNTIME_LIMIT: u64 = 28 * 24 * 3600;

impl CreateTrainingJob {
    /// Checks the request as SageMaker does; every problem is reported.
    pub fn validate(&self, built_ins: &[&str]) -> Result<Program, Error> {
        let mut problems = Vec::new();
        if let Err(e) = trainyard_events::validate_name("training job", &self.training_job_name) {
            problems.push(e);
        }
        let spec = &self.algorithm_specification;
        if spec.training_input_mode != "File" {
            problems.push(format!("TrainingInputMode {:?} is not supported; use File", spec.training_input_mode));
        }
        if spec.metric_definitions.len() > 40 {
            problems.push("at most 40 MetricDefinitions".into());
        }
        for definition in &spec.metric_definitions {
            if definition.name.is_empty() || definition.name.len() > 255 {
                problems.push(format!("MetricDefinitions name {:?} must be 1-255 characters", definition.name));
            }
            match regex::Regex::new(&definition.regex) {
                Ok(r) if r.captures_len() >= 2 => {}
                Ok(_) => problems.push(format!("MetricDefinitions regex {:?} needs a capture group", definition.regex)),
                Err(e) => problems.push(format!("MetricDefinitions regex {:?}: {e}", definition.regex)),
            }
        }
        if self.hyper_parameters.len() > 100 {
            problems.push("at most 100 HyperParameters".into());
        }
        for (key, value) in &self.hyper_parameters {
            if key.is_empty() || key.len() > 256 || value.len() > 2500 {
                problems.push(format!("HyperParameters {key:?}: keys are 1-256 and values at most 2500 characters"));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for channel in &self.input_data_config {
            let name = &channel.channel_name;
            let valid = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !valid {
                problems.push(format!("ChannelName {name:?} must be 1-64 of [A-Za-z0-9._-]"));
            }
            if !names.insert(name.clone()) {
                problems.push(format!("ChannelName {name:?} appears twice"));
            }
            let source = &channel.data_source.s3_data_source;
            if source.s3_data_type != "S3Prefix" {
                problems.push(format!(
                    "channel {name}: S3DataType {:?} is not supported; use S3Prefix",
                    source.s3_data_type
                ));
            }
            if let Err(e) = S3Uri::parse(&source.s3_uri) {
                problems.push(format!("channel {name}: {e}"));
            }
            if channel.compression_type.as_deref().is_some_and(|c| c != "None") {
                problems.push(format!("channel {name}: CompressionType must be None"));
            }
        }
        if let Err(e) = S3Uri::parse(&self.output_data_config.s3_output_path) {
            problems.push(format!("OutputDataConfig.S3OutputPath: {e}"));
        }
        if let Err(e) = crate::instances::Limits::of(self.instance_type()) {
            problems.push(format!("ResourceConfig.{e}"));
        }
        if let Some(resources) = &self.resource_config {
            if resources.instance_count != 1 {
                problems.push(format!(
                    "ResourceConfig.InstanceCount is {}; the local executor runs one instance",
                    resources.instance_count
                ));
            }
        }
        if let Some(seconds) = self.max_runtime_seconds() {
            if !(1..=MAX_RUNTIME_LIMIT).contains(&seconds) {
                problems.push(format!("MaxRuntimeInSeconds {seconds} must be 1-{MAX_RUNTIME_LIMIT}"));
            }
        }
        if let Some(retry) = &self.retry_strategy {
            if !(1..=30).contains(&retry.maximum_retry_attempts) {
                problems.push("RetryStrategy.MaximumRetryAttempts must be 1-30".into());
            }
        }
        let program = self.program(built_ins);
        match program {
            Ok(program) if problems.is_empty() => Ok(program),
            Ok(_) => Err(Error::InvalidRequest { problems }),
            Err(e) => {
                problems.push(e);
                Err(Error::InvalidRequest { problems })
            }
        }
    }

    /// `ResourceConfig.InstanceType`, when given.
    pub fn instance_type(&self) -> Option<&str> {
        self.resource_config.as_ref().and_then(|r| r.instance_type.as_deref())
    }

    pub fn max_runtime_seconds(&self) -> Option<u64> {
        self.stopping_condition.as_ref().and_then(|s| s.max_runtime_in_seconds)
    }

    fn program(&self, built_ins: &[&str]) -> Result<Program, String> {
        let spec = &self.algorithm_specification;
        let program = self.hyper_parameters.get("sagemaker_program").map(|v| hyperparameter_text(v));
        let submit = self.hyper_parameters.get("sagemaker_submit_directory").map(|v| hyperparameter_text(v));
        match (&spec.algorithm_name, &spec.training_image, program, submit) {
            (Some(_), Some(_), _, _) => Err("give AlgorithmName or TrainingImage, not both".into()),
            (Some(name), None, _, _) => {
                let name = name.rsplit('/').next().unwrap_or(name);
                if built_ins.contains(&name) {
                    Ok(Program::BuiltIn { algorithm: name.to_string() })
                } else {
                    Err(format!("AlgorithmName {name:?} is not a built-in algorithm (known: {})", built_ins.join(", ")))
                }
            }
            (None, _, Some(program), Some(submit)) => {
                let submit_directory = S3Uri::parse(&submit).map_err(|e| format!("sagemaker_submit_directory: {e}"))?;
                if program.is_empty() || program.contains("..") || program.starts_with('/') {
                    return Err(format!("sagemaker_program {program:?} must be a relative path inside the source"));
                }
                Ok(Program::Script { program, submit_directory })
            }
            (None, _, Some(_), None) | (None, _, None, Some(_)) => {
                Err("script mode needs both sagemaker_program and sagemaker_submit_directory hyperparameters".into())
            }
            (None, Some(image), None, None) => match crate::Framework::of_image(image) {
                None => Ok(Program::Image { uri: image.clone() }),
                Some(framework) => match framework.algorithm() {
                    Some(algorithm) if built_ins.contains(&algorithm) => {
                        Ok(Program::BuiltIn { algorithm: algorithm.to_string() })
                    }
                    Some(algorithm) => {
                        Err(format!("{image}: the built-in algorithm {algorithm} is not on this server"))
                    }
                    None => Err(format!(
                        "{image} is SageMaker's {} image, which runs your training script: give the \
                         sagemaker_program and sagemaker_submit_directory hyperparameters (the SDK's entry_point \
                         and source_dir)",
                        framework.name()
                    )),
                },
            },
            (None, None, None, None) => Err("AlgorithmSpecification needs AlgorithmName or TrainingImage".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(image: &str, hyper_parameters: Value) -> CreateTrainingJob {
        serde_json::from_value(serde_json::json!({
            "TrainingJobName": "j1",
            "RoleArn": "arn:aws:iam::000000000000:role/SageMaker",
            "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": "s3://bkt/out"},
            "HyperParameters": hyper_parameters,
        }))
        .unwrap()
    }

    #[test]
    fn sagemaker_images_run_as_script_mode_or_a_built_in_algorithm() {
        let built_ins = ["gbdt", "linear-learner"];
        let xgboost = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1";
        let program = request(xgboost, serde_json::json!({"num_round": "5"})).validate(&built_ins).unwrap();
        assert_eq!(program, Program::BuiltIn { algorithm: "gbdt".into() });
        let script = serde_json::json!({"sagemaker_program": "\"train.py\"",
                                        "sagemaker_submit_directory": "\"s3://bkt/src.tar.gz\""});
        let program = request(xgboost, script.clone()).validate(&built_ins).unwrap();
        assert!(matches!(program, Program::Script { .. }), "XGBoost with a script is script mode");
        let sklearn = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3";
        assert!(matches!(request(sklearn, script).validate(&built_ins).unwrap(), Program::Script { .. }));
        let error = request(sklearn, serde_json::json!({})).validate(&built_ins).unwrap_err().to_string();
        assert!(error.contains("scikit-learn image") && error.contains("sagemaker_program"), "{error}");
        let own = "000000000000.dkr.ecr.us-east-1.amazonaws.com/trainer:v1";
        assert_eq!(
            request(own, serde_json::json!({})).validate(&built_ins).unwrap(),
            Program::Image { uri: own.into() }
        );
    }
}
