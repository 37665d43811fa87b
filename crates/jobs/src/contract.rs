//! The SageMaker training container contract, mapped into a job's own directory:
//! `input/config/*.json`, `input/data/<channel>`, `model/`, `output/`, and the
//! `SM_*` / `TRAINING_JOB_*` environment of the training toolkit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::request::{decode_hyperparameter, hyperparameter_text, CreateTrainingJob};

/// The directories of one job.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Layout {
        Layout { root }
    }
    pub fn input(&self) -> PathBuf {
        self.root.join("input")
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("input/config")
    }
    pub fn channel(&self, name: &str) -> PathBuf {
        self.root.join("input/data").join(name)
    }
    pub fn model(&self) -> PathBuf {
        self.root.join("model")
    }
    pub fn output(&self) -> PathBuf {
        self.root.join("output")
    }
    pub fn output_data(&self) -> PathBuf {
        self.root.join("output/data")
    }
    pub fn code(&self) -> PathBuf {
        self.root.join("code")
    }
    pub fn log(&self) -> PathBuf {
        self.root.join("output.log")
    }

    /// Creates the directories (empty) and writes the three config files.
    pub fn prepare(&self, request: &CreateTrainingJob) -> std::io::Result<()> {
        if self.root.exists() {
            // A retry starts from a clean directory, but keeps the log.
            for dir in ["input", "model", "output", "code"] {
                let _ = std::fs::remove_dir_all(self.root.join(dir));
            }
        }
        for dir in [self.config(), self.model(), self.output_data(), self.code()] {
            std::fs::create_dir_all(dir)?;
        }
        for channel in &request.input_data_config {
            std::fs::create_dir_all(self.channel(&channel.channel_name))?;
        }
        let hyperparameters: BTreeMap<&str, &str> =
            request.hyper_parameters.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        write_json(&self.config().join("hyperparameters.json"), &json!(hyperparameters))?;
        let channels: Map<String, Value> = request
            .input_data_config
            .iter()
            .map(|c| {
                let mut config = json!({"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"});
                if let Some(content_type) = &c.content_type {
                    config["ContentType"] = json!(content_type);
                }
                (c.channel_name.clone(), config)
            })
            .collect();
        write_json(&self.config().join("inputdataconfig.json"), &Value::Object(channels))?;
        let instance =
            request.resource_config.as_ref().and_then(|r| r.instance_type.clone()).unwrap_or_else(|| "local".into());
        let resources = json!({"current_host": "algo-1", "hosts": ["algo-1"], "current_instance_type": instance,
            "current_group_name": "homogeneousCluster", "network_interface_name": "lo"});
        write_json(&self.config().join("resourceconfig.json"), &resources)
    }
}

fn write_json(path: &Path, value: &Value) -> std::io::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap_or_default())
}

/// The user's hyperparameters (decoded), without the toolkit's `sagemaker_*` ones.
pub fn user_hyperparameters(request: &CreateTrainingJob) -> BTreeMap<String, Value> {
    request
        .hyper_parameters
        .iter()
        .filter(|(k, _)| !k.starts_with("sagemaker_"))
        .map(|(k, v)| (k.clone(), decode_hyperparameter(v)))
        .collect()
}

/// Script-mode arguments: `--name value` for each user hyperparameter, as the
/// training toolkit passes them.
pub fn script_arguments(request: &CreateTrainingJob) -> Vec<String> {
    request
        .hyper_parameters
        .iter()
        .filter(|(k, _)| !k.starts_with("sagemaker_"))
        .flat_map(|(k, v)| [format!("--{k}"), hyperparameter_text(v)])
        .collect()
}

