//! The SageMaker model-quality report: metric values with bootstrap standard deviations,
//! computed as `sklearn.metrics` computes them (zero division gives 0, log-loss clips to
//! machine epsilon, AUC from average ranks).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::bootstrap::{resamples, standard_deviation};

/// One metric of the report.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub value: f64,
    pub standard_deviation: f64,
}

/// A model-quality report in SageMaker's layout: one of `binary_classification_metrics`,
/// `multiclass_classification_metrics`, `regression_metrics`, each metric
/// `{"value", "standard_deviation"}`, plus a `confusion_matrix` (actual → predicted → count)
/// for classifiers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Report(pub Value);

const SECTIONS: [&str; 3] =
    ["binary_classification_metrics", "multiclass_classification_metrics", "regression_metrics"];

impl Report {
    /// The section holding the metrics.
    fn section(&self) -> Option<&Map<String, Value>> {
        SECTIONS.iter().find_map(|s| self.0.get(*s)).and_then(Value::as_object)
    }

    /// A metric's value by its report name (`auc`, `accuracy`, `rmse`, `weighted_f1`, ...).
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.section()?.get(name)?.get("value")?.as_f64()
    }

    /// The names of the metrics with a value.
    pub fn metric_names(&self) -> Vec<String> {
        self.section()
            .map(|s| s.iter().filter(|(_, v)| v.get("value").is_some()).map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    }
}

/// A metric over a subset of rows (given as indices).
type RowMetric<'a> = Box<dyn Fn(&[usize]) -> f64 + 'a>;

/// Values on all rows and bootstrap standard deviations.
fn measure(n: usize, metrics: Vec<(&'static str, RowMetric<'_>)>) -> Map<String, Value> {
    let all: Vec<usize> = (0..n).collect();
    let samples = resamples(n);
    metrics
        .into_iter()
        .map(|(name, f)| {
            let value = f(&all);
            let spread: Vec<f64> = samples.iter().map(|rows| f(rows)).collect();
            let metric = Metric { value, standard_deviation: standard_deviation(&spread) };
            (name.to_string(), json!(metric))
        })
        .collect()
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        0.0
    } else {
        numerator / denominator
    }
}

fn f_score(precision: f64, recall: f64) -> f64 {
    ratio(2.0 * precision * recall, precision + recall)
}

/// Counts of (actual, predicted) class pairs.
fn confusion(actual: &[usize], predicted: &[usize], rows: &[usize], classes: usize) -> Vec<Vec<f64>> {
    let mut m = vec![vec![0.0; classes]; classes];
    for &i in rows {
        m[actual[i]][predicted[i]] += 1.0;
    }
    m
}

fn confusion_json(actual: &[usize], predicted: &[usize], names: &[String]) -> Value {
    let all: Vec<usize> = (0..actual.len()).collect();
    let m = confusion(actual, predicted, &all, names.len());
    let mut out = BTreeMap::new();
    for (a, row) in m.iter().enumerate() {
        let inner: BTreeMap<&str, u64> = row.iter().enumerate().map(|(p, &c)| (names[p].as_str(), c as u64)).collect();
        out.insert(names[a].as_str(), inner);
    }
    json!(out)
}

/// ROC AUC over the rows `rows`: the built-in algorithms' Mann–Whitney statistic (tied
/// scores share their average rank; NaN with one class only).
pub fn auc(actual_positive: &[bool], score: &[f64], rows: &[usize]) -> f64 {
    let y: Vec<u32> = rows.iter().map(|&i| u32::from(actual_positive[i])).collect();
    let p: Vec<f64> = rows.iter().map(|&i| score[i]).collect();
    trainyard_algorithms::auc(&y, &p)
}

/// Mean negative log-likelihood of the actual class, probabilities renormalised per row and
/// clipped to `[ε, 1-ε]`.
fn log_loss(actual: &[usize], probabilities: &[f64], classes: usize, rows: &[usize]) -> f64 {
    let eps = f64::EPSILON;
    let total: f64 = rows
        .iter()
        .map(|&i| {
            let row = &probabilities[i * classes..(i + 1) * classes];
            let clipped: Vec<f64> = row.iter().map(|p| p.clamp(eps, 1.0 - eps)).collect();
            let sum: f64 = clipped.iter().sum();
            -(clipped[actual[i]] / sum).ln()
        })
        .sum();
    total / rows.len().max(1) as f64
}

