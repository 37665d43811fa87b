//! Evaluation metrics, their log-line format and the metric definitions (name + regex)
//! that the job system applies to an algorithm's stdout.
//!
//! A metric line looks like
//! `#metric train:logloss=0.1234 validation:auc=0.9876 round=3`; the final line of a run
//! carries every metric of the problem type and ends in `final`.

use crate::task::ProblemType;

/// A metric an algorithm can report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    LogLoss,
    Accuracy,
    Auc,
    F1,
    Rmse,
    Mae,
    R2,
}

/// Every metric, in reporting order.
pub const ALL_METRICS: [Metric; 7] =
    [Metric::LogLoss, Metric::Accuracy, Metric::Auc, Metric::F1, Metric::Rmse, Metric::Mae, Metric::R2];

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::LogLoss => "logloss",
            Metric::Accuracy => "accuracy",
            Metric::Auc => "auc",
            Metric::F1 => "f1",
            Metric::Rmse => "rmse",
            Metric::Mae => "mae",
            Metric::R2 => "r2",
        }
    }

    /// Parses a metric name (XGBoost's `mlogloss`/`error` are not accepted: use `logloss`/`accuracy`).
    pub fn parse(name: &str) -> Option<Self> {
        ALL_METRICS.into_iter().find(|m| m.name() == name)
    }

    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Accuracy | Metric::Auc | Metric::F1 | Metric::R2)
    }

    /// The metrics reported for a problem type; the first is the default evaluation metric.
    pub fn for_problem(problem: ProblemType) -> &'static [Metric] {
        match problem {
            ProblemType::Regression => &[Metric::Rmse, Metric::Mae, Metric::R2],
            ProblemType::BinaryClassification => &[Metric::LogLoss, Metric::Accuracy, Metric::Auc, Metric::F1],
            ProblemType::MulticlassClassification => &[Metric::LogLoss, Metric::Accuracy],
        }
    }

    /// Whether the metric applies to a problem type.
    pub fn applies_to(self, problem: ProblemType) -> bool {
        Self::for_problem(problem).contains(&self)
    }
}

