//! Runs through the contract on synthetic data (no Python needed).

use std::sync::Mutex;

use regex::Regex;
use serde_json::json;
use trainyard_algorithms::{
    default_metric_definitions, predict, resolve_hyperparameters, run_from_environment, ContractPaths, CsvOptions,
    Dataset, LabelRule,
};

use crate::common::{final_metric, metric_pairs, object, synthetic_csv, Layout};

/// Every metric pair in `log` is matched by exactly its metric definition's regex.
fn check_metric_definitions(algorithm: &str, log: &str) {
    let defs: Vec<(String, Regex)> = default_metric_definitions(algorithm)
        .into_iter()
        .map(|(name, re)| (name, Regex::new(&re).expect("valid regex")))
        .collect();
    let mut seen = 0;
    for line in log.lines().filter(|l| l.starts_with("#metric ")) {
        for (name, value) in metric_pairs(line) {
            let (_, re) = defs.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no definition for {name}"));
            let captured: f64 = re.captures(line).expect("regex matches")[1].parse().expect("number");
            assert_eq!(captured, value, "{name} in {line}");
            seen += 1;
        }
    }
    assert!(seen > 0, "no metrics in {log}");
}

#[test]
fn gbdt_binary_writes_onnx_model_json_and_metrics() {
    let mut layout = Layout::new();
    layout.train_file("part-0.csv", &synthetic_csv("binary", 1500, 1));
    layout.train_file("part-1.csv", &synthetic_csv("binary", 500, 2));
    layout.validation_file("valid.csv", &synthetic_csv("binary", 500, 3));
    let hps = json!({"objective": "binary:logistic", "num_round": "20", "max_depth": "3", "eta": "0.3",
        "eval_metric": "auc", "_tuning_objective_metric": "validation:auc"});
    let (outcome, log) = layout.run("gbdt", hps);
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert!(final_metric(&outcome, "validation:auc") > 0.97, "{log}");
    assert_eq!(log.lines().filter(|l| l.starts_with("#metric ") && l.contains(" round=")).count(), 20);
    assert!(log.lines().any(|l| l.starts_with("#timing load_seconds=") && l.contains(" train_seconds=")));
    check_metric_definitions("gbdt", &log);

    let onnx = std::fs::read(layout.paths.model_dir.join("model.onnx")).expect("model.onnx");
    assert_eq!(&onnx[..2], &[0x08, 0x08], "ModelProto starts with ir_version 8");
    let meta = layout.model_json();
    assert_eq!(meta["problem_type"], "binary_classification");
    assert_eq!(meta["input_name"], "input");
    assert_eq!(meta["feature_count"], 3);
    assert_eq!(meta["feature_names"], json!(["f0", "f1", "f2"]));
    assert_eq!(meta["output_names"], json!(["label", "probabilities"]));
    assert_eq!(meta["class_labels"], json!([0, 1]));
    assert_eq!(meta["producer"], "trainyard-gbdt");
    assert_eq!(meta["algorithm"], "gbdt");
    assert_eq!(meta["hyperparameters"]["num_round"], 20);
    assert_eq!(meta["hyperparameters"]["max_depth"], 3);
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.paths.output_data_dir.join("metrics.json")).expect("metrics"))
            .expect("json");
    assert!(metrics["validation:auc"].as_f64().expect("auc") > 0.97);

    // The returned model predicts the validation data as the log says.
    let valid = layout.paths.validation.as_ref().expect("validation");
    let ds = Dataset::load_channel("validation", valid, &CsvOptions::default(), &LabelRule::Any).expect("load");
    let p = predict(&outcome.model, &ds).expect("predict");
    let targets: Vec<u32> = ds.labels.iter().map(|&l| l as u32).collect();
    let auc = trainyard_algorithms::auc(&targets, &p.positive_probabilities());
    assert!((auc - final_metric(&outcome, "validation:auc")).abs() < 1e-9);
}

#[test]
fn linear_learner_multiclass_with_a_named_label_column() {
    let layout = Layout::new();
    let text = synthetic_csv("multiclass", 1200, 4);
    let mut csv = String::from("alpha,beta,label,gamma\n");
    for line in text.lines() {
        let cells: Vec<&str> = line.split(',').collect();
        csv.push_str(&format!("{},{},{},{}\n", cells[1], cells[2], cells[0], cells[3]));
    }
    layout.train_file("train.csv", &csv);
    let hps = json!({"predictor_type": "multiclass_classifier", "num_classes": 3, "label_column": "label",
        "content_type": "text/csv;header=present"});
    let (outcome, log) = layout.run("linear-learner", hps);
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert!(final_metric(&outcome, "train:accuracy") > 0.9, "{log}");
    check_metric_definitions("linear-learner", &log);
    let meta = layout.model_json();
    assert_eq!(meta["feature_names"], json!(["alpha", "beta", "gamma"]));
    assert_eq!(meta["class_labels"], json!([0, 1, 2]));
    assert_eq!(meta["producer"], "trainyard-linear-learner");
    assert_eq!(meta["hyperparameters"]["label_column"], "label");
}