/// A binary classifier's report; class 1 (`names[1]`) is the positive class.
/// `probabilities` holds two values per row (negative, positive).
pub fn binary(actual: &[usize], predicted: &[usize], probabilities: Option<&[f64]>, names: &[String; 2]) -> Report {
    let n = actual.len();
    let counts = move |rows: &[usize]| {
        let m = confusion(actual, predicted, rows, 2);
        (m[1][1], m[0][1], m[1][0], m[0][0]) // tp, fp, fn, tn
    };
    let mut metrics: Vec<(&'static str, RowMetric<'_>)> = vec![
        (
            "accuracy",
            Box::new(move |r: &[usize]| {
                let (tp, _, _, tn) = counts(r);
                ratio(tp + tn, r.len() as f64)
            }),
        ),
        (
            "precision",
            Box::new(move |r: &[usize]| {
                let (tp, fp, _, _) = counts(r);
                ratio(tp, tp + fp)
            }),
        ),
        (
            "recall",
            Box::new(move |r: &[usize]| {
                let (tp, _, fn_, _) = counts(r);
                ratio(tp, tp + fn_)
            }),
        ),
        (
            "f1",
            Box::new(move |r: &[usize]| {
                let (tp, fp, fn_, _) = counts(r);
                f_score(ratio(tp, tp + fp), ratio(tp, tp + fn_))
            }),
        ),
        (
            "true_positive_rate",
            Box::new(move |r: &[usize]| {
                let (tp, _, fn_, _) = counts(r);
                ratio(tp, tp + fn_)
            }),
        ),
        (
            "true_negative_rate",
            Box::new(move |r: &[usize]| {
                let (_, fp, _, tn) = counts(r);
                ratio(tn, tn + fp)
            }),
        ),
        (
            "false_positive_rate",
            Box::new(move |r: &[usize]| {
                let (_, fp, _, tn) = counts(r);
                ratio(fp, fp + tn)
            }),
        ),
        (
            "false_negative_rate",
            Box::new(move |r: &[usize]| {
                let (tp, _, fn_, _) = counts(r);
                ratio(fn_, fn_ + tp)
            }),
        ),
    ];
    if let Some(p) = probabilities {
        let positive: Vec<bool> = actual.iter().map(|&a| a == 1).collect();
        let score: Vec<f64> = (0..n).map(|i| p[i * 2 + 1]).collect();
        metrics.push(("auc", Box::new(move |r: &[usize]| auc(&positive, &score, r))));
        metrics.push(("logloss", Box::new(move |r: &[usize]| log_loss(actual, p, 2, r))));
    }
    let mut section = measure(n, metrics);
    section.insert("confusion_matrix".into(), confusion_json(actual, predicted, names));
    Report(json!({ "binary_classification_metrics": section }))
}

/// A multi-class classifier's report. `probabilities` holds `names.len()` values per row.
pub fn multiclass(actual: &[usize], predicted: &[usize], probabilities: Option<&[f64]>, names: &[String]) -> Report {
    let n = actual.len();
    let k = names.len();
    // Per-class precision, recall and F1 weighted by each class's support.
    let weighted = move |rows: &[usize], which: usize| {
        let m = confusion(actual, predicted, rows, k);
        let mut total = 0.0;
        for (c, row) in m.iter().enumerate() {
            let support: f64 = row.iter().sum();
            let predicted_c: f64 = m.iter().map(|actual_row| actual_row[c]).sum();
            let (precision, recall) = (ratio(row[c], predicted_c), ratio(row[c], support));
            let value = match which {
                0 => precision,
                1 => recall,
                _ => f_score(precision, recall),
            };
            total += value * support;
        }
        ratio(total, rows.len() as f64)
    };
    let mut metrics: Vec<(&'static str, RowMetric<'_>)> = vec![
        (
            "accuracy",
            Box::new(move |r: &[usize]| {
                ratio(r.iter().filter(|&&i| actual[i] == predicted[i]).count() as f64, r.len() as f64)
            }),
        ),
        ("weighted_precision", Box::new(move |r: &[usize]| weighted(r, 0))),
        ("weighted_recall", Box::new(move |r: &[usize]| weighted(r, 1))),
        ("weighted_f1", Box::new(move |r: &[usize]| weighted(r, 2))),
    ];
    if let Some(p) = probabilities {
        metrics.push(("logloss", Box::new(move |r: &[usize]| log_loss(actual, p, k, r))));
    }
    let mut section = measure(n, metrics);
    section.insert("confusion_matrix".into(), confusion_json(actual, predicted, names));
    Report(json!({ "multiclass_classification_metrics": section }))
}

