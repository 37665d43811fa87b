//! `trainyard models evaluate` on real exports and scikit-learn's bundled data (needs
//! `TRAINYARD_PYTHON`; skipped without it, CI sets it).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::process::{binary, stderr, stdout};

fn fixtures() -> Option<tempfile::TempDir> {
    let Some(python) = std::env::var_os("TRAINYARD_PYTHON").filter(|p| !p.is_empty()) else {
        println!("skipped: TRAINYARD_PYTHON is not set");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (script, args) in [
        (
            "tests/runtime/make_matrix.py",
            vec![dir.path().join("models"), "--only".into(), "logreg_binary,rf_cls_binary".into()],
        ),
        ("tests/data/make_datasets.py", vec![dir.path().join("data")]),
    ] {
        let status = Command::new(&python)
            .arg(repository.join(script))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    }
    Some(dir)
}

fn models(args: &[&str]) -> std::process::Output {
    Command::new(binary()).arg("models").args(args).env_remove("ORT_DYLIB_PATH").output().expect("run trainyard")
}

#[test]
fn evaluate_prints_and_stores_the_report_and_applies_the_gate() {
    let Some(root) = fixtures() else { return };
    let p = |rel: &str| root.path().join(rel).to_str().unwrap().to_string();
    let (model, champion, test, report) = (
        p("models/logreg_binary/model.onnx"),
        p("models/rf_cls_binary/model.onnx"),
        p("data/breast_cancer/test"),
        p("report.json"),
    );

    let out = models(&["evaluate", "--model", &model, "--test", &test, "--report", &report]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let stored: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(printed, stored);
    let auc = &printed["binary_classification_metrics"]["auc"];
    assert!(auc["value"].as_f64().unwrap() > 0.9 && auc["standard_deviation"].as_f64().unwrap() > 0.0, "{auc}");

    // A gate the candidate passes exits 0 with the decision; one it fails exits 1.
    let out = models(&[
        "evaluate",
        "--model",
        &model,
        "--test",
        &test,
        "--condition",
        "auc >= 0.9",
        "--champion",
        &champion,
        "--condition",
        "auc >= champion.auc - 0.5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let decision: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(decision["decision"]["passed"], true);
    assert!(
        decision["decision"]["conditions"][1]["right"].as_f64().is_some(),
        "the champion was evaluated: {decision}"
    );
    let out = models(&["evaluate", "--model", &model, "--test", &test, "--condition", "accuracy > 0.999"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("the gate failed"));

    // Bad input: exit 2 naming the problem.
    let out = models(&["evaluate", "--model", &model, "--test", &test, "--condition", "auc >= banana"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("auc >= banana"), "{}", stderr(&out));
    let out = models(&["evaluate", "--model", &model, "--test", &p("data/iris/test")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("the model expects 30 features, the test data has 4"), "{}", stderr(&out));
}

/// Evaluate, gate, register, approve, alias and compare through the real server and CLI.
#[test]
fn the_registry_from_the_command_line() {
    let Some(root) = fixtures() else { return };
    let p = |rel: &str| root.path().join(rel).to_str().unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let _server = crate::process::ServerProcess::start(data.path());
    let run = |args: &[&str]| crate::process::cli(data.path(), args);

    let out = run(&["models", "groups", "create", "churn", "--approval", "auto"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (report, decision) = (p("report.json"), p("decision.json"));
    let out = run(&[
        "models",
        "evaluate",
        "--model",
        &p("models/logreg_binary/model.onnx"),
        "--test",
        &p("data/breast_cancer/test"),
        "--report",
        &report,
        "--condition",
        "auc >= 0.9",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&decision, stdout(&out)).unwrap();

    let out = run(&[
        "models",
        "register",
        "--group",
        "churn",
        "--model-data",
        "s3://models/churn/1.tar.gz",
        "--report",
        &report,
        "--decision",
        &decision,
    ]);
    assert_eq!(stdout(&out).trim(), "churn/1 Approved", "{}", stderr(&out));
    let out = run(&[
        "models",
        "register",
        "--group",
        "churn",
        "--model-data",
        "s3://models/churn/2.tar.gz",
        "--status",
        "PendingManualApproval",
    ]);
    assert_eq!(stdout(&out).trim(), "churn/2 PendingManualApproval", "{}", stderr(&out));
    let out = run(&["models", "approve", "churn/2", "--description", "reviewed"]);
    assert_eq!(stdout(&out).trim(), "churn/2 Approved", "{}", stderr(&out));
    assert!(run(&["models", "alias", "set", "churn", "champion", "1"]).status.success());

    let out = run(&["models", "describe", "churn/champion"]);
    let described: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(described["ModelPackageVersion"], 1);
    assert_eq!(described["GateDecision"]["passed"], true);
    assert!(described["ModelMetrics"]["binary_classification_metrics"]["auc"]["value"].as_f64().unwrap() > 0.9);

    let out = run(&["models", "compare", "churn/1", "churn/2", "-o", "json"]);
    let compared: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let auc = compared["Metrics"].as_array().unwrap().iter().find(|m| m["Metric"] == "auc").expect("auc row");
    assert!(auc["First"].as_f64().is_some() && auc["Second"].is_null(), "{compared}");

    // Deleting a group with versions needs --force; a bad reference is a usage error.
    assert_eq!(run(&["models", "groups", "delete", "churn"]).status.code(), Some(2));
    assert_eq!(run(&["models", "describe", "churn"]).status.code(), Some(2));
    assert!(run(&["models", "groups", "delete", "churn", "--force"]).status.success());
}
