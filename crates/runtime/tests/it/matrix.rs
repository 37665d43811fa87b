//! Every model of the correctness matrix (scikit-learn, XGBoost, LightGBM and torch-style
//! exports) must give onnxruntime's labels exactly and its probabilities or values within
//! 1e-5 relative, or 2.5e-7 absolute (two float32 ulps of 1.0: a probability computed as
//! `1 - p` has no finer absolute precision, in onnxruntime or here).
//!
//! Ties are held too: an exact tie is decided by onnxruntime's tie rules, which the kernels
//! reproduce, and tree ensembles sum as onnxruntime does on one thread, bit for bit, so they
//! answer split votes one ulp off a tie as it does. Only a model without a tree ensemble
//! may differ on a near tie (its arithmetic is not onnxruntime's to the last bit).

use serde_json::Value;
use trainyard_runtime::ml::{Array, Data};
use trainyard_runtime::{Backend, Label, Model, Predictions};

use crate::support::{matrix_dir, read_csv};

fn close(ours: f32, theirs: f64) -> bool {
    let (a, b) = (ours as f64, theirs);
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= (1e-5 * a.abs().max(b.abs())).max(2.5e-7)
}

fn flatten(value: &Value) -> Vec<f64> {
    match value {
        Value::Array(items) => items.iter().flat_map(flatten).collect(),
        Value::Number(n) => vec![n.as_f64().expect("number")],
        Value::Null => vec![f64::NAN],
        other => panic!("not a number: {other}"),
    }
}

fn rows_of(expected: &Value, key: &str) -> Vec<usize> {
    expected[key].as_array().map_or(vec![], |v| v.iter().map(|r| r.as_u64().unwrap() as usize).collect())
}

fn label_of(value: &Value) -> Label {
    match value {
        Value::Number(n) => Label::Int(n.as_i64().expect("integer label")),
        Value::String(s) => Label::Str(s.clone()),
        other => panic!("not a label: {other}"),
    }
}

/// Compares one model; returns the problems found and a row of the report table
/// (printed with `--nocapture`; docs/runtime.md shows it).
fn check(name: &str, dir: &std::path::Path) -> (Vec<String>, String) {
    let mut problems = Vec::new();
    // Worst relative difference among values of magnitude >= 1e-3, and worst absolute one.
    let (mut worst, mut worst_absolute) = (0.0f64, 0.0f64);
    let mut labels_identical = "n/a".to_string();
    let expected: Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let (features, rows) = read_csv(&dir.join("input.csv"));
    let model = match Model::load_with(&dir.join("model.onnx"), Backend::Tract) {
        Ok(m) => m,
        Err(e) => return (vec![format!("{name}: load failed: {e}")], String::new()),
    };
    let trees =
        expected["operators"].as_array().is_some_and(|o| o.iter().any(|v| v == "ai.onnx.ml:TreeEnsembleClassifier"));
    // Rows a label may differ on: near ties of models whose arithmetic is not onnxruntime's bit for bit.
    let excused = if trees { vec![] } else { rows_of(&expected, "near_tie_rows") };
    let held_ties =
        rows_of(&expected, "exact_tie_rows").len() + if trees { rows_of(&expected, "near_tie_rows").len() } else { 0 };
    let raw = match model.run_raw(&features, rows) {
        Ok(r) => r,
        Err(e) => return (vec![format!("{name}: run failed: {e}")], String::new()),
    };
    // Raw outputs: the first label-like output and the first float output.
    let float_output = raw.iter().find(|a| matches!(a.data, Data::F32(_)));
    let numbers_key = if expected["kind"] == "classifier" { "probabilities" } else { "values" };
    if let Some(want) = expected.get(numbers_key).filter(|v| !v.is_null()) {
        let want = flatten(want);
        match float_output.map(Array::to_f32) {
            Some(Ok(got)) if got.len() == want.len() => {
                for i in 0..want.len() {
                    let (a, b) = (got[i] as f64, want[i]);
                    if !(a.is_nan() && b.is_nan()) {
                        worst_absolute = worst_absolute.max((a - b).abs());
                        if b.abs() >= 1e-3 {
                            worst = worst.max((a - b).abs() / a.abs().max(b.abs()));
                        }
                    }
                }
                let bad: Vec<usize> = (0..want.len()).filter(|&i| !close(got[i], want[i])).collect();
                if let Some(&i) = bad.first() {
                    problems.push(format!(
                        "{name}: {} of {} {numbers_key} differ; first at {i}: ours {} onnxruntime {}",
                        bad.len(),
                        want.len(),
                        got[i],
                        want[i]
                    ));
                }
            }
            Some(Ok(got)) => {
                problems.push(format!("{name}: {} {numbers_key}, onnxruntime has {}", got.len(), want.len()))
            }
            _ => problems.push(format!("{name}: no float output")),
        }
    }
    if let Some(want) = expected["labels"].as_array() {
        let want: Vec<Label> = want.iter().map(label_of).collect();
        match model.predict(&features, rows) {
            Ok(Predictions::Classification { labels, .. }) => {
                let bad: Vec<usize> = (0..rows).filter(|&i| labels[i] != want[i] && !excused.contains(&i)).collect();
                let differ = (0..rows).filter(|&i| labels[i] != want[i]).count();
                labels_identical = match (differ, held_ties) {
                    (0, 0) => format!("{rows}/{rows}"),
                    (0, 1) => format!("{rows}/{rows} (1 tie)"),
                    (0, ties) => format!("{rows}/{rows} ({ties} ties)"),
                    (differ, _) => format!("{}/{rows} ({differ} near-tie)", rows - differ),
                };
                if let Some(&i) = bad.first() {
                    problems.push(format!(
                        "{name}: {} of {rows} labels differ; first row {i}: ours {} onnxruntime {}",
                        bad.len(),
                        labels[i],
                        want[i]
                    ));
                }
            }
            Ok(other) => problems.push(format!("{name}: predicted as a regressor ({} rows)", other.rows())),
            Err(e) => problems.push(format!("{name}: predict failed: {e}")),
        }
    }
    let operators: Vec<String> = expected["operators"]
        .as_array()
        .map(|o| {
            o.iter()
                .filter_map(|v| v.as_str())
                .filter(|v| v.starts_with("ai.onnx.ml:"))
                .map(|v| v[11..].to_string())
                .collect()
        })
        .unwrap_or_default();
    let report = format!(
        "| {name} | {} | {} | {labels_identical} | {worst:.1e} | {worst_absolute:.1e} |",
        expected["producer"].as_str().unwrap_or(""),
        if operators.is_empty() { "standard ops".to_string() } else { operators.join(", ") }
    );
    (problems, report)
}

