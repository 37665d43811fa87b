//! A trained model of either algorithm, its predictions and its `model.json` description.

use serde_json::{json, Map, Value};

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::gbdt::GbdtModel;
use crate::linear::LinearModel;
use crate::onnx;
use crate::task::{Predictions, Task};

/// A trained model.
#[derive(Clone, Debug, PartialEq)]
pub enum Model {
    Gbdt(GbdtModel),
    Linear(LinearModel),
}

impl Model {
    pub fn task(&self) -> &Task {
        match self {
            Model::Gbdt(m) => &m.task,
            Model::Linear(m) => &m.task,
        }
    }

    pub fn n_features(&self) -> usize {
        match self {
            Model::Gbdt(m) => m.n_features,
            Model::Linear(m) => m.n_features,
        }
    }

    /// The algorithm name (`gbdt` or `linear-learner`).
    pub fn algorithm(&self) -> &'static str {
        match self {
            Model::Gbdt(_) => "gbdt",
            Model::Linear(_) => "linear-learner",
        }
    }

    /// The `producer` of `model.json` and of the ONNX model.
    pub fn producer(&self) -> &'static str {
        match self {
            Model::Gbdt(_) => "trainyard-gbdt",
            Model::Linear(_) => "trainyard-linear-learner",
        }
    }

    /// Predicts rows of `x` (row-major, [`Model::n_features`] values per row).
    pub fn predict(&self, x: &[f32]) -> Result<Predictions> {
        match self {
            Model::Gbdt(m) => m.predict(x),
            Model::Linear(m) => m.predict(x),
        }
    }

    /// The `model.json` document.
    pub fn metadata(&self, feature_names: &[String], hyperparameters: &Map<String, Value>) -> Value {
        let task = self.task();
        let mut doc = json!({
            "problem_type": task.problem.as_str(),
            "input_name": onnx::INPUT_NAME,
            "feature_count": self.n_features(),
            "feature_names": feature_names,
            "output_names": onnx::output_names(task.problem),
        });
        if task.problem.is_classification() {
            doc["class_labels"] = json!(task.class_labels);
        }
        doc["producer"] = json!(self.producer());
        doc["producer_version"] = json!(env!("CARGO_PKG_VERSION"));
        doc["algorithm"] = json!(self.algorithm());
        doc["hyperparameters"] = Value::Object(hyperparameters.clone());
        doc
    }
}

/// Predicts every row of a data set.
pub fn predict(model: &Model, ds: &Dataset) -> Result<Predictions> {
    if ds.n_features != model.n_features() {
        return Err(Error::data(format!(
            "the model expects {} features, the data has {}",
            model.n_features(),
            ds.n_features
        )));
    }
    model.predict(&ds.features)
}
