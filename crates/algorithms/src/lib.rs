//! Built-in training algorithms of trainyard, in the manner of SageMaker's: `linear-learner`
//! (linear and logistic regression, binary and multi-class) and `gbdt` (histogram-based
//! gradient-boosted trees with XGBoost's hyperparameter names). They run under the
//! SageMaker training container contract ([`run_from_environment`]: hyperparameters,
//! CSV channels, model and output directories), print metric lines for the job system's
//! metric definitions ([`default_metric_definitions`]), and write `model.onnx` (standard
//! ONNX-ML, hand-encoded protobuf) plus `model.json`.
//!
//! This crate must never read outside its channel directories and hyperparameter source,
//! never write outside the model, output-data and failure-file locations, never open a
//! network connection and never spawn processes. It holds no global state: everything a
//! run needs comes in through [`ContractPaths`] and a hyperparameter map, so library
//! callers ([`train_gbdt`], [`train_linear`], [`predict`], [`to_onnx`]) need no environment.

mod contract;
mod csv;
mod dataset;
mod error;
mod gbdt;
mod hyperparameters;
mod linear;
mod metrics;
mod model;
mod onnx;
mod parallel;
mod rng;
mod task;

pub use contract::{resolve_hyperparameters, run_with, ContractPaths, RunOutcome};
pub use csv::{CsvOptions, LabelRule};
pub use dataset::Dataset;
pub use error::Error;
pub use gbdt::{train_gbdt, train_gbdt_with, GbdtModel, GbdtParams, Node, Objective, Tree};
pub use hyperparameters::Hyperparameters;
pub use linear::{train_linear, train_linear_with, LinearModel, LinearParams};
pub use metrics::{auc, compute as compute_metric, default_metric_definitions, Metric, Truth};
pub use model::{predict, Model};
pub use onnx::{output_names, to_onnx, INPUT_NAME};
pub use task::{Predictions, ProblemType, Task};

/// The built-in algorithms, by the name `trainyard algorithm <name>` takes.
pub const ALGORITHMS: &[&str] = &["linear-learner", "gbdt"];

/// Final metrics of a run as `("train:auc", value)` pairs (undefined ones left out).
pub type FinalMetrics = Vec<(String, f64)>;

/// Runs a built-in algorithm under the SageMaker training contract read from the
/// environment. On failure writes the reason to `$SM_OUTPUT_DIR/failure` (or
/// `<prefix>/output/failure`) and returns the error; the caller exits non-zero.
pub fn run_from_environment(algorithm: &str) -> Result<(), Error> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let paths = ContractPaths::resolve(&get);
    let mut stdout = std::io::stdout().lock();
    let result = resolve_hyperparameters(&get).and_then(|hps| run_with(algorithm, &paths, &hps, &mut stdout));
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            contract::write_failure(&paths.failure_file, &e.to_string());
            Err(e)
        }
    }
}
