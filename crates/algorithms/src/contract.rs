//! The SageMaker training container contract: where hyperparameters, channels and output
//! directories are, and one complete run (load, train, export, report).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::csv::LabelRule;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::gbdt::{self, GbdtParams};
use crate::hyperparameters::Hyperparameters;
use crate::linear::{self, LinearParams};
use crate::model::Model;
use crate::task::Task;
use crate::{onnx, FinalMetrics, ALGORITHMS};

/// The directories of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractPaths {
    /// The `train` channel (required).
    pub train: PathBuf,
    /// The `validation` channel, if any.
    pub validation: Option<PathBuf>,
    /// Where `model.onnx` and `model.json` go.
    pub model_dir: PathBuf,
    /// Where `metrics.json` goes.
    pub output_data_dir: PathBuf,
    /// Where a failure reason is written.
    pub failure_file: PathBuf,
}

impl ContractPaths {
    /// Resolves the paths from variables (`get` reads one; empty counts as unset):
    /// `SM_CHANNEL_TRAIN`, `SM_CHANNEL_VALIDATION`, `SM_MODEL_DIR`, `SM_OUTPUT_DATA_DIR`,
    /// `SM_OUTPUT_DIR`, falling back to the `/opt/ml` layout under `SM_TRAINING_ROOT`.
    pub fn resolve(get: &dyn Fn(&str) -> Option<String>) -> Self {
        let root = PathBuf::from(get("SM_TRAINING_ROOT").unwrap_or_else(|| "/opt/ml".into()));
        let var = |name: &str, fallback: PathBuf| get(name).map(PathBuf::from).unwrap_or(fallback);
        let validation = match get("SM_CHANNEL_VALIDATION") {
            Some(dir) => Some(PathBuf::from(dir)),
            None => Some(root.join("input/data/validation")).filter(|d| d.is_dir()),
        };
        let output_dir = var("SM_OUTPUT_DIR", root.join("output"));
        ContractPaths {
            train: var("SM_CHANNEL_TRAIN", root.join("input/data/train")),
            validation,
            model_dir: var("SM_MODEL_DIR", root.join("model")),
            output_data_dir: var("SM_OUTPUT_DATA_DIR", root.join("output/data")),
            failure_file: output_dir.join("failure"),
        }
    }
}

