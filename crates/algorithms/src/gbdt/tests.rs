//! End-to-end tests of boosting on small synthetic data.

use super::*;
use crate::dataset::Dataset;
use crate::rng::SplitMix64;

/// XOR of the signs of x0 and x1, plus two noise features.
fn xor(n: usize, seed: u64) -> Dataset {
    let mut rng = SplitMix64::new(seed);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for _ in 0..n {
        let row: Vec<f32> = (0..4).map(|_| (rng.next_f64() * 2.0 - 1.0) as f32).collect();
        y.push(((row[0] > 0.0) ^ (row[1] > 0.0)) as u8 as f64);
        x.extend(row);
    }
    Dataset::new(x, 4, y).unwrap()
}

fn params(objective: Objective) -> GbdtParams {
    GbdtParams { objective, num_round: 30, max_depth: 4, eta: 0.3, nthread: 2, ..GbdtParams::default() }
}

#[test]
fn fits_xor_and_generalises() {
    let (train, test) = (xor(2000, 1), xor(500, 2));
    let mut log = Vec::new();
    let (model, metrics) = train_gbdt_with(&train, Some(&test), &params(Objective::BinaryLogistic), &mut log).unwrap();
    let p = model.predict(&test.features).unwrap();
    let correct = p.labels.iter().zip(&test.labels).filter(|(a, b)| **a == **b as i64).count();
    assert!(correct as f64 / 500.0 > 0.95, "accuracy {correct}/500");
    let auc = metrics.iter().find(|(n, _)| n == "validation:auc").map(|m| m.1).unwrap();
    assert!(auc > 0.98, "{auc}");
    let log = String::from_utf8(log).unwrap();
    let first = log.lines().next().unwrap();
    assert!(first.starts_with("#metric train:logloss=") && first.ends_with(" round=1"), "{first}");
    assert_eq!(log.lines().filter(|l| l.contains(" round=")).count(), 30);
    // The fused per-round train loss equals a direct evaluation of the last round.
    let last_round = log.lines().find(|l| l.contains(" round=30")).unwrap();
    let fin = log.lines().last().unwrap();
    let value =
        |line: &str, key: &str| -> f64 { line.split(' ').find_map(|t| t.strip_prefix(key)).unwrap().parse().unwrap() };
    // (The per-round value comes from single-precision probabilities.)
    assert!((value(last_round, "train:logloss=") - value(fin, "train:logloss=")).abs() < 2e-6, "{log}");
}

#[test]
fn results_are_deterministic_and_sampling_is_seeded() {
    let train = xor(3000, 3);
    let mut p = params(Objective::BinaryLogistic);
    p.subsample = 0.7;
    p.colsample_bytree = 0.5;
    let a = train_gbdt(&train, &p).unwrap();
    let b = train_gbdt(&train, &p).unwrap();
    assert_eq!(a, b);
    p.seed = 1;
    assert_ne!(a, train_gbdt(&train, &p).unwrap());
    // Threads change only the summation order of histograms, not the model's quality.
    p.nthread = 1;
    let single = train_gbdt(&train, &p).unwrap();
    assert_eq!(single.trees.len(), a.trees.len());
}

#[test]
fn multiclass_and_regression() {
    let train = xor(1500, 4);
    let labels: Vec<f64> = (0..train.n_rows).map(|i| train.labels[i] + (train.row(i)[2] > 0.0) as u8 as f64).collect();
    let multi = Dataset { labels, ..train.clone() };
    let mut p = params(Objective::MultiSoftprob);
    p.num_class = Some(3);
    let model = train_gbdt(&multi, &p).unwrap();
    assert_eq!((model.trees.len(), model.width()), (90, 3));
    let pred = model.predict(&multi.features).unwrap();
    let correct = pred.labels.iter().zip(&multi.labels).filter(|(a, b)| **a == **b as i64).count();
    assert!(correct > 1400, "{correct}");

    let target: Vec<f64> =
        (0..train.n_rows).map(|i| 3.0 * train.row(i)[0] as f64 + train.row(i)[1].abs() as f64).collect();
    let reg = Dataset { labels: target.clone(), ..train };
    let model = train_gbdt(&reg, &params(Objective::SquaredError)).unwrap();
    let pred = model.predict(&reg.features).unwrap();
    let outputs: Vec<f64> = pred.values.iter().map(|&v| v as f64).collect();
    let r2 = crate::metrics::compute(crate::Metric::R2, crate::Truth::Values(&target), &outputs);
    assert!(r2 > 0.97, "{r2}");
}

#[test]
fn early_stopping_keeps_the_best_round() {
    let (train, valid) = (xor(400, 5), xor(400, 6));
    let mut p = params(Objective::BinaryLogistic);
    p.num_round = 300;
    p.eta = 1.0;
    p.max_depth = 6;
    p.lambda = 0.0;
    p.early_stopping_rounds = Some(5);
    let mut log = Vec::new();
    let (model, _) = train_gbdt_with(&train, Some(&valid), &p, &mut log).unwrap();
    let log = String::from_utf8(log).unwrap();
    assert!(model.rounds < 300 && model.trees.len() == model.rounds, "{}", model.rounds);
    assert!(log.contains(&format!("Stopping. Best round: {}", model.rounds)), "{log}");
    p.early_stopping_rounds = Some(5);
    let err = train_gbdt_with(&train, None, &p, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("`early_stopping_rounds`"), "{err}");
}
