//! `gbdt`: histogram-based gradient-boosted trees with XGBoost's hyperparameter names.
//!
//! Features are binned into at most `max_bin` (≤ 256) quantile bins; trees grow depth-wise
//! from gradient/hessian histograms (the smaller child's histogram is built, the larger
//! one's is the parent's minus it) with XGBoost's second-order gain and leaf weights.

mod binning;
mod boost;
mod histogram;
mod partition;
#[cfg(test)]
mod tests;
mod tree;

pub use boost::{train_gbdt, train_gbdt_with};
pub use tree::{Node, Tree};

use crate::error::{Error, Result};
use crate::hyperparameters::Hyperparameters;
use crate::metrics::Metric;
use crate::task::{Predictions, ProblemType, Task};

/// Deepest trees allowed: depth-wise growth keeps a histogram per open node, so memory
/// grows as 2^depth × features × 4 KiB at worst.
pub const MAX_DEPTH: usize = 12;

/// XGBoost's learning objectives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    SquaredError,
    BinaryLogistic,
    MultiSoftprob,
}

impl Objective {
    pub fn name(self) -> &'static str {
        match self {
            Objective::SquaredError => "reg:squarederror",
            Objective::BinaryLogistic => "binary:logistic",
            Objective::MultiSoftprob => "multi:softprob",
        }
    }

    pub fn problem(self) -> ProblemType {
        match self {
            Objective::SquaredError => ProblemType::Regression,
            Objective::BinaryLogistic => ProblemType::BinaryClassification,
            Objective::MultiSoftprob => ProblemType::MulticlassClassification,
        }
    }
}

/// Hyperparameters of [`train_gbdt`] (XGBoost names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct GbdtParams {
    pub num_round: usize,
    pub max_depth: usize,
    pub eta: f64,
    pub objective: Objective,
    pub num_class: Option<usize>,
    pub subsample: f64,
    pub colsample_bytree: f64,
    pub min_child_weight: f64,
    pub lambda: f64,
    pub gamma: f64,
    pub max_bin: usize,
    pub early_stopping_rounds: Option<usize>,
    /// Metric printed per round and used for early stopping; default per objective.
    pub eval_metric: Option<Metric>,
    pub nthread: usize,
    pub seed: u64,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            num_round: 100,
            max_depth: 6,
            eta: 0.3,
            objective: Objective::SquaredError,
            num_class: None,
            subsample: 1.0,
            colsample_bytree: 1.0,
            min_child_weight: 1.0,
            lambda: 1.0,
            gamma: 0.0,
            max_bin: 256,
            early_stopping_rounds: None,
            eval_metric: None,
            nthread: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            seed: 0,
        }
    }
}

impl GbdtParams {
    /// Reads and validates the `gbdt` hyperparameters (unknown names are left for
    /// [`Hyperparameters::finish`] to reject).
    pub fn from_hyperparameters(hp: &mut Hyperparameters) -> Result<Self> {
        let d = GbdtParams::default();
        let unit = |v: f64| v > 0.0 && v <= 1.0;
        let non_negative = |v: f64| v >= 0.0;
        let objective = match hp
            .choice(
                "objective",
                &["reg:squarederror", "reg:linear", "binary:logistic", "multi:softprob"],
                Some(d.objective.name()),
            )?
            .as_str()
        {
            "binary:logistic" => Objective::BinaryLogistic,
            "multi:softprob" => Objective::MultiSoftprob,
            _ => Objective::SquaredError,
        };
        let params = GbdtParams {
            num_round: hp.usize(&["num_round"], d.num_round, 1, 100_000)?,
            max_depth: hp.usize(&["max_depth"], d.max_depth, 0, MAX_DEPTH)?,
            eta: hp.f64(&["eta", "learning_rate"], d.eta, unit, "in (0, 1]")?,
            objective,
            num_class: hp.optional_usize(&["num_class"], 2, 10_000)?,
            subsample: hp.f64(&["subsample"], d.subsample, unit, "in (0, 1]")?,
            colsample_bytree: hp.f64(&["colsample_bytree"], d.colsample_bytree, unit, "in (0, 1]")?,
            min_child_weight: hp.f64(&["min_child_weight"], d.min_child_weight, non_negative, ">= 0")?,
            lambda: hp.f64(&["lambda", "reg_lambda"], d.lambda, non_negative, ">= 0")?,
            gamma: hp.f64(&["gamma", "min_split_loss"], d.gamma, non_negative, ">= 0")?,
            max_bin: hp.usize(&["max_bin"], d.max_bin, 2, 256)?,
            early_stopping_rounds: hp.optional_usize(&["early_stopping_rounds"], 1, 100_000)?,
            eval_metric: match hp.optional_string("eval_metric")? {
                None => None,
                Some(name) => Some(parse_metric(&name, objective.problem())?),
            },
            nthread: hp.nthread()?,
            seed: hp.usize(&["seed"], 0, 0, u32::MAX as usize)? as u64,
        };
        params.validate()?;
        Ok(params)
    }

