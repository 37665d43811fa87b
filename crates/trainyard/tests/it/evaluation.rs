//! The quality gate end to end through the real binary: models trained by training jobs,
//! evaluated by the built-in evaluator as processing jobs on the server (the champion on
//! the same data, in the same run), registered with their decision and lineage, or not
//! registered when the group discards failed candidates.

use serde_json::Value;

use crate::jobs::{run, write_csv};
use crate::process::{cli, stderr, stdout, ServerProcess};

pub fn train(data_dir: &std::path::Path, name: &str, algorithm: &str, hyperparameters: &[&str]) -> String {
    let mut args = vec!["jobs", "create-training", "--name", name, "--algorithm", algorithm];
    for h in hyperparameters {
        args.extend(["--hyperparameter", h]);
    }
    args.extend(["--channel", "train=s3://ml-data/blobs/train/", "--output-path", "s3://ml-data/models", "--wait"]);
    let out = cli(data_dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    format!("s3://ml-data/models/{name}/output/model.tar.gz")
}

fn evaluate(data_dir: &std::path::Path, model: &str, group: &str, conditions: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec![
        "models",
        "evaluate",
        "--repository",
        "github.com/acme/churn",
        "--commit",
        "0a1b2c3",
        "--model",
        model,
        "--test",
        "s3://ml-data/blobs/test/",
        "--group",
        group,
        "--register",
        "-o",
        "json",
    ];
    for c in conditions {
        args.extend(["--condition", c]);
    }
    let out = cli(data_dir, &args);
    let document = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: stdout {:?}, stderr {}", stdout(&out), stderr(&out)));
    (out.status.code(), document)
}

#[test]
fn evaluations_run_as_processing_jobs_and_gate_registration_against_the_champion() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let _server = ServerProcess::start(&data_dir);
    for (channel, rows, seed) in [("train", 600, 1), ("test", 300, 3)] {
        std::fs::create_dir_all(dir.path().join(channel)).unwrap();
        // Overlapping blobs: a linear model separates them better than a one-split stump.
        write_csv(&dir.path().join(channel).join("part-0.csv"), rows, seed, 0.8);
    }
    run(&data_dir, &["data", "mb", "s3://ml-data"]);
    for channel in ["train", "test"] {
        let local = dir.path().join(channel);
        run(&data_dir, &["data", "put", local.to_str().unwrap(), &format!("s3://ml-data/blobs/{channel}/")]);
    }
    let strong = train(&data_dir, "blobs-linear", "linear-learner", &["predictor_type=binary_classifier"]);
    let weak = train(&data_dir, "blobs-stump", "gbdt", &["objective=binary:logistic", "num_round=1", "max_depth=1"]);
    run(&data_dir, &["models", "groups", "create", "blobs", "--approval", "auto"]);
    let gate = ["auc >= 0.8", "auc >= champion.auc - 0.01"];

    // No champion yet: the relative condition passes and says so; auto approval.
    let (code, first) = evaluate(&data_dir, &strong, "blobs", &gate);
    assert_eq!(code, Some(0), "{first:#}");
    assert_eq!(first["registered"]["ModelPackageVersion"], 1, "{first:#}");
    assert_eq!(first["registered"]["ModelApprovalStatus"], "Approved");
    assert!(first["decision"]["conditions"][1]["note"].as_str().unwrap().contains("no champion"), "{first:#}");
    let auc = first["report"]["binary_classification_metrics"]["auc"]["value"].as_f64().unwrap();
    assert!(auc > 0.9, "{auc}");
    // The report is stored next to the model.
    let report_url = first["report_url"].as_str().unwrap();
    assert!(report_url.starts_with("s3://ml-data/models/blobs-linear/output/evaluations/"), "{report_url}");
    let stored = dir.path().join("stored.json");
    run(&data_dir, &["data", "get", report_url, stored.to_str().unwrap()]);
    let stored: Value = serde_json::from_slice(&std::fs::read(&stored).unwrap()).unwrap();
    assert_eq!(stored, first["report"]);

    // The weak candidate meets the champion (version 1, the latest Approved) on the same
    // data in the same run, fails, and is registered Rejected with the reason.
    let (code, second) = evaluate(&data_dir, &weak, "blobs", &gate);
    assert_eq!(code, Some(1), "{second:#}");
    assert_eq!(second["decision"]["champion"], "1");
    assert_eq!(second["champion_report"], first["report"], "the champion's figures on the same data");
    assert_eq!(second["decision"]["conditions"][1]["right"].as_f64().unwrap(), auc - 0.01);
    assert_eq!(second["registered"]["ModelApprovalStatus"], "Rejected");
    let version: Value = serde_json::from_str(&run(&data_dir, &["models", "describe", "blobs/2"])).unwrap();
    assert!(version["ApprovalDescription"].as_str().unwrap().contains("auc >= champion.auc - 0.01"), "{version:#}");
    assert_eq!(version["GateDecision"]["passed"], false);

    // Lineage of a version made by a training job, found from its artifact.
    let version: Value = serde_json::from_str(&run(&data_dir, &["models", "describe", "blobs/1"])).unwrap();
    let lineage = &version["MetadataProperties"];
    assert_eq!(lineage["TrainingJobName"], "blobs-linear", "{version:#}");
    assert_eq!(lineage["AlgorithmName"], "linear-learner");
    let snapshot = lineage["DatasetSnapshot"].as_array().unwrap();
    assert_eq!(snapshot[0]["Uri"], "s3://ml-data/blobs/train/part-0.csv");
    assert!(snapshot[0]["ETag"].as_str().is_some_and(|e| !e.is_empty()));
    let evaluation = lineage["EvaluationDataset"].as_array().unwrap();
    assert!(evaluation.iter().any(|o| o["Uri"] == "s3://ml-data/blobs/test/part-0.csv"), "{lineage:#}");
    assert_eq!(version["CreatedBy"], "arn:aws:iam::000000000000:root");
    assert_eq!(
        (lineage["Repository"].as_str(), lineage["CommitId"].as_str()),
        (Some("github.com/acme/churn"), Some("0a1b2c3"))
    );
    let inference = &version["InferenceSpecification"];
    assert_eq!(inference["Containers"][0]["ModelDataUrl"], strong.as_str());
    assert_eq!(inference["SupportedContentTypes"], serde_json::json!(["text/csv", "application/json"]));

    // A gate against a champion counts only for the group whose champion it met.
    let out = cli(
        &data_dir,
        &[
            "models",
            "evaluate",
            "--model",
            &weak,
            "--test",
            "s3://ml-data/blobs/test/",
            "--condition",
            "auc >= champion.auc - 1",
            "--wait",
            "--job-name",
            "no-group",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = cli(&data_dir, &["models", "register", "--group", "blobs", "--evaluation", "no-group"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("did not meet group blobs's champion"), "{}", stderr(&out));

    // A group that discards failed candidates registers nothing and says why.
    run(&data_dir, &["models", "groups", "create", "strict", "--gate-failure", "discard"]);
    let (code, third) = evaluate(&data_dir, &weak, "strict", &["auc >= 0.99"]);
    assert_eq!(code, Some(1), "{third:#}");
    assert!(third["registered"].is_null());
    assert!(third["not_registered"].as_str().unwrap().contains("auc >= 0.99"), "{third:#}");
    let listed: Value = serde_json::from_str(&run(&data_dir, &["models", "list", "strict", "-o", "json"])).unwrap();
    assert_eq!(listed["ModelPackageSummaryList"], serde_json::json!([]));

    // Every evaluation is a processing job with its events.
    let jobs: Value = serde_json::from_str(&run(&data_dir, &["processing", "list", "-o", "json"])).unwrap();
    let jobs = jobs["ProcessingJobSummaries"].as_array().unwrap();
    assert_eq!(jobs.len(), 4);
    assert!(jobs.iter().all(|j| j["ProcessingJobStatus"] == "Completed"), "{jobs:#?}");
    let events: Value = serde_json::from_str(&run(
        &data_dir,
        &["events", "list", "--detail-type", "SageMaker Processing Job State Change", "--limit", "100", "-o", "json"],
    ))
    .unwrap();
    let statuses: Vec<&str> = events["Events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            e["Event"]["detail"]["ProcessingJobStatus"].as_str().or(e["detail"]["ProcessingJobStatus"].as_str())
        })
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "Completed").count(), 4, "{events:#}");
    assert_eq!(statuses.iter().filter(|s| **s == "InProgress").count(), 4, "{events:#}");

    // A missing test channel fails the evaluation with the reason, and nothing registers.
    let out = cli(
        &data_dir,
        &[
            "models",
            "evaluate",
            "--model",
            &strong,
            "--test",
            "s3://ml-data/nothing/",
            "--group",
            "blobs",
            "--register",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("s3://ml-data/nothing/"), "{}", stderr(&out));
    // Bad input is refused before anything runs.
    let out = cli(
        &data_dir,
        &["models", "evaluate", "--model", &strong, "--test", "s3://ml-data/blobs/test/", "--condition", "auc >> 1"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = cli(
        &data_dir,
        &["models", "evaluate", "--model", &strong, "--test", "s3://ml-data/blobs/test/", "--group", "nope"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
