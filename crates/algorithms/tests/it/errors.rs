//! Bad data and bad hyperparameters fail with messages naming the parameter, or the file,
//! line and column.

use serde_json::json;
use trainyard_algorithms::Error;

use crate::common::{synthetic_csv, Layout};

fn gbdt_binary() -> serde_json::Value {
    json!({"objective": "binary:logistic", "num_round": "3"})
}

/// Runs and returns the error, which must be a CSV error at `file`, `line`, `column`.
fn csv_error(layout: &Layout, hps: serde_json::Value, file: &std::path::Path, line: usize, column: usize) -> String {
    match layout.run("gbdt", hps).0 {
        Err(e @ Error::Csv { .. }) => {
            let Error::Csv { file: f, line: l, column: c, .. } = &e else { unreachable!() };
            assert_eq!((f.as_path(), *l, *c), (file, line, column), "{e}");
            e.to_string()
        }
        other => panic!("expected a CSV error, got {other:?}"),
    }
}

#[test]
fn malformed_cells_rows_and_labels_name_file_line_and_column() {
    let layout = Layout::new();
    let good = layout.train_file("a.csv", &synthetic_csv("binary", 20, 1));
    let bad = layout.train_file("b.csv", "1,0.5,0.25,0.125\n0,0.5,oops,1\n");
    let msg = csv_error(&layout, gbdt_binary(), &bad, 2, 3);
    assert!(msg.contains("b.csv, line 2, column 3: `oops` is not a number"), "{msg}");

    std::fs::write(&bad, "1,0.5,0.25,0.125\n\n0,0.5,1\n").expect("write");
    let msg = csv_error(&layout, gbdt_binary(), &bad, 3, 4);
    assert!(msg.contains("row has 3 columns, expected 4"), "{msg}");

    std::fs::write(&bad, ",0.5,0.25,0.125\n").expect("write");
    assert!(csv_error(&layout, gbdt_binary(), &bad, 1, 1).contains("missing label"));

    std::fs::write(&bad, "0.5,0.5,0.25,0.125\n").expect("write");
    assert!(csv_error(&layout, gbdt_binary(), &bad, 1, 1).contains("class label 0.5 is not an integer"));
    std::fs::remove_file(&bad).expect("rm");
    assert!(layout.run("gbdt", gbdt_binary()).0.is_ok(), "{good:?} alone is fine");
}

#[test]
fn validation_labels_must_be_training_classes() {
    let mut layout = Layout::new();
    layout.train_file("train.csv", &synthetic_csv("binary", 50, 2));
    let valid = layout.validation_file("valid.csv", "0,1,2,3\n7,1,2,3\n");
    let msg = csv_error(&layout, gbdt_binary(), &valid, 2, 1);
    assert!(msg.contains("class label 7 is not one of the training classes [0, 1]"), "{msg}");
    std::fs::write(&valid, "0,1,2\n").expect("write");
    let err = layout.run("gbdt", gbdt_binary()).0.expect_err("fewer columns");
    assert!(err.to_string().contains("channel `validation`") && err.to_string().contains("columns differ"), "{err}");
}

#[test]
fn empty_or_missing_train_channel() {
    let layout = Layout::new();
    let err = layout.run("gbdt", gbdt_binary()).0.expect_err("empty");
    assert!(err.to_string().starts_with("channel `train`") && err.to_string().contains("no data files"), "{err}");
    layout.train_file("empty.csv", "\n");
    let err = layout.run("gbdt", gbdt_binary()).0.expect_err("no rows");
    assert!(err.to_string().contains("no data rows"), "{err}");
    std::fs::remove_dir_all(&layout.paths.train).expect("rm");
    let err = layout.run("gbdt", gbdt_binary()).0.expect_err("missing");
    assert!(err.to_string().contains("cannot list the directory"), "{err}");
}

#[test]
fn hyperparameter_errors_name_the_parameter() {
    let layout = Layout::new();
    layout.train_file("train.csv", &synthetic_csv("multiclass", 60, 3));
    let cases = [
        ("gbdt", json!({"num_round": "10", "colour": "red"}), "hyperparameter `colour`: unknown hyperparameter"),
        ("gbdt", json!({"eta": "1.5"}), "hyperparameter `eta`: must be in (0, 1], got 1.5"),
        ("gbdt", json!({"max_depth": "deep"}), "hyperparameter `max_depth`: expected a number"),
        (
            "gbdt",
            json!({"objective": "multi:softprob", "num_class": "2"}),
            "hyperparameter `num_class`: expects 2 classes",
        ),
        ("gbdt", json!({"objective": "binary:logistic"}), "hyperparameter `objective`: expects 2 classes"),
        ("gbdt", json!({"label_column": "y"}), "hyperparameter `label_column`: `y` is not a column"),
        ("linear-learner", json!({"predictor_type": "multiclass_classifier", "num_classes": "4"}), "ok"),
        (
            "linear-learner",
            json!({"predictor_type": "multiclass_classifier"}),
            "hyperparameter `num_classes`: is required",
        ),
        (
            "linear-learner",
            json!({"predictor_type": "regressor", "feature_dim": "5"}),
            "hyperparameter `feature_dim`: is 5",
        ),
        (
            "linear-learner",
            json!({"predictor_type": "regressor", "mini_batch_size": "5"}),
            "`mini_batch_size`: unknown",
        ),
        ("linear-learner", json!({"predictor_type": "regressor", "wd": "1", "l2": "1"}), "give either `l2` or `wd`"),
    ];
    for (algorithm, hps, expected) in cases {
        let result = layout.run(algorithm, hps.clone()).0;
        match (expected, result) {
            ("ok", Ok(_)) => {}
            (_, Err(e)) => assert!(e.to_string().contains(expected), "{algorithm} {hps}: {e}"),
            (_, Ok(_)) => panic!("{algorithm} {hps}: expected an error containing {expected}"),
        }
    }
}
