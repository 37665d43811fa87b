use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{script_job, transitions, Harness};

const TRAIN_SH: &str = r#"#!/bin/bash
set -e
test -f "$SM_INPUT_CONFIG_DIR/hyperparameters.json"
test -f "$SM_INPUT_CONFIG_DIR/resourceconfig.json"
cat "$SM_CHANNEL_TRAIN/part-1.csv" > "$SM_MODEL_DIR/model.txt"
echo "args: $*" >&2
echo "epochs=$SM_HP_EPOCHS job=$TRAINING_JOB_NAME" > "$SM_OUTPUT_DATA_DIR/notes.txt"
for i in 1 2 3; do echo "epoch $i loss=0.$((4 - i))"; done
echo "validation accuracy: 0.93"
"#;

#[tokio::test]
async fn a_script_runs_under_the_sagemaker_contract() {
    let h = Harness::start(2).await;
    h.put("train/part-1.csv", b"1,2,3\n").await;
    h.put_source("code/source.tar.gz", &[("train.sh", TRAIN_SH)]).await;
    let mut request = script_job("contract-1", "code/source.tar.gz", "train.sh", &[("epochs", "3")]);
    request["AlgorithmSpecification"]["MetricDefinitions"] = json!([
        {"Name": "train:loss", "Regex": "loss=([0-9.]+)"},
        {"Name": "validation:accuracy", "Regex": "validation accuracy: ([0-9.]+)"}
    ]);
    let answer = h.create(request).await.unwrap();
    assert_eq!(answer["TrainingJobArn"], "arn:aws:sagemaker:local:000000000000:training-job/contract-1");
    let job = h.wait_for("contract-1", &["Completed", "Failed", "Stopped"]).await;
    assert_eq!(job["TrainingJobStatus"], "Completed", "{job:#}");
    assert_eq!(transitions(&job), ["Starting", "Downloading", "Training", "Uploading", "Completed"]);
    assert_eq!(job["ModelArtifacts"]["S3ModelArtifacts"], "s3://data/output/contract-1/output/model.tar.gz");
    let finals: Vec<(String, f64)> = job["FinalMetricDataList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["MetricName"].as_str().unwrap().to_string(), m["Value"].as_f64().unwrap()))
        .collect();
    assert_eq!(finals, [("train:loss".to_string(), 0.1), ("validation:accuracy".to_string(), 0.93)]);
    let series = h.jobs.metrics("contract-1").await.unwrap();
    assert_eq!(series.iter().filter(|p| p.metric_name == "train:loss").count(), 3, "every value is kept");
    assert_eq!(job["DatasetSnapshot"][0]["Uri"], "s3://data/train/part-1.csv");
    assert!(job["DatasetSnapshot"][0]["ETag"].as_str().unwrap().len() == 32);

    // model.tar.gz holds model/ at its root; output.tar.gz holds output/data/.
    for (key, file, content) in [
        ("output/contract-1/output/model.tar.gz", "model.txt", "1,2,3\n"),
        ("output/contract-1/output/output.tar.gz", "notes.txt", "epochs=3 job=contract-1\n"),
    ] {
        let (_, stream) = h.objects.get("data", key, None).await.unwrap();
        let bytes: Vec<bytes::Bytes> = futures::TryStreamExt::try_collect(stream).await.unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::Cursor::new(bytes.concat())));
        let mut found = None;
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_str() == Some(file) {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
                found = Some(text);
            }
        }
        assert_eq!(found.as_deref(), Some(content), "{key}");
    }
    let log = h.jobs.logs("contract-1", 0).await.unwrap();
    assert!(log.text.contains("args: --epochs 3"), "hyperparameters arrive as arguments: {}", log.text);
    assert!(log.complete);

    let events = h.events("contract-1").await;
    let seen: Vec<&str> = events.iter().map(|e| e["detail"]["SecondaryStatus"].as_str().unwrap()).collect();
    assert_eq!(seen, ["Starting", "Downloading", "Training", "Uploading", "Completed"]);
    assert_eq!(events[0]["detail-type"], "SageMaker Training Job State Change");
    assert_eq!(events.last().unwrap()["detail"]["TrainingJobStatus"], "Completed");
    assert_eq!(
        events.last().unwrap()["resources"],
        json!(["arn:aws:sagemaker:local:000000000000:training-job/contract-1"])
    );
}

