//! The boosting loop: gradients, row/column sampling, one tree per output per round,
//! per-round metrics and early stopping.

use std::io::Write;

use super::binning::{BinCuts, BinnedMatrix};
use super::histogram::{GradPair, HistogramBuilder};
use super::partition::Partitioner;
use super::tree::{self, GrowParams, Tree};
use super::{sigmoid, softmax_in_place, GbdtModel, GbdtParams, Objective};
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::metrics::{self, Metric, Truth};
use crate::parallel;
use crate::rng::SplitMix64;
use crate::task::{ProblemType, Task};
use crate::FinalMetrics;

/// Trains on `train` without validation data or logging.
pub fn train_gbdt(train: &Dataset, params: &GbdtParams) -> Result<GbdtModel> {
    Ok(train_gbdt_with(train, None, params, &mut std::io::sink())?.0)
}

/// Trains with optional validation data, writing metric lines to `log`.
///
/// Prints `#metric train:<m>=.. validation:<m>=.. round=N` per round (`m` = `eval_metric`)
/// and a final line with every metric of the problem type. With early stopping the model
/// keeps the rounds up to the best validation score.
pub fn train_gbdt_with(
    train: &Dataset,
    valid: Option<&Dataset>,
    params: &GbdtParams,
    log: &mut dyn Write,
) -> Result<(GbdtModel, FinalMetrics)> {
    params.validate()?;
    if params.early_stopping_rounds.is_some() && valid.is_none() {
        return Err(Error::hp("early_stopping_rounds", "needs a validation channel"));
    }
    let problem = params.objective.problem();
    let task = Task::from_training_labels(problem, train, params.num_class, ["num_class", "objective"])?;
    task.check(train, "train")?;
    if let Some(v) = valid {
        task.check(v, "validation")?;
        if v.n_features != train.n_features {
            return Err(Error::data(format!("validation has {} features, train {}", v.n_features, train.n_features)));
        }
    }
    let (k, threads) = (task.width(), params.nthread.max(1));
    let cuts = BinCuts::fit(train, params.max_bin, threads);
    let matrix = BinnedMatrix::new(train, &cuts, threads);
    let base_scores = base_scores(params.objective, train, &task);
    let mut tr = Scored::new(train, &task, &base_scores);
    let mut va = valid.map(|v| Scored::new(v, &task, &base_scores));

    let grow_params = GrowParams {
        max_depth: params.max_depth,
        eta: params.eta,
        lambda: params.lambda,
        gamma: params.gamma,
        min_child_weight: params.min_child_weight,
    };
    let eval = params.eval_metric_or_default();
    // The objective's own loss comes for free with the gradients (of the previous round).
    let fused = eval == Metric::for_problem(problem)[0];
    let mut gpair: Vec<GradPair> = vec![[0.0; 2]; train.n_rows * k];
    let mut ordered: Vec<GradPair> = Vec::with_capacity(train.n_rows);
    let mut partitioner = Partitioner::new(train.n_rows);
    let mut sampled: Vec<u32> = Vec::with_capacity(train.n_rows);
    let mut rng = SplitMix64::new(params.seed);
    let mut trees: Vec<Tree> = Vec::new();
    let mut rows: Vec<u32> = Vec::with_capacity(train.n_rows);
    let mut best: Option<(usize, f64)> = None;
    let mut pending: Option<(usize, String)> = None;
    for round in 0..params.num_round {
        let loss = gradients(params.objective, &tr, k, threads, &mut gpair);
        if let Some((r, rest)) = pending.take() {
            print_round(log, eval, fused_metric(eval, loss, train.n_rows), &rest, r);
        }
        sample_rows(&mut sampled, train.n_rows, params.subsample, &mut rng);
        let features = sample_features(train.n_features, params.colsample_bytree, &mut rng);
        let builder = HistogramBuilder { matrix: &matrix, features: &features, threads };
        for c in 0..k {
            // Ordered gradients: aligned with `rows`, reordered with them as nodes split.
            rows.clear();
            rows.extend_from_slice(&sampled);
            ordered.clear();
            ordered.extend(rows.iter().map(|&r| gpair[r as usize * k + c]));
            let all_rows = rows.len() == train.n_rows;
            let (tree, leaves) =
                tree::grow(&builder, &cuts, &mut rows, &mut ordered, all_rows, &mut partitioner, &grow_params);
            if rows.len() == train.n_rows {
                for leaf in &leaves {
                    for &r in &rows[leaf.start..leaf.end] {
                        tr.margins[r as usize * k + c] += leaf.value as f64;
                    }
                }
            } else {
                add_tree(&mut tr.margins, k, c, threads, |i| tree.predict_binned(&matrix, i));
            }
            if let Some(va) = va.as_mut() {
                add_tree(&mut va.margins, k, c, threads, |i| tree.predict(va.ds.row(i)));
            }
            trees.push(tree);
        }
        let v = va.as_ref().map(|va| va.metric(eval, problem, k));
        let rest = v.map(|v| metrics::format_pairs("validation", &[(eval, v)])).unwrap_or_default();
        if fused {
            pending = Some((round + 1, rest));
        } else {
            print_round(log, eval, tr.metric(eval, problem, k), &rest, round + 1);
        }
        if let (Some(v), Some(patience)) = (v, params.early_stopping_rounds) {
            let improved = best.is_none_or(|(_, b)| if eval.higher_is_better() { v > b } else { v < b });
            if improved {
                best = Some((round, v));
            } else if best.is_some_and(|(b, _)| round - b >= patience) {
                break;
            }
        }
    }
    if let Some((r, rest)) = pending.take() {
        print_round(log, eval, tr.metric(eval, problem, k), &rest, r);
    }
    let mut rounds = trees.len() / k;
    if let Some((b, v)) = best.filter(|(b, _)| b + 1 < rounds) {
        let _ = writeln!(log, "Stopping. Best round: {} (validation:{}={v:.6})", b + 1, eval.name());
        rounds = b + 1;
        trees.truncate(rounds * k);
        tr.reset(&base_scores);
        for (t, tree) in trees.iter().enumerate() {
            add_tree(&mut tr.margins, k, t % k, threads, |i| tree.predict_binned(&matrix, i));
        }
        if let Some(va) = va.as_mut() {
            va.reset(&base_scores);
            for (t, tree) in trees.iter().enumerate() {
                add_tree(&mut va.margins, k, t % k, threads, |i| tree.predict(va.ds.row(i)));
            }
        }
    }
    let mut sets = vec![("train", tr.truth(problem), outputs(&tr.margins, problem, k))];
    if let Some(va) = &va {
        sets.push(("validation", va.truth(problem), outputs(&va.margins, problem, k)));
    }
    let final_metrics = metrics::report_final(log, problem, &sets);
    let model = GbdtModel { task, n_features: train.n_features, base_scores, trees, rounds };
    Ok((model, final_metrics))
}