/// The environment of the training process.
pub fn environment(layout: &Layout, request: &CreateTrainingJob, arn: &str, cpus: usize) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let path = |p: PathBuf| p.display().to_string();
    let channels: Vec<&str> = request.input_data_config.iter().map(|c| c.channel_name.as_str()).collect();
    let hyperparameters = user_hyperparameters(request);
    env.insert("SM_MODEL_DIR".into(), path(layout.model()));
    env.insert("SM_CHANNELS".into(), json!(channels).to_string());
    for channel in &channels {
        env.insert(
            format!("SM_CHANNEL_{}", channel.to_uppercase().replace(['-', '.'], "_")),
            path(layout.channel(channel)),
        );
    }
    env.insert("SM_HPS".into(), json!(hyperparameters).to_string());
    for (name, value) in &hyperparameters {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        env.insert(format!("SM_HP_{}", name.to_uppercase().replace(['-', '.'], "_")), text);
    }
    env.insert("SM_OUTPUT_DATA_DIR".into(), path(layout.output_data()));
    env.insert("SM_OUTPUT_DIR".into(), path(layout.output()));
    env.insert("SM_INPUT_DIR".into(), path(layout.input()));
    env.insert("SM_INPUT_CONFIG_DIR".into(), path(layout.config()));
    env.insert("SM_MODULE_DIR".into(), path(layout.code()));
    env.insert("SM_CURRENT_HOST".into(), "algo-1".into());
    env.insert("SM_HOSTS".into(), "[\"algo-1\"]".into());
    env.insert("SM_NUM_CPUS".into(), cpus.to_string());
    env.insert("SM_NUM_GPUS".into(), "0".into());
    env.insert("SM_TRAINING_ROOT".into(), path(layout.root.clone()));
    env.insert("SM_USER_ARGS".into(), json!(script_arguments(request)).to_string());
    env.insert("TRAINING_JOB_NAME".into(), request.training_job_name.clone());
    env.insert("TRAINING_JOB_ARN".into(), arn.into());
    // Invariant: the user's Environment comes last and may override nothing of the
    // contract's paths by accident only if it names them on purpose.
    for (k, v) in &request.environment {
        env.insert(k.clone(), v.clone());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CreateTrainingJob {
        serde_json::from_value(json!({
            "TrainingJobName": "j",
            "AlgorithmSpecification": {"TrainingImage": "x", "TrainingInputMode": "File"},
            "HyperParameters": {"epochs": "10", "sagemaker_program": "\"train.py\"", "learning-rate": "\"0.1\""},
            "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/train/"}}}],
            "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
            "Environment": {"EXTRA": "1"}
        }))
        .unwrap()
    }

    #[test]
    fn the_toolkit_environment() {
        let layout = Layout::new(PathBuf::from("/jobs/j"));
        let env = environment(&layout, &request(), "arn:j", 2);
        assert_eq!(env["SM_MODEL_DIR"], "/jobs/j/model");
        assert_eq!(env["SM_CHANNEL_TRAIN"], "/jobs/j/input/data/train");
        assert_eq!(env["SM_CHANNELS"], "[\"train\"]");
        assert_eq!(env["SM_HP_EPOCHS"], "10");
        assert_eq!(env["SM_HP_LEARNING_RATE"], "0.1");
        let hps: Value = serde_json::from_str(&env["SM_HPS"]).unwrap();
        assert_eq!(hps, json!({"epochs": 10, "learning-rate": "0.1"}));
        assert_eq!(env["TRAINING_JOB_ARN"], "arn:j");
        assert_eq!(env["EXTRA"], "1");
        assert_eq!(script_arguments(&request()), ["--epochs", "10", "--learning-rate", "0.1"]);
    }

    #[test]
    fn config_files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("j"));
        layout.prepare(&request()).unwrap();
        let hps: Value =
            serde_json::from_slice(&std::fs::read(layout.config().join("hyperparameters.json")).unwrap()).unwrap();
        assert_eq!(hps["epochs"], "10", "hyperparameters.json keeps string values");
        assert!(layout.channel("train").is_dir() && layout.model().is_dir() && layout.output_data().is_dir());
        let channels: Value =
            serde_json::from_slice(&std::fs::read(layout.config().join("inputdataconfig.json")).unwrap()).unwrap();
        assert_eq!(channels["train"]["TrainingInputMode"], "File");
    }
}