#[tokio::test]
async fn failures_surface_their_reason() {
    let h = Harness::start(2).await;
    h.put("train/part-1.csv", b"x").await;
    let with_file =
        "#!/bin/bash\necho 'Label column missing in train.csv line 3' > \"$SM_OUTPUT_DIR/failure\"\nexit 3\n";
    let without_file = "#!/bin/bash\necho 'Traceback: something broke' >&2\necho 'ValueError: bad input' >&2\nexit 1\n";
    h.put_source("code/a.tar.gz", &[("train.sh", with_file)]).await;
    h.put_source("code/b.tar.gz", &[("train.sh", without_file)]).await;
    h.create(script_job("fails-with-file", "code/a.tar.gz", "train.sh", &[])).await.unwrap();
    h.create(script_job("fails-without-file", "code/b.tar.gz", "train.sh", &[])).await.unwrap();
    let job = h.wait_for("fails-with-file", &["Failed", "Completed"]).await;
    assert_eq!(job["TrainingJobStatus"], "Failed");
    assert_eq!(job["FailureReason"], "Label column missing in train.csv line 3");
    let job = h.wait_for("fails-without-file", &["Failed", "Completed"]).await;
    let reason = job["FailureReason"].as_str().unwrap();
    assert!(reason.contains("exit code 1") && reason.contains("ValueError: bad input"), "{reason}");
    assert_eq!(transitions(&job).last().unwrap(), "Failed");
}

#[tokio::test]
async fn max_runtime_stops_the_job_even_if_it_ignores_sigterm() {
    let h = Harness::start(2).await;
    h.put("train/part-1.csv", b"x").await;
    let stubborn = "#!/bin/bash\ntrap '' TERM\necho saved > \"$SM_MODEL_DIR/partial.txt\"\nsleep 60 & wait\nsleep 60\n";
    h.put_source("code/s.tar.gz", &[("train.sh", stubborn)]).await;
    let mut request = script_job("too-slow", "code/s.tar.gz", "train.sh", &[]);
    request["StoppingCondition"]["MaxRuntimeInSeconds"] = json!(1);
    let started = Instant::now();
    h.create(request).await.unwrap();
    let job = h.wait_for("too-slow", &["Stopped", "Failed", "Completed"]).await;
    assert_eq!(job["TrainingJobStatus"], "Stopped", "{job:#}");
    assert!(transitions(&job).contains(&"MaxRuntimeExceeded".to_string()), "{:?}", transitions(&job));
    assert!(started.elapsed() < Duration::from_secs(20), "SIGKILL after the grace period: {:?}", started.elapsed());
    assert_eq!(
        job["ModelArtifacts"]["S3ModelArtifacts"], "s3://data/output/too-slow/output/model.tar.gz",
        "what was saved is kept"
    );
}

