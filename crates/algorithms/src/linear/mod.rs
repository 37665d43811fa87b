//! `linear-learner`: linear regression and binary / multi-class logistic regression with
//! L2 regularisation, fitted by full-batch L-BFGS on standardised features. The
//! standardisation is folded into the stored (raw-space) coefficients.

mod lbfgs;
mod objective;

use std::io::Write;

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::gbdt::{check_width, sigmoid, softmax_in_place};
use crate::hyperparameters::Hyperparameters;
use crate::metrics::{self, Metric, Truth};
use crate::task::{Predictions, ProblemType, Task};
use crate::FinalMetrics;
use objective::{Objective, Standardizer};

/// Hyperparameters of [`train_linear`] (SageMaker linear-learner names where they exist).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearParams {
    pub predictor_type: ProblemType,
    /// Required for multi-class.
    pub num_classes: Option<usize>,
    /// Maximum L-BFGS iterations (each is at least one pass over the data).
    pub epochs: usize,
    /// L2 penalty on the standardised weights (`l2`, alias `wd`); intercepts are not penalised.
    pub l2: f64,
    /// Stop once the largest gradient component is at most this.
    pub tolerance: f64,
    /// Standardise features (and regression labels) before fitting.
    pub normalize_data: bool,
    pub nthread: usize,
}

impl LinearParams {
    /// Defaults for a problem type.
    pub fn new(predictor_type: ProblemType) -> Self {
        LinearParams {
            predictor_type,
            num_classes: None,
            epochs: 100,
            l2: 1e-4,
            tolerance: 1e-6,
            normalize_data: true,
            nthread: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        }
    }

    /// Reads and validates the `linear-learner` hyperparameters. `feature_dim`, if given,
    /// is returned for the caller to check against the data.
    pub fn from_hyperparameters(hp: &mut Hyperparameters) -> Result<(Self, Option<usize>)> {
        let predictor_type = match hp
            .choice("predictor_type", &["regressor", "binary_classifier", "multiclass_classifier"], None)?
            .as_str()
        {
            "binary_classifier" => ProblemType::BinaryClassification,
            "multiclass_classifier" => ProblemType::MulticlassClassification,
            _ => ProblemType::Regression,
        };
        let d = LinearParams::new(predictor_type);
        let num_classes = hp.optional_usize(&["num_classes"], 2, 1_000_000)?;
        let params = LinearParams {
            predictor_type,
            num_classes,
            epochs: hp.usize(&["epochs"], d.epochs, 1, 1_000_000)?,
            l2: hp.f64(&["l2", "wd"], d.l2, |v| v >= 0.0, ">= 0")?,
            tolerance: hp.f64(&["tolerance"], d.tolerance, |v| v > 0.0, "> 0")?,
            normalize_data: hp.bool("normalize_data", d.normalize_data)?,
            nthread: hp.nthread()?,
        };
        let feature_dim = hp.optional_usize(&["feature_dim"], 1, 100_000_000)?;
        params.validate()?;
        Ok((params, feature_dim))
    }

    pub fn validate(&self) -> Result<()> {
        match (self.predictor_type, self.num_classes) {
            (ProblemType::MulticlassClassification, None) => {
                Err(Error::hp("num_classes", "is required for predictor_type multiclass_classifier"))
            }
            (ProblemType::Regression, Some(_)) => Err(Error::hp("num_classes", "is not valid for a regressor")),
            _ => Ok(()),
        }
    }
}

/// A trained linear model in raw feature space: output `c` is `coefficients[c] · x + intercepts[c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearModel {
    pub task: Task,
    pub n_features: usize,
    /// `k × n_features`, row-major (`k` = 1 for regression and binary, else the class count).
    pub coefficients: Vec<f32>,
    pub intercepts: Vec<f32>,
    /// L-BFGS iterations run.
    pub epochs: usize,
}

impl LinearModel {
    /// Raw scores of one row.
    fn scores(&self, x: &[f32], out: &mut [f64]) {
        for (c, o) in out.iter_mut().enumerate() {
            let w = &self.coefficients[c * self.n_features..(c + 1) * self.n_features];
            *o = self.intercepts[c] as f64 + w.iter().zip(x).map(|(&w, &x)| w as f64 * x as f64).sum::<f64>();
        }
    }

