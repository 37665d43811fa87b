//! The built-in evaluator: the model artifact through the serving runtime over a test
//! channel (CSV as for the built-in algorithms: label first, no header; or a header with a
//! named label column), then the report.

use std::path::Path;

use trainyard_algorithms::{CsvOptions, Dataset, LabelRule};
use trainyard_runtime::{Label, Model, Predictions, Task};

use crate::error::Error;
use crate::metrics::{self, Report};

/// What to evaluate.
pub struct EvaluationInput<'a> {
    /// `model.onnx`, a directory holding it, or a `model.tar.gz`.
    pub model: &'a Path,
    /// The test channel: a directory of CSV files.
    pub test: &'a Path,
    pub csv: CsvOptions,
}

fn mismatch(reason: impl Into<String>) -> Error {
    Error::Mismatch { reason: reason.into() }
}

/// The class index of a numeric label from the test data.
fn class_of(value: f64, classes: &[Label]) -> Option<usize> {
    classes.iter().position(|c| match c {
        Label::Int(i) => value.fract() == 0.0 && *i as f64 == value,
        Label::Str(s) => s.parse::<f64>().is_ok_and(|v| v == value),
    })
}

/// Evaluates `input.model` on `input.test` and returns the model-quality report.
pub fn evaluate(input: &EvaluationInput<'_>) -> Result<Report, Error> {
    let model = Model::load(input.model)?;
    if !input.test.is_dir() {
        return Err(mismatch(format!("the test channel {} is not a directory of CSV files", input.test.display())));
    }
    let data = Dataset::load_channel("test", input.test, &input.csv, &LabelRule::Any)?;
    if data.n_features != model.n_features() {
        return Err(mismatch(format!(
            "the model expects {} features, the test data has {}",
            model.n_features(),
            data.n_features
        )));
    }
    let predictions = model.predict(&data.features, data.n_rows)?;
    report(model.task(), &data.labels, predictions)
}

/// The report for predictions of a model with `task` against the `actual` labels.
pub fn report(task: &Task, actual: &[f64], predictions: Predictions) -> Result<Report, Error> {
    match (task, predictions) {
        (Task::Classification { classes, .. }, Predictions::Classification { labels, probabilities, .. }) => {
            let truth = actual
                .iter()
                .enumerate()
                .map(|(row, &v)| {
                    class_of(v, classes).ok_or_else(|| {
                        mismatch(format!("row {}: label {v} is not one of the model's classes", row + 1))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let predicted: Vec<usize> = labels
                .iter()
                .map(|l| {
                    classes
                        .iter()
                        .position(|c| c == l)
                        .ok_or_else(|| mismatch(format!("the model predicted {l}, not one of its classes")))
                })
                .collect::<Result<_, _>>()?;
            let probabilities: Option<Vec<f64>> = probabilities.map(|p| p.iter().map(|&v| v as f64).collect());
            let names: Vec<String> = classes.iter().map(Label::to_string).collect();
            Ok(match <[String; 2]>::try_from(names.clone()) {
                Ok(two) => metrics::binary(&truth, &predicted, probabilities.as_deref(), &two),
                Err(_) => metrics::multiclass(&truth, &predicted, probabilities.as_deref(), &names),
            })
        }
        (Task::Regression { .. }, Predictions::Regression { values, targets: 1 }) => {
            let predicted: Vec<f64> = values.iter().map(|&v| v as f64).collect();
            Ok(metrics::regression(actual, &predicted))
        }
        (Task::Regression { .. }, Predictions::Regression { targets, .. }) => {
            Err(mismatch(format!("the model predicts {targets} targets; the test data has one label column")))
        }
        _ => Err(mismatch("the predictions do not match the model's task")),
    }
}