/// Ground truth: class indices for classifiers, values for regression.
#[derive(Clone, Copy, Debug)]
pub enum Truth<'a> {
    Classes(&'a [u32]),
    Values(&'a [f64]),
}

/// Computes `metric`. `outputs` has one value per row (regression value, or the positive
/// class probability for binary problems) or `k` class probabilities per row (multi-class).
/// Returns NaN where the metric is undefined (e.g. AUC with one class present).
pub fn compute(metric: Metric, truth: Truth<'_>, outputs: &[f64]) -> f64 {
    match truth {
        Truth::Values(y) => regression(metric, y, outputs),
        Truth::Classes([]) => f64::NAN,
        Truth::Classes(y) => {
            let k = outputs.len() / y.len();
            if k <= 1 {
                binary(metric, y, outputs)
            } else {
                multiclass(metric, y, outputs, k)
            }
        }
    }
}

const EPS: f64 = 1e-15;

fn binary(metric: Metric, y: &[u32], p: &[f64]) -> f64 {
    let n = y.len() as f64;
    match metric {
        Metric::LogLoss => {
            let sum: f64 =
                y.iter().zip(p).map(|(&y, &p)| -(if y == 1 { p } else { 1.0 - p }).clamp(EPS, 1.0).ln()).sum();
            sum / n
        }
        Metric::Accuracy => y.iter().zip(p).filter(|(&y, &p)| (p > 0.5) == (y == 1)).count() as f64 / n,
        Metric::Auc => auc(y, p),
        Metric::F1 => {
            let (mut tp, mut fp, mut fneg) = (0.0, 0.0, 0.0);
            for (&y, &p) in y.iter().zip(p) {
                match (p > 0.5, y == 1) {
                    (true, true) => tp += 1.0,
                    (true, false) => fp += 1.0,
                    (false, true) => fneg += 1.0,
                    (false, false) => {}
                }
            }
            if tp == 0.0 {
                0.0
            } else {
                2.0 * tp / (2.0 * tp + fp + fneg)
            }
        }
        _ => f64::NAN,
    }
}

/// Area under the ROC curve (Mann–Whitney U; tied scores share their average rank).
pub fn auc(y: &[u32], p: &[f64]) -> f64 {
    let mut order: Vec<u32> = (0..y.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| p[a as usize].total_cmp(&p[b as usize]));
    let (mut rank_sum, mut positives) = (0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && p[order[j + 1] as usize] == p[order[i] as usize] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &idx in &order[i..=j] {
            if y[idx as usize] == 1 {
                rank_sum += avg_rank;
                positives += 1.0;
            }
        }
        i = j + 1;
    }
    let negatives = y.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return f64::NAN;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

fn multiclass(metric: Metric, y: &[u32], p: &[f64], k: usize) -> f64 {
    let n = y.len() as f64;
    let rows = y.iter().zip(p.chunks(k));
    match metric {
        Metric::LogLoss => rows.map(|(&y, r)| -r[y as usize].clamp(EPS, 1.0).ln()).sum::<f64>() / n,
        Metric::Accuracy => {
            let argmax = |r: &[f64]| r.iter().enumerate().fold(0, |b, (j, &v)| if v > r[b] { j } else { b });
            rows.filter(|(&y, r)| argmax(r) == y as usize).count() as f64 / n
        }
        _ => f64::NAN,
    }
}

fn regression(metric: Metric, y: &[f64], p: &[f64]) -> f64 {
    let n = y.len() as f64;
    let pairs = y.iter().zip(p);
    match metric {
        Metric::Rmse => (pairs.map(|(y, p)| (y - p) * (y - p)).sum::<f64>() / n).sqrt(),
        Metric::Mae => pairs.map(|(y, p)| (y - p).abs()).sum::<f64>() / n,
        Metric::R2 => {
            let mean = y.iter().sum::<f64>() / n;
            let total: f64 = y.iter().map(|y| (y - mean) * (y - mean)).sum();
            let residual: f64 = pairs.map(|(y, p)| (y - p) * (y - p)).sum();
            if total == 0.0 {
                f64::NAN
            } else {
                1.0 - residual / total
            }
        }
        _ => f64::NAN,
    }
}

/// Formats `channel:name=value` pairs (undefined values are left out).
pub(crate) fn format_pairs(channel: &str, values: &[(Metric, f64)]) -> String {
    values
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(m, v)| format!("{channel}:{}={v:.6}", m.name()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Computes every metric of `problem` on each `(channel, truth, outputs)` set, prints them
/// as one `#metric ... final` line and returns the defined ones as `channel:name` pairs.
pub(crate) fn report_final(
    log: &mut dyn std::io::Write,
    problem: ProblemType,
    sets: &[(&str, Truth<'_>, Vec<f64>)],
) -> crate::FinalMetrics {
    let mut out = Vec::new();
    let mut line = Vec::new();
    for (channel, truth, outputs) in sets {
        let values: Vec<(Metric, f64)> =
            Metric::for_problem(problem).iter().map(|&m| (m, compute(m, *truth, outputs))).collect();
        line.push(format_pairs(channel, &values));
        out.extend(values.iter().filter(|(_, v)| v.is_finite()).map(|(m, v)| (format!("{channel}:{}", m.name()), *v)));
    }
    let _ = writeln!(log, "#metric {} final", line.join(" "));
    out
}

/// The metric definitions (name, regex with one capture group) for an algorithm's log
/// lines, for every metric it may print; empty for an unknown algorithm.
pub fn default_metric_definitions(algorithm: &str) -> Vec<(String, String)> {
    if !crate::ALGORITHMS.contains(&algorithm) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for channel in ["train", "validation"] {
        for metric in ALL_METRICS {
            let name = format!("{channel}:{}", metric.name());
            let regex = format!(r"\b{name}=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)");
            out.push((name, regex));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_handles_ties_and_degenerate_input() {
        assert_eq!(auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]), 0.75);
        assert_eq!(auc(&[0, 1], &[0.5, 0.5]), 0.5);
        assert!(auc(&[1, 1], &[0.1, 0.2]).is_nan());
    }

    #[test]
    fn classification_metrics() {
        let y = [0, 1, 1, 0];
        let p = [0.2, 0.9, 0.4, 0.1];
        assert_eq!(compute(Metric::Accuracy, Truth::Classes(&y), &p), 0.75);
        assert!((compute(Metric::F1, Truth::Classes(&y), &p) - 2.0 / 3.0).abs() < 1e-12);
        let ll = compute(Metric::LogLoss, Truth::Classes(&y), &p);
        let expect = -(0.8f64.ln() + 0.9f64.ln() + 0.4f64.ln() + 0.9f64.ln()) / 4.0;
        assert!((ll - expect).abs() < 1e-12);
        let probs = [0.7, 0.2, 0.1, 0.1, 0.1, 0.8];
        assert_eq!(compute(Metric::Accuracy, Truth::Classes(&[0, 1]), &probs), 0.5);
    }

    #[test]
    fn regression_metrics() {
        let y = [1.0, 2.0, 3.0];
        let p = [1.0, 2.0, 5.0];
        assert!((compute(Metric::Rmse, Truth::Values(&y), &p) - (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((compute(Metric::Mae, Truth::Values(&y), &p) - 2.0 / 3.0).abs() < 1e-12);
        assert!((compute(Metric::R2, Truth::Values(&y), &p) - (1.0 - 4.0 / 2.0)).abs() < 1e-12);
    }

    #[test]
    fn metric_definitions_match_log_lines() {
        let defs = default_metric_definitions("gbdt");
        assert_eq!(defs.len(), 14);
        assert!(default_metric_definitions("nope").is_empty());
        let (name, regex) = defs.iter().find(|(n, _)| n == "validation:auc").unwrap();
        assert_eq!(name, "validation:auc");
        assert!(regex.contains("validation:auc=("));
        let line = format_pairs("validation", &[(Metric::Auc, 0.98765), (Metric::R2, f64::NAN)]);
        assert_eq!(line, "validation:auc=0.987650");
    }
}