/// Labels and running raw scores of one data set.
struct Scored<'a> {
    ds: &'a Dataset,
    targets: Vec<u32>,
    /// Row-major `n × k` raw scores.
    margins: Vec<f64>,
}

impl<'a> Scored<'a> {
    fn new(ds: &'a Dataset, task: &Task, base: &[f32]) -> Self {
        let mut s = Scored { ds, targets: task.encode(ds), margins: Vec::new() };
        s.reset(base);
        s
    }

    fn reset(&mut self, base: &[f32]) {
        self.margins = (0..self.ds.n_rows).flat_map(|_| base.iter().map(|&b| b as f64)).collect();
    }

    fn truth(&self, problem: ProblemType) -> Truth<'_> {
        match problem {
            ProblemType::Regression => Truth::Values(&self.ds.labels),
            _ => Truth::Classes(&self.targets),
        }
    }

    fn metric(&self, metric: Metric, problem: ProblemType, k: usize) -> f64 {
        metrics::compute(metric, self.truth(problem), &outputs(&self.margins, problem, k))
    }
}

/// Model outputs from raw scores: values, positive-class or class probabilities.
fn outputs(margins: &[f64], problem: ProblemType, k: usize) -> Vec<f64> {
    match problem {
        ProblemType::Regression => margins.to_vec(),
        ProblemType::BinaryClassification => margins.iter().map(|&m| sigmoid(m)).collect(),
        ProblemType::MulticlassClassification => {
            let mut out = margins.to_vec();
            out.chunks_mut(k).for_each(softmax_in_place);
            out
        }
    }
}

/// XGBoost-style starting scores: the label mean (regression), the log-odds of the
/// positive rate (binary) or zero (multi-class).
fn base_scores(objective: Objective, train: &Dataset, task: &Task) -> Vec<f32> {
    let n = train.n_rows as f64;
    match objective {
        Objective::SquaredError => vec![(train.labels.iter().sum::<f64>() / n) as f32],
        Objective::BinaryLogistic => {
            let positive = task.encode(train).iter().filter(|&&t| t == 1).count() as f64;
            let rate = (positive / n).clamp(1e-6, 1.0 - 1e-6);
            vec![(rate / (1.0 - rate)).ln() as f32]
        }
        Objective::MultiSoftprob => vec![0.0; task.width()],
    }
}