#[test]
fn regression_with_both_algorithms() {
    for (algorithm, hps) in [
        ("gbdt", json!({"num_round": "60", "max_depth": "4", "eta": "0.2", "nthread": "2"})),
        ("linear-learner", json!({"predictor_type": "regressor", "wd": "0"})),
    ] {
        let mut layout = Layout::new();
        layout.train_file("train.csv", &synthetic_csv("regression", 2000, 5));
        layout.validation_file("valid.csv", &synthetic_csv("regression", 500, 6));
        let (outcome, log) = layout.run(algorithm, hps);
        let outcome = outcome.unwrap_or_else(|e| panic!("{e}\n{log}"));
        let r2 = final_metric(&outcome, "validation:r2");
        // The target has an x2² term: trees fit it, a linear model cannot (≈ 0.9 of the variance is linear).
        let floor = if algorithm == "gbdt" { 0.97 } else { 0.85 };
        assert!(r2 > floor, "{algorithm}: r2 {r2}\n{log}");
        assert_eq!(layout.model_json()["output_names"], json!(["prediction"]));
        check_metric_definitions(algorithm, &log);
    }
}

#[test]
fn paths_and_hyperparameters_resolve_from_variables() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    let p = ContractPaths::resolve(&vars(&[("SM_TRAINING_ROOT", "/r"), ("SM_MODEL_DIR", "/m")]));
    assert_eq!(p.train, std::path::Path::new("/r/input/data/train"));
    assert_eq!(p.model_dir, std::path::Path::new("/m"));
    assert_eq!(p.output_data_dir, std::path::Path::new("/r/output/data"));
    assert_eq!(p.failure_file, std::path::Path::new("/r/output/failure"));
    assert_eq!(p.validation, None);
    let p = ContractPaths::resolve(&vars(&[("SM_CHANNEL_VALIDATION", "/v"), ("SM_OUTPUT_DIR", "/o")]));
    assert_eq!(p.validation.as_deref(), Some(std::path::Path::new("/v")));
    assert_eq!(p.failure_file, std::path::Path::new("/o/failure"));
    assert_eq!(p.train, std::path::Path::new("/opt/ml/input/data/train"));

    let hps = resolve_hyperparameters(&vars(&[("SM_HPS", r#"{"eta": 0.1}"#)])).expect("SM_HPS");
    assert_eq!(hps, object(json!({"eta": 0.1})));
    assert!(resolve_hyperparameters(&vars(&[("SM_HPS", "[1]")])).is_err());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hyperparameters.json"), r#"{"eta": "0.2"}"#).expect("write");
    let config = dir.path().to_string_lossy().to_string();
    let get = move |k: &str| (k == "SM_INPUT_CONFIG_DIR").then(|| config.clone());
    assert_eq!(resolve_hyperparameters(&get).expect("file"), object(json!({"eta": "0.2"})));
    let empty = tempfile::tempdir().expect("tempdir");
    let root = empty.path().to_string_lossy().to_string();
    let get = move |k: &str| (k == "SM_TRAINING_ROOT").then(|| root.clone());
    assert!(resolve_hyperparameters(&get).expect("missing file").is_empty());
}

/// Serialises the tests that change process environment variables (only this one does).
static ENV: Mutex<()> = Mutex::new(());

#[test]
fn run_from_environment_uses_the_opt_ml_layout_and_writes_failures() {
    let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
    for name in [
        "SM_HPS",
        "SM_CHANNEL_TRAIN",
        "SM_CHANNEL_VALIDATION",
        "SM_MODEL_DIR",
        "SM_OUTPUT_DATA_DIR",
        "SM_OUTPUT_DIR",
        "SM_INPUT_CONFIG_DIR",
    ] {
        std::env::remove_var(name);
    }
    let layout = Layout::new();
    let root = layout.dir.path();
    layout.train_file("train.csv", &synthetic_csv("binary", 300, 7));
    std::fs::create_dir_all(root.join("input/config")).expect("mkdir");
    let config = root.join("input/config/hyperparameters.json");
    std::env::set_var("SM_TRAINING_ROOT", root);

    std::fs::write(&config, r#"{"objective": "binary:logistic", "num_round": "5"}"#).expect("write");
    run_from_environment("gbdt").expect("run");
    assert!(root.join("model/model.onnx").is_file() && root.join("model/model.json").is_file());
    assert!(root.join("output/data/metrics.json").is_file());
    assert!(!root.join("output/failure").exists());

    std::fs::write(&config, r#"{"objective": "binary:logistic", "eta": "1.5"}"#).expect("write");
    let err = run_from_environment("gbdt").expect_err("bad eta");
    let failure = std::fs::read_to_string(root.join("output/failure")).expect("failure file");
    assert_eq!(failure, err.to_string());
    assert!(failure.starts_with("hyperparameter `eta`: must be in (0, 1]"), "{failure}");

    let err = run_from_environment("kmeans").expect_err("unknown algorithm");
    assert!(err.to_string().contains("unknown algorithm `kmeans`"));
    std::env::remove_var("SM_TRAINING_ROOT");
}