/// Reads the hyperparameters: `SM_HPS` (a JSON object), else
/// `$SM_INPUT_CONFIG_DIR/hyperparameters.json` (or `<root>/input/config/...`); none is an empty set.
pub fn resolve_hyperparameters(get: &dyn Fn(&str) -> Option<String>) -> Result<Map<String, Value>> {
    let parse = |text: &str, origin: &str| -> Result<Map<String, Value>> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(Error::HyperparameterSource { origin: origin.into(), reason: format!("found {other}") }),
            Err(e) => Err(Error::HyperparameterSource { origin: origin.into(), reason: e.to_string() }),
        }
    };
    if let Some(text) = get("SM_HPS") {
        return parse(&text, "SM_HPS");
    }
    let dir = match get("SM_INPUT_CONFIG_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(get("SM_TRAINING_ROOT").unwrap_or_else(|| "/opt/ml".into())).join("input/config"),
    };
    let file = dir.join("hyperparameters.json");
    match std::fs::read_to_string(&file) {
        Ok(text) => parse(&text, &file.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(Error::io("cannot read", file, e)),
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub model: Model,
    /// The `model.json` document.
    pub metadata: Value,
    pub final_metrics: FinalMetrics,
    /// Seconds spent reading the channels.
    pub load_seconds: f64,
    /// Seconds spent training (binning included, CSV parsing and export excluded).
    pub train_seconds: f64,
}

/// Algorithm-specific settings read from the hyperparameters.
enum Plan {
    Gbdt(GbdtParams),
    Linear(LinearParams, Option<usize>),
}

/// One complete run with explicit paths and hyperparameters; logs to `log`.
pub fn run_with(
    algorithm: &str,
    paths: &ContractPaths,
    hyperparameters: &Map<String, Value>,
    log: &mut dyn Write,
) -> Result<RunOutcome> {
    if !ALGORITHMS.contains(&algorithm) {
        return Err(Error::UnknownAlgorithm { name: algorithm.into(), expected: ALGORITHMS.join(", ") });
    }
    let mut hp = Hyperparameters::new(hyperparameters.clone());
    let csv = hp.csv_options()?;
    let plan = if algorithm == "gbdt" {
        Plan::Gbdt(GbdtParams::from_hyperparameters(&mut hp)?)
    } else {
        let (params, feature_dim) = LinearParams::from_hyperparameters(&mut hp)?;
        Plan::Linear(params, feature_dim)
    };
    let resolved = hp.finish(algorithm)?;
    let (problem, num_classes, classes_param) = match &plan {
        Plan::Gbdt(p) => (p.objective.problem(), p.num_class, ["num_class", "objective"]),
        Plan::Linear(p, _) => (p.predictor_type, p.num_classes, ["num_classes", "predictor_type"]),
    };

    let started = Instant::now();
    let rule = if problem.is_classification() { LabelRule::Integer } else { LabelRule::Any };
    let train = Dataset::load_channel("train", &paths.train, &csv, &rule)?;
    if let Plan::Linear(_, Some(dim)) = plan {
        if dim != train.n_features {
            return Err(Error::hp(
                "feature_dim",
                format!("is {dim}, but the train channel has {} features", train.n_features),
            ));
        }
    }
    let task = Task::from_training_labels(problem, &train, num_classes, classes_param)?;
    let validation = match &paths.validation {
        None => None,
        Some(dir) => {
            let rule =
                if problem.is_classification() { LabelRule::OneOf(task.class_labels.clone()) } else { LabelRule::Any };
            let v = Dataset::load_channel("validation", dir, &csv, &rule)?;
            check_same_columns(&train, &v, dir)?;
            Some(v)
        }
    };
    let load_seconds = started.elapsed().as_secs_f64();
    let _ = writeln!(
        log,
        "#data algorithm={algorithm} train_rows={} features={} validation_rows={}",
        train.n_rows,
        train.n_features,
        validation.as_ref().map_or(0, |v| v.n_rows)
    );

    let started = Instant::now();
    let (model, final_metrics) = match plan {
        Plan::Gbdt(p) => {
            let (m, f) = gbdt::train_gbdt_with(&train, validation.as_ref(), &p, log)?;
            (Model::Gbdt(m), f)
        }
        Plan::Linear(p, _) => {
            let (m, f) = linear::train_linear_with(&train, validation.as_ref(), &p, log)?;
            (Model::Linear(m), f)
        }
    };
    let train_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let metadata = model.metadata(&train.feature_names, &resolved);
    write_file(&paths.model_dir, "model.onnx", &onnx::to_onnx(&model))?;
    write_file(&paths.model_dir, "model.json", &pretty(&metadata))?;
    let metrics: Map<String, Value> = final_metrics.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    write_file(&paths.output_data_dir, "metrics.json", &pretty(&Value::Object(metrics)))?;
    let _ = writeln!(
        log,
        "#timing load_seconds={load_seconds:.3} train_seconds={train_seconds:.3} export_seconds={:.3}",
        started.elapsed().as_secs_f64()
    );
    Ok(RunOutcome { model, metadata, final_metrics, load_seconds, train_seconds })
}

/// Validation data must have the training columns (same names with a header).
fn check_same_columns(train: &Dataset, valid: &Dataset, dir: &Path) -> Result<()> {
    if train.n_features != valid.n_features || train.feature_names != valid.feature_names {
        return Err(Error::Channel {
            channel: "validation".into(),
            dir: dir.into(),
            reason: format!(
                "columns differ from the train channel ({} features: {}, validation {}: {})",
                train.n_features,
                train.feature_names.join(","),
                valid.n_features,
                valid.feature_names.join(",")
            ),
        });
    }
    Ok(())
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(v).unwrap_or_default();
    text.push(b'\n');
    text
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| Error::io("cannot write", path, e))
}

/// Writes `reason` to the failure file (best effort: a failure to do so is only reported on stderr).
pub(crate) fn write_failure(file: &Path, reason: &str) {
    let result = file.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|_| std::fs::write(file, reason));
    if let Err(e) = result {
        eprintln!("cannot write failure reason to {}: {e}", file.display());
    }
}