#[test]
fn every_matrix_model_agrees_with_onnxruntime() {
    let Some(root) = matrix_dir() else { return };
    let index: Value = serde_json::from_slice(&std::fs::read(root.join("matrix.json")).unwrap()).unwrap();
    let names: Vec<String> =
        index.as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().to_string()).collect();
    assert!(names.len() >= 51, "the matrix has only {} models", names.len());
    let mut problems = Vec::new();
    println!("| model | producer | ONNX-ML operators | labels identical | max relative difference | max absolute difference |");
    println!("|---|---|---|---|---:|---:|");
    for name in &names {
        let (found, report) = check(name, &root.join(name));
        println!("{report}");
        problems.extend(found);
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

/// The tie-prone models (even forests, depth-limited trees on 17-level pixels) keep the
/// matrix covering split votes, exact and one ulp off, and on those rows trainyard gives
/// onnxruntime's labels and its probabilities bit for bit.
#[test]
fn split_votes_get_onnxruntime_labels_and_bits() {
    let Some(root) = matrix_dir() else { return };
    let (mut exact, mut near) = (0, 0);
    for name in ["rf2_cls_binary_ties", "rf20_cls_binary_ties", "rf4_cls_multi_ties"].into_iter().chain([
        "dtree_cls_binary_ties",
        "dtree_cls_multi_ties",
        "rf_cls_binary",
        "rf_cls_string_labels_binary",
    ]) {
        let dir = root.join(name);
        let expected: Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        let votes = rows_of(&expected, "vote_tie_rows");
        assert!(!votes.is_empty(), "{name}: no split votes among the test rows");
        exact += rows_of(&expected, "exact_tie_rows").len();
        near += rows_of(&expected, "near_tie_rows").len();
        let (features, rows) = read_csv(&dir.join("input.csv"));
        let model = Model::load_with(&dir.join("model.onnx"), Backend::Tract).unwrap();
        let Ok(Predictions::Classification { labels, probabilities: Some(p), classes, .. }) =
            model.predict(&features, rows)
        else {
            panic!("{name}: not a classifier with probabilities")
        };
        let want_p = flatten(&expected["probabilities"]);
        for &r in &votes {
            assert_eq!(labels[r], label_of(&expected["labels"][r]), "{name}: row {r}");
            for k in r * classes..(r + 1) * classes {
                assert_eq!(p[k], want_p[k] as f32, "{name}: row {r}, probability {}", k - r * classes);
            }
        }
    }
    assert!(exact >= 20 && near >= 5, "the matrix has {exact} exact ties and {near} one ulp off");
}

#[test]
fn classifiers_expose_classes_in_label_order() {
    let Some(root) = matrix_dir() else { return };
    let model = Model::load_with(&root.join("rf_cls_string_labels_binary/model.onnx"), Backend::Tract).unwrap();
    match model.task() {
        trainyard_runtime::Task::Classification { classes, .. } => {
            assert!(classes.iter().all(|c| matches!(c, Label::Str(_))), "{classes:?}");
            assert_eq!(classes.len(), 2);
        }
        other => panic!("not a classifier: {other:?}"),
    }
    for backend in [Backend::Tract, Backend::Auto] {
        let zipmap = Model::load_with(&root.join("logreg_binary_zipmap/model.onnx"), backend).unwrap();
        let (features, rows) = read_csv(&root.join("logreg_binary_zipmap/input.csv"));
        match zipmap.predict(&features, rows).unwrap() {
            Predictions::Classification { probabilities: Some(p), classes: 2, .. } => assert_eq!(p.len(), rows * 2),
            other => panic!("zipmap model: {other:?}"),
        }
    }
}

/// The optional ONNX Runtime backend runs the same matrix (when built with the
/// `onnxruntime` feature and `ORT_DYLIB_PATH` names a `libonnxruntime`).
#[cfg(feature = "onnxruntime")]
#[test]
fn the_onnxruntime_backend_agrees_too() {
    let Some(root) = matrix_dir() else { return };
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        println!("skipped: ORT_DYLIB_PATH is not set");
        return;
    }
    for name in ["rf_cls_binary", "logreg_multi_string_labels", "torch_mlp_cls", "column_transformer_logreg"] {
        let dir = root.join(name);
        let ours = Model::load_with(&dir.join("model.onnx"), Backend::Tract).unwrap();
        let theirs = Model::load_with(&dir.join("model.onnx"), Backend::OnnxRuntime).unwrap();
        assert_eq!(theirs.backend(), "onnxruntime");
        let (features, rows) = read_csv(&dir.join("input.csv"));
        let (a, b) = (ours.predict(&features, rows).unwrap(), theirs.predict(&features, rows).unwrap());
        match (a, b) {
            (
                Predictions::Classification { labels: la, probabilities: pa, .. },
                Predictions::Classification { labels: lb, probabilities: pb, .. },
            ) => {
                let ties = (0..rows).filter(|&i| la[i] != lb[i]).count();
                assert!(ties <= 2, "{name}: {ties} labels differ");
                if let (Some(pa), Some(pb)) = (pa, pb) {
                    assert!(pa.iter().zip(&pb).all(|(x, y)| close(*x, *y as f64)), "{name}: probabilities differ");
                }
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// Large batches are split across threads; the pieces come back in order and give what
/// small batches give (bit for bit for trees).
#[test]
fn large_batches_agree_row_for_row() {
    let Some(root) = matrix_dir() else { return };
    for name in ["rf_cls_multi", "scaler_mlp_cls_multi", "gb_reg"] {
        let dir = root.join(name);
        let model = Model::load_with(&dir.join("model.onnx"), Backend::Tract).unwrap();
        let (features, rows) = read_csv(&dir.join("input.csv"));
        let copies = 50;
        let big: Vec<f32> = features.iter().copied().cycle().take(features.len() * copies).collect();
        let (small, large) = (model.predict(&features, rows).unwrap(), model.predict(&big, rows * copies).unwrap());
        match (small, large) {
            (
                Predictions::Classification { labels: a, probabilities: pa, .. },
                Predictions::Classification { labels: b, probabilities: pb, .. },
            ) => {
                assert_eq!(b.len(), a.len() * copies);
                assert!(b.chunks(a.len()).all(|c| c == a.as_slice()), "{name}: labels differ");
                let (pa, pb) = (pa.unwrap(), pb.unwrap());
                // Matrix products round differently with the batch size: close, not equal.
                assert!(
                    pb.chunks(pa.len()).all(|c| c.iter().zip(&pa).all(|(x, y)| close(*x, *y as f64))),
                    "{name}: probabilities differ"
                );
            }
            (Predictions::Regression { values: a, .. }, Predictions::Regression { values: b, .. }) => {
                assert!(b.chunks(a.len()).all(|c| c == a.as_slice()), "{name}: values differ");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}