/// A regressor's report.
pub fn regression(actual: &[f64], predicted: &[f64]) -> Report {
    let n = actual.len();
    let mse = move |r: &[usize]| ratio(r.iter().map(|&i| (actual[i] - predicted[i]).powi(2)).sum(), r.len() as f64);
    let metrics: Vec<(&'static str, RowMetric<'_>)> = vec![
        ("mse", Box::new(mse)),
        ("rmse", Box::new(move |r: &[usize]| mse(r).sqrt())),
        (
            "mae",
            Box::new(move |r: &[usize]| {
                ratio(r.iter().map(|&i| (actual[i] - predicted[i]).abs()).sum(), r.len() as f64)
            }),
        ),
        (
            "r2",
            Box::new(move |r: &[usize]| {
                let mean = ratio(r.iter().map(|&i| actual[i]).sum(), r.len() as f64);
                let residual: f64 = r.iter().map(|&i| (actual[i] - predicted[i]).powi(2)).sum();
                let total: f64 = r.iter().map(|&i| (actual[i] - mean).powi(2)).sum();
                // scikit-learn's force_finite: a constant target scores 1 if predicted exactly, else 0.
                match (total == 0.0, residual == 0.0) {
                    (true, true) => 1.0,
                    (true, false) => 0.0,
                    _ => 1.0 - residual / total,
                }
            }),
        ),
    ];
    Report(json!({ "regression_metrics": measure(n, metrics) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> [String; 2] {
        ["0".to_string(), "1".to_string()]
    }

    #[test]
    fn binary_counts_and_rates() {
        let actual = [1, 1, 0, 0, 1];
        let predicted = [1, 0, 0, 1, 1];
        let p = [0.2, 0.8, 0.6, 0.4, 0.9, 0.1, 0.3, 0.7, 0.1, 0.9];
        let r = binary(&actual, &predicted, Some(&p), &names());
        assert_eq!(r.metric("accuracy"), Some(0.6));
        assert_eq!(r.metric("precision"), Some(2.0 / 3.0));
        assert_eq!(r.metric("recall"), Some(2.0 / 3.0));
        assert_eq!(r.metric("false_positive_rate"), Some(0.5));
        assert_eq!(r.0["binary_classification_metrics"]["confusion_matrix"]["1"]["0"], 1);
        // Positives score 0.8, 0.4, 0.9; negatives 0.1, 0.7: 5 of 6 pairs ordered.
        assert!((r.metric("auc").unwrap() - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn auc_averages_tied_ranks() {
        let positive = [true, false, true, false];
        let score = [0.5, 0.5, 0.9, 0.1];
        assert_eq!(auc(&positive, &score, &[0, 1, 2, 3]), 0.875);
        assert!(auc(&[true, true], &[0.1, 0.2], &[0, 1]).is_nan());
    }

    #[test]
    fn regression_metrics() {
        let r = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0, 5.0]);
        assert!((r.metric("mse").unwrap() - 4.0 / 3.0).abs() < 1e-12);
        assert!((r.metric("mae").unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.metric("r2").unwrap() - (1.0 - 4.0 / 2.0)).abs() < 1e-12);
        assert!(r.metric("rmse").unwrap() > 0.0);
        assert_eq!(regression(&[2.0, 2.0], &[2.0, 2.0]).metric("r2"), Some(1.0));
    }

    #[test]
    fn zero_division_gives_zero() {
        let r = binary(&[0, 0], &[0, 0], None, &names());
        assert_eq!(r.metric("precision"), Some(0.0));
        assert_eq!(r.metric("f1"), Some(0.0));
        assert_eq!(r.metric("auc"), None);
    }
}