/// Writes gradients/hessians of every row and output; returns the summed loss of the
/// current scores (squared error, or negative log-likelihood).
fn gradients(objective: Objective, s: &Scored<'_>, k: usize, threads: usize, gpair: &mut [GradPair]) -> f64 {
    let parts = parallel::for_rows_mut(gpair, k, threads, |first, chunk| {
        let mut loss = LogSum::default();
        let mut p = vec![0.0; k];
        for (r, out) in chunk.chunks_mut(k).enumerate() {
            let i = first + r;
            let m = &s.margins[i * k..(i + 1) * k];
            match objective {
                Objective::SquaredError => {
                    let d = m[0] - s.ds.labels[i];
                    loss.add(d * d);
                    out[0] = [d as f32, 1.0];
                }
                Objective::BinaryLogistic => {
                    // Single precision is enough for f32 gradients and is about twice as fast.
                    let y = s.targets[i] as f32;
                    let q = 1.0 / (1.0 + (-(m[0] as f32)).exp());
                    // Clamped like the log-loss metric, so the fused value matches it.
                    loss.times((if y == 1.0 { q } else { 1.0 - q }) as f64);
                    out[0] = [q - y, (q * (1.0 - q)).max(1e-16)];
                }
                Objective::MultiSoftprob => {
                    p.copy_from_slice(m);
                    softmax_in_place(&mut p);
                    let y = s.targets[i] as usize;
                    loss.times(p[y]);
                    for (c, (o, &q)) in out.iter_mut().zip(&p).enumerate() {
                        let g = q - if c == y { 1.0 } else { 0.0 };
                        *o = [g as f32, (2.0 * q * (1.0 - q)).max(1e-16) as f32];
                    }
                }
            }
        }
        loss.total()
    });
    parts.into_iter().sum()
}

/// A sum of squared errors, or of `-ln p` computed as the log of running products (one
/// logarithm per 16 factors instead of one per row; each factor is clamped to 1e-15, so
/// 16 of them stay far above the smallest positive `f64`).
#[derive(Default)]
struct LogSum {
    sum: f64,
    product: f64,
    factors: u32,
}

impl LogSum {
    fn add(&mut self, v: f64) {
        self.sum += v;
    }

    fn times(&mut self, p: f64) {
        if self.factors == 0 {
            self.product = 1.0;
        }
        self.product *= p.max(1e-15);
        self.factors += 1;
        if self.factors == 16 {
            self.sum -= self.product.ln();
            self.factors = 0;
        }
    }

    fn total(&self) -> f64 {
        if self.factors > 0 {
            self.sum - self.product.ln()
        } else {
            self.sum
        }
    }
}

/// The per-round metric from the summed loss: RMSE for squared error, else the mean log loss.
fn fused_metric(metric: Metric, loss: f64, n: usize) -> f64 {
    match metric {
        Metric::Rmse => (loss / n as f64).sqrt(),
        _ => loss / n as f64,
    }
}

/// Adds `leaf(i)` to output `c` of every row's scores, in parallel.
fn add_tree(margins: &mut [f64], k: usize, c: usize, threads: usize, leaf: impl Fn(usize) -> f32 + Sync) {
    parallel::for_rows_mut(margins, k, threads, |first, chunk| {
        for (r, m) in chunk.chunks_mut(k).enumerate() {
            m[c] += leaf(first + r) as f64;
        }
    });
}

/// Bernoulli row sampling (all rows when `rate == 1`); never empty.
fn sample_rows(rows: &mut Vec<u32>, n: usize, rate: f64, rng: &mut SplitMix64) {
    rows.clear();
    if rate >= 1.0 {
        rows.extend(0..n as u32);
        return;
    }
    rows.extend((0..n as u32).filter(|_| rng.next_f64() < rate));
    if rows.is_empty() {
        rows.push(rng.below(n) as u32);
    }
}

/// A sorted random subset of `round(rate × n)` (at least one) features.
fn sample_features(n: usize, rate: f64, rng: &mut SplitMix64) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    if rate >= 1.0 {
        return all;
    }
    let keep = ((rate * n as f64).round() as usize).clamp(1, n);
    for i in 0..keep {
        let j = i + rng.below(n - i);
        all.swap(i, j);
    }
    all.truncate(keep);
    all.sort_unstable();
    all
}

fn print_round(log: &mut dyn Write, metric: Metric, train: f64, validation: &str, round: usize) {
    let train = metrics::format_pairs("train", &[(metric, train)]);
    let parts: Vec<&str> = [train.as_str(), validation].into_iter().filter(|p| !p.is_empty()).collect();
    let _ = writeln!(log, "#metric {} round={round}", parts.join(" "));
}