    /// Range and cross-parameter checks (also run by [`train_gbdt`] for library callers).
    pub fn validate(&self) -> Result<()> {
        let unit = |v: f64| v > 0.0 && v <= 1.0;
        let checks = [
            ("num_round", self.num_round >= 1, ">= 1"),
            ("max_depth", self.max_depth <= MAX_DEPTH, "<= 12"),
            ("eta", unit(self.eta), "in (0, 1]"),
            ("subsample", unit(self.subsample), "in (0, 1]"),
            ("colsample_bytree", unit(self.colsample_bytree), "in (0, 1]"),
            ("min_child_weight", self.min_child_weight >= 0.0, ">= 0"),
            ("lambda", self.lambda >= 0.0, ">= 0"),
            ("gamma", self.gamma >= 0.0, ">= 0"),
            ("max_bin", (2..=256).contains(&self.max_bin), "in [2, 256]"),
        ];
        if let Some((name, _, expect)) = checks.iter().find(|(_, ok, _)| !ok) {
            return Err(Error::hp(name, format!("must be {expect}")));
        }
        match (self.objective, self.num_class) {
            (Objective::MultiSoftprob, None) => Err(Error::hp("num_class", "is required for multi:softprob")),
            (Objective::MultiSoftprob, Some(_)) | (_, None) => Ok(()),
            (o, Some(_)) => Err(Error::hp("num_class", format!("is only valid with multi:softprob, not {}", o.name()))),
        }?;
        if let Some(m) = self.eval_metric {
            parse_metric(m.name(), self.objective.problem())?;
        }
        if self.lambda == 0.0 && self.min_child_weight == 0.0 {
            return Err(Error::hp("min_child_weight", "must be > 0 when lambda is 0 (leaf weights would divide by 0)"));
        }
        Ok(())
    }

    /// The metric printed per round (and used for early stopping).
    pub fn eval_metric_or_default(&self) -> Metric {
        self.eval_metric.unwrap_or(Metric::for_problem(self.objective.problem())[0])
    }
}

fn parse_metric(name: &str, problem: ProblemType) -> Result<Metric> {
    let names: Vec<&str> = Metric::for_problem(problem).iter().map(|m| m.name()).collect();
    Metric::parse(name)
        .filter(|m| m.applies_to(problem))
        .ok_or_else(|| Error::hp("eval_metric", format!("`{name}` is not one of: {}", names.join(", "))))
}

/// A trained boosted-tree model. Tree `t` adds to output `t % width` (one per class for multi-class).
#[derive(Clone, Debug, PartialEq)]
pub struct GbdtModel {
    pub task: Task,
    pub n_features: usize,
    /// Initial raw score per output.
    pub base_scores: Vec<f32>,
    pub trees: Vec<Tree>,
    /// Boosting rounds kept (after early stopping, the best round's count).
    pub rounds: usize,
}

impl GbdtModel {
    /// Number of outputs (1, or the class count for multi-class).
    pub fn width(&self) -> usize {
        self.base_scores.len()
    }