    /// Predicts rows of `x` (row-major, `n_features` per row).
    pub fn predict(&self, x: &[f32]) -> Result<Predictions> {
        check_width(x, self.n_features)?;
        let mut z = vec![0.0; self.intercepts.len()];
        let mut out = Vec::new();
        for row in x.chunks(self.n_features) {
            self.scores(row, &mut z);
            match self.task.problem {
                ProblemType::Regression => out.push(z[0] as f32),
                ProblemType::BinaryClassification => {
                    let p = sigmoid(z[0]);
                    out.extend([(1.0 - p) as f32, p as f32]);
                }
                ProblemType::MulticlassClassification => {
                    softmax_in_place(&mut z);
                    out.extend(z.iter().map(|&p| p as f32));
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

    /// Metric inputs for a data set: values, positive-class or class probabilities.
    fn outputs(&self, ds: &Dataset, threads: usize) -> Vec<f64> {
        let parts = crate::parallel::map_ranges(ds.n_rows, threads, |rows| {
            let mut z = vec![0.0; self.intercepts.len()];
            let mut out = Vec::with_capacity(rows.len() * z.len());
            for i in rows {
                self.scores(ds.row(i), &mut z);
                match self.task.problem {
                    ProblemType::Regression => out.push(z[0]),
                    ProblemType::BinaryClassification => out.push(sigmoid(z[0])),
                    ProblemType::MulticlassClassification => {
                        softmax_in_place(&mut z);
                        out.extend_from_slice(&z);
                    }
                }
            }
            out
        });
        parts.concat()
    }
}

/// Trains without validation data or logging.
pub fn train_linear(train: &Dataset, params: &LinearParams) -> Result<LinearModel> {
    Ok(train_linear_with(train, None, params, &mut std::io::sink())?.0)
}

/// Trains with optional validation data; prints `#metric ... epoch=N` per L-BFGS iteration
/// and a final line with every metric of the problem type.
pub fn train_linear_with(
    train: &Dataset,
    valid: Option<&Dataset>,
    params: &LinearParams,
    log: &mut dyn Write,
) -> Result<(LinearModel, FinalMetrics)> {
    params.validate()?;
    let problem = params.predictor_type;
    let task = Task::from_training_labels(problem, train, params.num_classes, ["num_classes", "predictor_type"])?;
    task.check(train, "train")?;
    if let Some(v) = valid {
        task.check(v, "validation")?;
        if v.n_features != train.n_features {
            return Err(Error::data(format!("validation has {} features, train {}", v.n_features, train.n_features)));
        }
    }
    let (k, f, threads) = (task.width(), train.n_features, params.nthread.max(1));
    let targets = task.encode(train);
    let (label_mean, label_scale) = match (problem, params.normalize_data) {
        (ProblemType::Regression, true) => {
            let n = train.n_rows as f64;
            let mean = train.labels.iter().sum::<f64>() / n;
            let sd = (train.labels.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n).sqrt();
            (mean, if sd > 1e-12 { sd } else { 1.0 })
        }
        _ => (0.0, 1.0),
    };
    let objective = Objective {
        ds: train,
        problem,
        k,
        targets: &targets,
        scaled_labels: match problem {
            ProblemType::Regression => train.labels.iter().map(|y| (y - label_mean) / label_scale).collect(),
            _ => Vec::new(),
        },
        standardizer: Standardizer::fit(train, params.normalize_data),
        l2: params.l2,
        threads,
    };
    let eval = Metric::for_problem(problem)[0];
    let build = |theta: &[f64], epochs: usize| {
        let (w, b) = objective.standardizer.to_raw(theta, k);
        LinearModel {
            task: task.clone(),
            n_features: f,
            coefficients: w.iter().map(|w| (w * label_scale) as f32).collect(),
            intercepts: b.iter().map(|b| (b * label_scale + label_mean) as f32).collect(),
            epochs,
        }
    };
    let valid_targets = valid.map(|v| task.encode(v));
    let mut theta = vec![0.0; k * (f + 1)];
    let data_loss = std::cell::Cell::new(0.0);
    let settings = lbfgs::Settings { max_iterations: params.epochs, gradient_tolerance: params.tolerance, memory: 10 };
    let epochs = lbfgs::minimize(
        &mut theta,
        &settings,
        |t, g| {
            let (value, data) = objective.evaluate(t, g);
            data_loss.set(data);
            value
        },
        |epoch, t, _| {
            let train_metric = match problem {
                ProblemType::Regression => label_scale * (2.0 * data_loss.get()).sqrt(),
                _ => data_loss.get(),
            };
            let mut line = vec![metrics::format_pairs("train", &[(eval, train_metric)])];
            if let (Some(v), Some(vt)) = (valid, &valid_targets) {
                let value = metrics::compute(eval, truth_of(problem, v, vt), &build(t, epoch).outputs(v, threads));
                line.push(metrics::format_pairs("validation", &[(eval, value)]));
            }
            let _ = writeln!(log, "#metric {} epoch={epoch}", line.join(" "));
        },
    );
    let model = build(&theta, epochs);
    let mut sets = vec![("train", truth_of(problem, train, &targets), model.outputs(train, threads))];
    if let (Some(v), Some(vt)) = (valid, &valid_targets) {
        sets.push(("validation", truth_of(problem, v, vt), model.outputs(v, threads)));
    }
    let final_metrics = metrics::report_final(log, problem, &sets);
    Ok((model, final_metrics))
}

fn truth_of<'a>(problem: ProblemType, ds: &'a Dataset, targets: &'a [u32]) -> Truth<'a> {
    match problem {
        ProblemType::Regression => Truth::Values(&ds.labels),
        _ => Truth::Classes(targets),
    }
}

#[cfg(test)]
mod tests;