#[tokio::test]
async fn descendants_that_leave_the_process_group_stop_with_the_job() {
    let h = Harness::start(2).await;
    h.put("train/part-1.csv", b"x").await;
    let marks = tempfile::tempdir().unwrap();
    let escaping = |name: &str| {
        let marker = marks.path().join(name);
        format!("#!/bin/bash\nsetsid sh -c 'sleep 4; touch {}' &\nsleep 60\n", marker.display())
    };
    h.put_source("code/runtime.tar.gz", &[("train.sh", &escaping("after-max-runtime"))]).await;
    h.put_source("code/stop.tar.gz", &[("train.sh", &escaping("after-stop"))]).await;
    let mut request = script_job("escapes-runtime", "code/runtime.tar.gz", "train.sh", &[]);
    request["StoppingCondition"]["MaxRuntimeInSeconds"] = json!(2);
    let started = Instant::now();
    h.create(request).await.unwrap();
    h.create(script_job("escapes-stop", "code/stop.tar.gz", "train.sh", &[])).await.unwrap();
    h.wait_for("escapes-stop", &["Training"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.jobs.stop("escapes-stop").await.unwrap();
    for name in ["escapes-runtime", "escapes-stop"] {
        let job = h.wait_for(name, &["Stopped", "Failed", "Completed"]).await;
        assert_eq!(job["TrainingJobStatus"], "Stopped", "{job:#}");
    }
    assert!(started.elapsed() < Duration::from_secs(8), "stopping took {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_secs(5)).await;
    for marker in ["after-max-runtime", "after-stop"] {
        assert!(!marks.path().join(marker).exists(), "a setsid descendant outlived its job ({marker})");
    }
}

#[tokio::test]
async fn stop_and_queueing_and_empty_channels() {
    let h = Harness::start(1).await;
    h.put("train/part-1.csv", b"x").await;
    h.put_source("code/long.tar.gz", &[("train.sh", "#!/bin/bash\nsleep 30\n")]).await;
    h.create(script_job("long-1", "code/long.tar.gz", "train.sh", &[])).await.unwrap();
    h.wait_for("long-1", &["Training"]).await;
    h.create(script_job("queued-2", "code/long.tar.gz", "train.sh", &[])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queued = h.jobs.describe("queued-2").await.unwrap();
    assert_eq!(
        (queued["TrainingJobStatus"].as_str(), queued["SecondaryStatus"].as_str()),
        (Some("InProgress"), Some("Starting"))
    );

    h.jobs.stop("queued-2").await.unwrap();
    let job = h.wait_for("queued-2", &["Stopped"]).await;
    assert_eq!(transitions(&job), ["Starting", "Stopped"]);
    let started = Instant::now();
    h.jobs.stop("long-1").await.unwrap();
    let job = h.wait_for("long-1", &["Stopped", "Failed", "Completed"]).await;
    assert_eq!(job["TrainingJobStatus"], "Stopped");
    assert!(transitions(&job).contains(&"Stopping".to_string()));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(h.jobs.stop("long-1").await.is_err(), "a stopped job cannot be stopped again");

    let mut request = script_job("empty-channel", "code/long.tar.gz", "train.sh", &[]);
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = json!("s3://data/nothing-here/");
    h.create(request).await.unwrap();
    let job = h.wait_for("empty-channel", &["Failed", "Completed"]).await;
    let reason = job["FailureReason"].as_str().unwrap();
    assert!(reason.starts_with("ClientError") && reason.contains("s3://data/nothing-here/"), "{reason}");
}

#[tokio::test]
async fn bad_requests_are_refused_with_every_problem() {
    let h = Harness::start(1).await;
    let mut request = script_job("bad job", "code/x.tar.gz", "train.sh", &[]);
    request["ResourceConfig"]["InstanceCount"] = json!(2);
    request["StoppingCondition"]["MaxRuntimeInSeconds"] = json!(0);
    request["AlgorithmSpecification"]["MetricDefinitions"] = json!([{"Name": "m", "Regex": "no group"}]);
    let err = h.create(request).await.unwrap_err().to_string();
    for needle in ["training job name", "InstanceCount", "MaxRuntimeInSeconds", "capture group"] {
        assert!(err.contains(needle), "{needle} missing from: {err}");
    }
    let image = json!({
        "TrainingJobName": "image-job",
        "AlgorithmSpecification": {"TrainingImage": "localhost/x:1", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://data/o"}
    });
    assert!(h.create(image).await.unwrap_err().to_string().contains("registry"));
    let unknown = json!({"TrainingJobName": "u", "AlgorithmSpecification": {"AlgorithmName": "nope"}, "OutputDataConfig": {"S3OutputPath": "s3://data/o"}});
    assert!(h.create(unknown).await.unwrap_err().to_string().contains("not a built-in"));
}
