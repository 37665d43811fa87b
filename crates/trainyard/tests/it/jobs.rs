//! Training jobs through the real binary: a built-in algorithm end to end, and a
//! server killed (-9) in the middle of a job.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::{cli, stderr, stdout, ServerProcess};

pub fn run(dir: &std::path::Path, args: &[&str]) -> String {
    let output = cli(dir, args);
    assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
    stdout(&output)
}

fn describe(dir: &std::path::Path, name: &str) -> Value {
    serde_json::from_str(&run(dir, &["jobs", "describe", name, "--output", "json"])).unwrap()
}

/// Two noisy blobs `shift` apart: label in the first column, no header (SageMaker's
/// convention).
pub fn write_csv(path: &std::path::Path, rows: usize, seed: u64, shift: f64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f64) / (1u64 << 31) as f64
    };
    let mut text = String::new();
    for i in 0..rows {
        let label = i % 2;
        let shift = if label == 1 { shift } else { 0.0 };
        text.push_str(&format!("{label},{:.4},{:.4},{:.4}\n", next() + shift, next() * 2.0 - shift, next()));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_built_in_algorithm_trains_through_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let _server = ServerProcess::start(&data_dir);
    std::fs::create_dir_all(dir.path().join("train")).unwrap();
    std::fs::create_dir_all(dir.path().join("validation")).unwrap();
    write_csv(&dir.path().join("train/part-0.csv"), 600, 1, 1.5);
    write_csv(&dir.path().join("validation/part-0.csv"), 200, 2, 1.5);
    run(&data_dir, &["data", "mb", "s3://ml-data"]);
    run(&data_dir, &["data", "put", dir.path().join("train").to_str().unwrap(), "s3://ml-data/blobs/train/"]);
    run(&data_dir, &["data", "put", dir.path().join("validation").to_str().unwrap(), "s3://ml-data/blobs/validation/"]);
    let waited = cli(
        &data_dir,
        &[
            "jobs",
            "create-training",
            "--name",
            "blobs-gbdt",
            "--algorithm",
            "gbdt",
            "--hyperparameter",
            "objective=binary:logistic",
            "--hyperparameter",
            "num_round=30",
            "--hyperparameter",
            "max_depth=3",
            "--channel",
            "train=s3://ml-data/blobs/train/",
            "--channel",
            "validation=s3://ml-data/blobs/validation/",
            "--output-path",
            "s3://ml-data/models",
            "--wait",
        ],
    );
    assert_eq!(waited.status.code(), Some(0), "{}", stderr(&waited));
    let job = describe(&data_dir, "blobs-gbdt");
    assert_eq!(job["TrainingJobStatus"], "Completed", "{job:#}");
    let artifact = job["ModelArtifacts"]["S3ModelArtifacts"].as_str().unwrap();
    assert_eq!(artifact, "s3://ml-data/models/blobs-gbdt/output/model.tar.gz");
    let auc = job["FinalMetricDataList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["MetricName"] == "validation:auc")
        .and_then(|m| m["Value"].as_f64())
        .expect("validation:auc in FinalMetricDataList");
    assert!(auc > 0.85, "validation AUC {auc}");

    let tarball = dir.path().join("model.tar.gz");
    run(&data_dir, &["data", "get", artifact, tarball.to_str().unwrap()]);
    let listing = std::process::Command::new("tar").arg("tzf").arg(&tarball).output().unwrap();
    let names = String::from_utf8_lossy(&listing.stdout).to_string();
    assert!(names.contains("model.onnx") && names.contains("model.json"), "{names}");

    // A wrong hyperparameter fails the job with a reason naming it.
    let failed = cli(
        &data_dir,
        &[
            "jobs",
            "create-training",
            "--name",
            "blobs-bad",
            "--algorithm",
            "gbdt",
            "--hyperparameter",
            "max_depth=-4",
            "--channel",
            "train=s3://ml-data/blobs/train/",
            "--output-path",
            "s3://ml-data/models",
            "--wait",
        ],
    );
    assert_eq!(failed.status.code(), Some(1));
    let job = describe(&data_dir, "blobs-bad");
    assert!(job["FailureReason"].as_str().unwrap().contains("max_depth"), "{job:#}");
}

#[test]
fn a_job_interrupted_by_a_server_crash_is_failed_with_a_reason_and_its_process_killed() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut server = ServerProcess::start(&data_dir);
    let source = dir.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    let marker = dir.path().join("still-running");
    std::fs::write(
        source.join("train.sh"),
        format!("#!/bin/bash\nwhile true; do date > {}; sleep 0.2; done\n", marker.display()),
    )
    .unwrap();
    let tarball = dir.path().join("sourcedir.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&source)
        .arg("train.sh")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(dir.path().join("data.csv"), "1,2\n").unwrap();
    run(&data_dir, &["data", "mb", "s3://crash-test"]);
    run(&data_dir, &["data", "put", tarball.to_str().unwrap(), "s3://crash-test/code/sourcedir.tar.gz"]);
    run(&data_dir, &["data", "put", dir.path().join("data.csv").to_str().unwrap(), "s3://crash-test/train/"]);
    run(
        &data_dir,
        &[
            "jobs",
            "create-training",
            "--name",
            "forever",
            "--hyperparameter",
            "sagemaker_program=train.sh",
            "--hyperparameter",
            "sagemaker_submit_directory=s3://crash-test/code/sourcedir.tar.gz",
            "--channel",
            "train=s3://crash-test/train/",
            "--output-path",
            "s3://crash-test/out",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while describe(&data_dir, "forever")["SecondaryStatus"] != "Training" {
        assert!(Instant::now() < deadline, "the job never started training");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    server.kill_hard();
    let _server = ServerProcess::start(&data_dir);
    let job = describe(&data_dir, "forever");
    assert_eq!(job["TrainingJobStatus"], "Failed", "{job:#}");
    assert!(job["FailureReason"].as_str().unwrap().contains("restarted"), "{job:#}");
    let before = std::fs::read_to_string(&marker).unwrap_or_default();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap_or_default(),
        before,
        "the orphaned training process was killed"
    );
}
