//! Whose answers a variant gives. A model deployed with one of SageMaker's framework images
//! answers as that framework's container does, so client code written for SageMaker parses
//! the answer unchanged: the XGBoost container's scores (`text/csv` by default, one line per
//! row: the probability of the positive class, every class's probability, or the value),
//! the scikit-learn container's `predict` output (JSON by default). Any other model answers
//! in trainyard's own shapes (`payload::render_native`).

use serde_json::{json, Value};
use trainyard_jobs::Framework;
use trainyard_runtime::{Label, Predictions};

use crate::npy::{self, Array};
use crate::payload::Format;

/// How a variant answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Serving {
    #[default]
    Native,
    Xgboost,
    ScikitLearn,
}

impl Serving {
    /// The serving of a model's container image.
    pub fn of_image(image: Option<&str>) -> Serving {
        match image.and_then(Framework::of_image) {
            Some(Framework::Xgboost) => Serving::Xgboost,
            Some(Framework::ScikitLearn) => Serving::ScikitLearn,
            _ => Serving::Native,
        }
    }

    /// As stored in an endpoint configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Serving::Native => "trainyard",
            Serving::Xgboost => "xgboost",
            Serving::ScikitLearn => "sklearn",
        }
    }

    pub fn parse(text: Option<&str>) -> Serving {
        match text {
            Some("xgboost") => Serving::Xgboost,
            Some("sklearn") => Serving::ScikitLearn,
            _ => Serving::Native,
        }
    }

    /// The answer's format when the caller names none (`Accept` absent or `*/*`).
    pub fn default_format(self) -> Format {
        match self {
            Serving::Xgboost => Format::Csv,
            _ => Format::Json,
        }
    }
}

/// The XGBoost container's scores: per row, the positive class's probability (binary), every
/// class's probability (multiclass), or the predicted values; and how many per row.
fn scores(predictions: &Predictions) -> (Vec<f64>, usize) {
    match predictions {
        Predictions::Classification { probabilities: Some(p), classes: 2, .. } => {
            (p.chunks(2).map(|row| row[1] as f64).collect(), 1)
        }
        Predictions::Classification { probabilities: Some(p), classes, .. } => {
            (p.iter().map(|v| *v as f64).collect(), (*classes).max(1))
        }
        Predictions::Classification { labels, probabilities: None, .. } => {
            (labels.iter().map(|l| label_number(l).unwrap_or(f64::NAN)).collect(), 1)
        }
        Predictions::Regression { values, targets } => (values.iter().map(|v| *v as f64).collect(), (*targets).max(1)),
    }
}

fn label_number(label: &Label) -> Option<f64> {
    match label {
        Label::Int(i) => Some(*i as f64),
        Label::Str(s) => s.parse().ok(),
    }
}

fn csv_rows(values: &[f64], per_row: usize) -> Vec<u8> {
    values
        .chunks(per_row.max(1))
        // The model computes in f32: its shortest f32 text, as the container prints.
        .map(|row| row.iter().map(|v| (*v as f32).to_string()).collect::<Vec<_>>().join(",") + "\n")
        .collect::<String>()
        .into_bytes()
}

fn shape(count: usize, per_row: usize) -> Vec<usize> {
    if per_row <= 1 {
        vec![count]
    } else {
        vec![count / per_row, per_row]
    }
}

/// The XGBoost container's answer.
pub fn render_xgboost(predictions: &Predictions, format: Format) -> Vec<u8> {
    let (values, per_row) = scores(predictions);
    match format {
        Format::Csv => csv_rows(&values, per_row),
        Format::Json => {
            let rows: Vec<Value> = if per_row == 1 {
                values.iter().map(|v| json!({"score": v})).collect()
            } else {
                values.chunks(per_row).map(|r| json!({"score": r})).collect()
            };
            serde_json::to_vec(&json!({"predictions": rows})).unwrap_or_default()
        }
        Format::Npy => npy::write(Array::Floats(&values), &shape(values.len(), per_row)),
    }
}

/// The scikit-learn container's answer: what `predict` returns.
pub fn render_sklearn(predictions: &Predictions, format: Format) -> Vec<u8> {
    match predictions {
        Predictions::Classification { labels, .. } => {
            let ints: Option<Vec<i64>> =
                labels.iter().map(|l| if let Label::Int(i) = l { Some(*i) } else { None }).collect();
            match (format, ints) {
                (Format::Npy, Some(ints)) => npy::write(Array::Ints(&ints), &[ints.len()]),
                (Format::Npy, None) => {
                    let strings: Vec<String> = labels.iter().map(Label::to_string).collect();
                    npy::write(Array::Strings(&strings), &[strings.len()])
                }
                (Format::Csv, _) => labels.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes(),
                (Format::Json, _) => {
                    let values: Vec<Value> = labels
                        .iter()
                        .map(|l| match l {
                            Label::Int(i) => json!(i),
                            Label::Str(s) => json!(s),
                        })
                        .collect();
                    serde_json::to_vec(&values).unwrap_or_default()
                }
            }
        }
        Predictions::Regression { values, targets } => {
            let values: Vec<f64> = values.iter().map(|v| *v as f64).collect();
            let per_row = (*targets).max(1);
            match format {
                Format::Npy => npy::write(Array::Floats(&values), &shape(values.len(), per_row)),
                Format::Csv => csv_rows(&values, per_row),
                Format::Json if per_row == 1 => serde_json::to_vec(&values).unwrap_or_default(),
                Format::Json => serde_json::to_vec(&values.chunks(per_row).collect::<Vec<_>>()).unwrap_or_default(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary() -> Predictions {
        Predictions::Classification {
            labels: vec![Label::Int(1), Label::Int(0)],
            probabilities: Some(vec![0.25, 0.75, 0.5, 0.5]),
            classes: 2,
        }
    }

    #[test]
    fn xgboost_answers_scores_and_sklearn_answers_predict() {
        assert_eq!(render_xgboost(&binary(), Format::Csv), b"0.75\n0.5\n");
        assert_eq!(render_xgboost(&binary(), Format::Json), br#"{"predictions":[{"score":0.75},{"score":0.5}]}"#);
        let multi = Predictions::Classification {
            labels: vec![Label::Int(2)],
            probabilities: Some(vec![0.25, 0.25, 0.5]),
            classes: 3,
        };
        assert_eq!(render_xgboost(&multi, Format::Csv), b"0.25,0.25,0.5\n");
        let regression = Predictions::Regression { values: vec![1.5, -2.0], targets: 1 };
        assert_eq!(render_xgboost(&regression, Format::Csv), b"1.5\n-2\n");
        assert_eq!(render_sklearn(&binary(), Format::Json), b"[1,0]");
        assert_eq!(render_sklearn(&binary(), Format::Csv), b"1\n0\n");
        let answer = npy::parse(&render_sklearn(&binary(), Format::Npy)).unwrap();
        assert_eq!(answer.values, vec![1.0, 0.0]);
        assert_eq!(render_sklearn(&regression, Format::Json), b"[1.5,-2.0]");
        assert_eq!(Serving::Xgboost.default_format(), Format::Csv);
        let image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1";
        assert_eq!(Serving::of_image(Some(image)), Serving::Xgboost);
        assert_eq!(Serving::parse(Some(Serving::ScikitLearn.as_str())), Serving::ScikitLearn);
    }
}
