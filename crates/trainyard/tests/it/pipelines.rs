//! The automated pipeline through the real binary: the quickstart runs the whole loop
//! (commit → build → image → training → evaluation → registration → deployment → new data
//! → retraining) on a fresh data directory; `apply` reports every mistake with its line,
//! is idempotent, and a duplicated trigger starts nothing twice.

use serde_json::{json, Value};

use crate::jobs::run;
use crate::process::{cli, stderr, stdout, ServerProcess};

#[test]
fn the_quickstart_runs_the_whole_loop_and_retrains_on_new_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = std::process::Command::new(crate::process::binary())
        .args(["--data-dir", data.to_str().unwrap(), "quickstart", "--exit"])
        .env_remove("TRAINYARD_ENDPOINT")
        .output()
        .unwrap();
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    for expected in [
        "build completed of commit",
        "image pushed: churn@sha256:",
        "training job churn-",
        "validation:auc=",
        "registered churn/1 Approved",
        "deployment of churn/1 to endpoint churn: completed",
        "prediction for x = [0.9,0.8,0.1]: {\"predictions\":[1]",
        "new data: s3://quickstart-data/churn/train/part-1.csv",
        "registered churn/2",
        ", 0 failed",
        "the platform's own",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
    // Run again on the same directory: it starts afresh.
    let again = std::process::Command::new(crate::process::binary())
        .args(["--data-dir", data.to_str().unwrap(), "quickstart", "--exit"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}{}", stdout(&again), stderr(&again));
}

const PIPELINE: &str = "name: fraud
training:
  algorithm: gbdt
  hyperparameters: {objective: 'binary:logistic', num_round: 5}
  channels:
    train: s3://ml-data/fraud/train/
  output: s3://ml-data/fraud/models
evaluation:
  test: s3://ml-data/fraud/test/
  conditions: ['auc >= 0.5']
registry:
  group: fraud
";

#[test]
fn apply_validates_plans_idempotently_and_duplicates_start_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = ServerProcess::start(&data);
    let file = dir.path().join("trainyard.yaml");

    let broken = PIPELINE.replace("name: fraud", "name: Fraud!").replace("'auc >= 0.5'", "'auc >> 0.5'");
    std::fs::write(&file, broken).unwrap();
    let refused = cli(&data, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let message = stderr(&refused);
    assert!(message.contains("line 1: name") && message.contains("line 10: evaluation.conditions"), "{message}");

    std::fs::write(&file, PIPELINE).unwrap();
    let dry: Value =
        serde_json::from_str(&run(&data, &["apply", "-f", file.to_str().unwrap(), "--dry-run", "-o", "json"])).unwrap();
    assert!(dry["Changes"].as_array().unwrap().iter().all(|c| c["Action"] == "create"), "{dry:#}");
    assert!(stdout(&cli(&data, &["pipelines", "list", "-o", "json"])).contains("[]"), "a dry run changes nothing");
    let applied: Value =
        serde_json::from_str(&run(&data, &["apply", "-f", file.to_str().unwrap(), "-o", "json"])).unwrap();
    let kinds: Vec<&str> = applied["Changes"].as_array().unwrap().iter().map(|c| c["Kind"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"rule") && kinds.contains(&"function") && kinds.contains(&"model package group"),
        "{kinds:?}"
    );
    let again: Value =
        serde_json::from_str(&run(&data, &["apply", "-f", file.to_str().unwrap(), "-o", "json"])).unwrap();
    assert!(again["Changes"].as_array().unwrap().iter().all(|c| c["Action"] == "unchanged"), "{again:#}");
    let rules = run(&data, &["rules", "list", "-o", "json"]);
    assert!(rules.contains("fraud-on-training") && rules.contains("fraud-on-evaluation"), "{rules}");

    // A duplicated trigger (the same commit twice) starts one run and one training job.
    let event = json!({"id": "e-1", "detail-type": "Git Push", "source": "trainyard.source",
                       "detail": {"source": "fraud", "after": "0123456789abcdef0123456789abcdef01234567"}});
    let event = event.to_string();
    let first = run(&data, &["functions", "invoke", "fraud-trigger-model-training", "--event", &event]);
    let second = run(&data, &["functions", "invoke", "fraud-trigger-model-training", "--event", &event]);
    assert!(first.contains("fraud-0123456789ab"), "{first}");
    assert!(second.contains("Duplicate"), "{second}");
    let runs: Value = serde_json::from_str(&run(&data, &["pipelines", "runs", "fraud", "-o", "json"])).unwrap();
    assert_eq!(runs["Runs"].as_array().unwrap().len(), 1, "{runs:#}");
    let jobs = run(&data, &["jobs", "list", "-o", "json"]);
    assert_eq!(jobs.matches("\"fraud-0123456789ab\"").count(), 1, "{jobs}");

    let deleted = cli(&data, &["pipelines", "delete", "fraud"]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert!(!run(&data, &["rules", "list", "-o", "json"]).contains("fraud-on-training"));
}
