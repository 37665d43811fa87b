use super::*;
use serde_json::json;

/// Two Gaussian-ish blobs separated along `x0 + x1`, with an irrelevant third feature.
fn blobs(n: usize, classes: usize) -> Dataset {
    let mut rng = crate::rng::SplitMix64::new(3);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..n {
        let c = i % classes;
        let centre = c as f32 * 4.0;
        x.extend([
            centre + rng.next_f64() as f32,
            100.0 + centre * 10.0 + rng.next_f64() as f32,
            rng.next_f64() as f32,
        ]);
        y.push(c as f64);
    }
    Dataset::new(x, 3, y).unwrap()
}

#[test]
fn separable_binary_data_is_classified_perfectly() {
    let ds = blobs(200, 2);
    let mut log = Vec::new();
    let (model, metrics) =
        train_linear_with(&ds, Some(&ds), &LinearParams::new(ProblemType::BinaryClassification), &mut log).unwrap();
    let p = model.predict(&ds.features).unwrap();
    let expect: Vec<i64> = ds.labels.iter().map(|&l| l as i64).collect();
    assert_eq!(p.labels, expect);
    let auc = metrics.iter().find(|(n, _)| n == "validation:auc").unwrap().1;
    assert_eq!(auc, 1.0);
    let log = String::from_utf8(log).unwrap();
    assert!(log.lines().next().unwrap().starts_with("#metric train:logloss="), "{log}");
    assert!(log.contains("validation:logloss=") && log.contains(" epoch=1\n"), "{log}");
    assert!(log.lines().last().unwrap().ends_with(" final"));
}

#[test]
fn multiclass_probabilities_sum_to_one() {
    let ds = blobs(300, 3);
    let mut params = LinearParams::new(ProblemType::MulticlassClassification);
    params.num_classes = Some(3);
    let model = train_linear(&ds, &params).unwrap();
    let p = model.predict(&ds.features).unwrap();
    assert!(p.values.chunks(3).all(|r| (r.iter().sum::<f32>() - 1.0).abs() < 1e-5));
    let correct = p.labels.iter().zip(&ds.labels).filter(|(a, b)| **a == **b as i64).count();
    assert!(correct >= 297, "{correct}");
}

#[test]
fn regression_recovers_coefficients() {
    let mut rng = crate::rng::SplitMix64::new(9);
    let x: Vec<f32> = (0..600).map(|_| (rng.next_f64() * 10.0) as f32).collect();
    let y: Vec<f64> = x.chunks(3).map(|r| 3.0 * r[0] as f64 - 2.0 * r[1] as f64 + 0.5 * r[2] as f64 + 7.0).collect();
    let ds = Dataset::new(x, 3, y).unwrap();
    let mut params = LinearParams::new(ProblemType::Regression);
    params.l2 = 0.0;
    params.tolerance = 1e-10;
    let model = train_linear(&ds, &params).unwrap();
    let expect = [3.0, -2.0, 0.5];
    for (c, e) in model.coefficients.iter().zip(expect) {
        assert!((c - e).abs() < 1e-3, "{:?}", model.coefficients);
    }
    assert!((model.intercepts[0] - 7.0).abs() < 1e-2, "{:?}", model.intercepts);
}

#[test]
fn hyperparameters_are_validated() {
    let read = |v: serde_json::Value| {
        let serde_json::Value::Object(m) = v else { unreachable!() };
        let mut hp = Hyperparameters::new(m);
        LinearParams::from_hyperparameters(&mut hp).and_then(|p| hp.finish("linear-learner").map(|_| p))
    };
    let (p, dim) = read(json!({"predictor_type": "multiclass_classifier", "num_classes": "3", "wd": "0.01",
        "epochs": "20", "feature_dim": "4"}))
    .unwrap();
    assert_eq!((p.num_classes, p.l2, p.epochs, dim), (Some(3), 0.01, 20, Some(4)));
    for (v, name) in [
        (json!({}), "`predictor_type`"),
        (json!({"predictor_type": "ranker"}), "`predictor_type`"),
        (json!({"predictor_type": "multiclass_classifier"}), "`num_classes`"),
        (json!({"predictor_type": "regressor", "l2": "-1"}), "`l2`"),
        (json!({"predictor_type": "regressor", "epochs": "0"}), "`epochs`"),
        (json!({"predictor_type": "regressor", "learning_rat": "0.1"}), "`learning_rat`"),
    ] {
        let err = read(v.clone()).unwrap_err().to_string();
        assert!(err.contains(name), "{v}: {err}");
    }
}