    /// Raw scores (margins) of one row, written to `out` (`width` values).
    pub fn raw_scores(&self, x: &[f32], out: &mut [f64]) {
        for (o, b) in out.iter_mut().zip(&self.base_scores) {
            *o = *b as f64;
        }
        let k = self.width();
        for (t, tree) in self.trees.iter().enumerate() {
            out[t % k] += tree.predict(x) as f64;
        }
    }

    /// Predicts `rows` rows of `x` (row-major, `n_features` per row).
    pub fn predict(&self, x: &[f32]) -> Result<Predictions> {
        check_width(x, self.n_features)?;
        let k = self.width();
        let mut raw = vec![0.0; k];
        let mut out = Vec::with_capacity(x.len() / self.n_features * k.max(2));
        for row in x.chunks(self.n_features) {
            self.raw_scores(row, &mut raw);
            match self.task.problem {
                ProblemType::Regression => out.push(raw[0] as f32),
                ProblemType::BinaryClassification => {
                    let p = sigmoid(raw[0]);
                    out.extend([(1.0 - p) as f32, p as f32]);
                }
                ProblemType::MulticlassClassification => {
                    softmax_in_place(&mut raw);
                    out.extend(raw.iter().map(|&p| p as f32));
                }
            }
        }
        Ok(match self.task.problem {
            ProblemType::Regression => {
                Predictions { problem: ProblemType::Regression, n_rows: out.len(), values: out, labels: Vec::new() }
            }
            problem => Predictions::classes(problem, &self.task.class_labels, out),
        })
    }
}

pub(crate) fn check_width(x: &[f32], n_features: usize) -> Result<()> {
    if n_features == 0 || x.len() % n_features != 0 {
        return Err(Error::data(format!("{} values do not form rows of {n_features} features", x.len())));
    }
    Ok(())
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

pub(crate) fn softmax_in_place(z: &mut [f64]) {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in z.iter_mut() {
        *v /= sum;
    }
}

#[cfg(test)]
mod params_tests {
    use super::*;
    use serde_json::json;

    fn params(v: serde_json::Value) -> Result<GbdtParams> {
        let serde_json::Value::Object(m) = v else { unreachable!() };
        let mut hp = Hyperparameters::new(m);
        let p = GbdtParams::from_hyperparameters(&mut hp)?;
        hp.finish("gbdt")?;
        Ok(p)
    }

    #[test]
    fn reads_xgboost_names() {
        let p = params(json!({"num_round": "50", "eta": "0.1", "objective": "multi:softprob", "num_class": "3",
            "subsample": "0.8", "colsample_bytree": "0.5", "lambda": "2", "early_stopping_rounds": "5",
            "eval_metric": "accuracy", "nthread": "1", "max_bin": "64"}))
        .unwrap();
        assert_eq!((p.num_round, p.num_class, p.nthread, p.max_bin), (50, Some(3), 1, 64));
        assert_eq!((p.eta, p.subsample, p.lambda), (0.1, 0.8, 2.0));
        assert_eq!(p.eval_metric, Some(Metric::Accuracy));
    }

    #[test]
    fn rejects_bad_values_naming_the_parameter() {
        let cases = [
            (json!({"eta": "0"}), "`eta`"),
            (json!({"max_depth": "-1"}), "`max_depth`"),
            (json!({"objective": "rank:pairwise"}), "`objective`"),
            (json!({"objective": "multi:softprob"}), "`num_class`"),
            (json!({"num_class": "3"}), "`num_class`"),
            (json!({"subsample": "1.5"}), "`subsample`"),
            (json!({"eval_metric": "auc"}), "`eval_metric`"),
            (json!({"max_bin": "1000"}), "`max_bin`"),
            (json!({"num_rounds": "10"}), "`num_rounds`"),
        ];
        for (hp, name) in cases {
            let err = params(hp.clone()).unwrap_err().to_string();
            assert!(err.contains(name), "{hp}: {err}");
        }
    }

    #[test]
    fn softmax_is_stable() {
        let mut z = vec![1000.0, 1000.0];
        softmax_in_place(&mut z);
        assert_eq!(z, vec![0.5, 0.5]);
    }
}
