//! Processing jobs with real processes: a SageMaker ScriptProcessor-style evaluation
//! script, failures, stops, path confinement and validation.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::Harness;

const EVALUATE: &str = r#"
import json, os, sys
model_dir, out = sys.argv[sys.argv.index("--model-dir") + 1], os.environ["SM_PROCESSING_OUTPUT_EVALUATION"]
assert model_dir == os.environ["SM_CHANNEL_MODEL"], (model_dir, os.environ["SM_CHANNEL_MODEL"])
weights = json.load(open(os.path.join(model_dir, "model.json")))["weights"]
rows = [list(map(float, line.split(","))) for line in open(os.path.join(os.environ["SM_CHANNEL_TEST"], "part-0.csv"))]
correct = sum(1 for r in rows if (sum(w * x for w, x in zip(weights, r[1:])) > 0) == (r[0] == 1))
os.makedirs(os.path.join(out, "plots"), exist_ok=True)
json.dump({"metrics": {"accuracy": {"value": correct / len(rows)}}, "threshold": os.environ["THRESHOLD"]}, open(os.path.join(out, "evaluation.json"), "w"))
open(os.path.join(out, "plots", "curve.txt"), "w").write("roc")
os.symlink("/etc/passwd", os.path.join(out, "leak"))
config = json.load(open(os.path.join(os.environ["SM_PROCESSING_ROOT"], "..", "config", "processingjobconfig.json")))
print("evaluated", len(rows), "rows for", config["ProcessingJobName"], "as", os.environ["PROCESSING_JOB_NAME"])
"#;

fn s3_input(name: &str, uri: &str, path: &str) -> Value {
    json!({"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": path, "S3DataType": "S3Prefix", "S3InputMode": "File"}})
}

fn script_request(name: &str, entrypoint: &[&str], arguments: &[&str]) -> Value {
    json!({
        "ProcessingJobName": name,
        "RoleArn": "arn:aws:iam::000000000000:role/SageMaker",
        "AppSpecification": {"ImageUri": "sklearn-processing:1.2", "ContainerEntrypoint": entrypoint, "ContainerArguments": arguments},
        "ProcessingInputs": [
            s3_input("code", "s3://data/code/", "/opt/ml/processing/input/code"),
            s3_input("model", "s3://data/model/", "/opt/ml/processing/model"),
            s3_input("test", "s3://data/test/", "/opt/ml/processing/test"),
        ],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "evaluation", "S3Output": {
            "S3Uri": "s3://data/evaluations/run-1", "LocalPath": "/opt/ml/processing/evaluation", "S3UploadMode": "EndOfJob"}}]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "Environment": {"THRESHOLD": "0.5"}
    })
}

async fn fixtures(h: &Harness) {
    h.put("code/evaluate.py", EVALUATE.as_bytes()).await;
    h.put("model/model.json", br#"{"weights": [1.0, -1.0]}"#).await;
    h.put("test/part-0.csv", b"1,2.0,0.5\n0,0.1,0.9\n1,0.3,0.2\n0,0.5,0.7\n").await;
}

#[tokio::test]
async fn a_script_processor_evaluation_runs_under_the_processing_contract() {
    let h = Harness::start(1).await;
    fixtures(&h).await;
    let arn = h
        .create_processing(script_request(
            "eval-1",
            &["python3", "/opt/ml/processing/input/code/evaluate.py"],
            &["--model-dir", "/opt/ml/processing/model"],
        ))
        .await
        .unwrap();
    assert_eq!(arn["ProcessingJobArn"], "arn:aws:sagemaker:local:000000000000:processing-job/eval-1");
    let job = h.wait_for_processing("eval-1", &["Completed", "Failed", "Stopped"]).await;
    let logs = h.jobs.processing_logs("eval-1", 0).await.unwrap();
    assert_eq!(job["ProcessingJobStatus"], "Completed", "{job:#}\n{}", logs.text);
    assert!(logs.text.contains("evaluated 4 rows for eval-1 as eval-1"), "{}", logs.text);
    assert!(logs.complete);
    assert!(job["ProcessingStartTime"].is_string() && job["ProcessingEndTime"].is_string());
    assert_eq!(job["RoleArn"], "arn:aws:iam::000000000000:role/SageMaker");
    let snapshot: Vec<&str> =
        job["DatasetSnapshot"].as_array().unwrap().iter().map(|o| o["Uri"].as_str().unwrap()).collect();
    assert_eq!(snapshot, ["s3://data/code/evaluate.py", "s3://data/model/model.json", "s3://data/test/part-0.csv"]);

    // Outputs are uploaded with their relative paths; links are never followed.
    let report: Value = serde_json::from_slice(&h.read("evaluations/run-1/evaluation.json").await.unwrap()).unwrap();
    assert_eq!(report, json!({"metrics": {"accuracy": {"value": 1.0}}, "threshold": "0.5"}));
    assert_eq!(h.read("evaluations/run-1/plots/curve.txt").await.unwrap(), b"roc");
    assert!(h.read("evaluations/run-1/leak").await.is_none(), "a symlink out of the job was uploaded");

    assert_eq!(h.processing_statuses("eval-1").await, ["InProgress", "Completed"]);
    let listed = h.jobs.list_processing(None, 10).await.unwrap();
    assert_eq!(listed["ProcessingJobSummaries"][0]["ProcessingJobStatus"], "Completed");
    // Names are unique.
    let again = h.create_processing(script_request("eval-1", &["python3", "x"], &[])).await;
    assert!(matches!(again, Err(trainyard_jobs::Error::Store(trainyard_store::Error::AlreadyExists { .. }))));
}

#[tokio::test]
async fn failures_carry_their_reason() {
    let h = Harness::start(2).await;
    fixtures(&h).await;
    h.put("code/fail.sh", b"echo working\necho 'cannot read the model' >&2\nexit 3\n").await;
    h.create_processing(script_request("fails", &["bash", "/opt/ml/processing/input/code/fail.sh"], &[]))
        .await
        .unwrap();
    let job = h.wait_for_processing("fails", &["Completed", "Failed", "Stopped"]).await;
    assert_eq!(job["ProcessingJobStatus"], "Failed");
    let reason = job["FailureReason"].as_str().unwrap();
    assert!(reason.contains("exit code 3") && reason.contains("cannot read the model"), "{reason}");
    assert_eq!(h.processing_statuses("fails").await, ["InProgress", "Failed"]);

    // An input that names nothing fails as the client's fault, naming the URI.
    let mut request = script_request("empty-input", &["python3", "/opt/ml/processing/input/code/evaluate.py"], &[]);
    request["ProcessingInputs"][2] = s3_input("test", "s3://data/missing/", "/opt/ml/processing/test");
    h.create_processing(request).await.unwrap();
    let job = h.wait_for_processing("empty-input", &["Completed", "Failed", "Stopped"]).await;
    let reason = job["FailureReason"].as_str().unwrap();
    assert!(reason.starts_with("ClientError") && reason.contains("s3://data/missing/"), "{reason}");
}

#[tokio::test]
async fn a_stopped_job_ends_stopped_and_its_process_dies() {
    let h = Harness::start(1).await;
    fixtures(&h).await;
    // The script's pid as the host sees it (`$$` is its pid in its own namespace): the
    // first field of /proc/self/stat, read by the shell itself.
    let script = b"read -r pid _ < /proc/self/stat\necho $pid > \"$SM_PROCESSING_OUTPUT_EVALUATION/pid\"\nsleep 60\n";
    h.put("code/sleep.sh", script).await;
    h.create_processing(script_request("sleeper", &["bash", "/opt/ml/processing/input/code/sleep.sh"], &[]))
        .await
        .unwrap();
    let pid_file = h.dir.path().join("jobs/.processing/sleeper/processing/evaluation/pid");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !pid_file.exists() {
        assert!(std::time::Instant::now() < deadline, "the script never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    h.jobs.stop_processing("sleeper").await.unwrap();
    let job = h.wait_for_processing("sleeper", &["Completed", "Failed", "Stopped"]).await;
    assert_eq!(job["ProcessingJobStatus"], "Stopped", "{job:#}");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "the script survived its stop");
    assert_eq!(h.processing_statuses("sleeper").await, ["InProgress", "Stopping", "Stopped"]);
    // What it wrote before the stop is kept, as SageMaker does.
    assert!(h.read("evaluations/run-1/pid").await.is_some());
    let again = h.jobs.stop_processing("sleeper").await;
    assert!(matches!(again, Err(trainyard_jobs::Error::WrongState { .. })), "{again:?}");
}

#[tokio::test]
async fn requests_the_local_executor_cannot_honour_are_refused() {
    let h = Harness::start(1).await;
    let mut request = script_request("image-only", &["python3"], &[]);
    request["AppSpecification"] = json!({"ImageUri": "123.dkr.ecr.us-east-1.amazonaws.com/custom:1"});
    let error = h.create_processing(request).await.unwrap_err().to_string();
    assert!(error.contains("container executor"), "{error}");
    let mut request = script_request("escapes", &["python3", "x.py"], &[]);
    request["ProcessingInputs"][0]["S3Input"]["LocalPath"] = json!("/opt/ml/processing/../../../etc");
    let error = h.create_processing(request).await.unwrap_err().to_string();
    assert!(error.contains("without `..`"), "{error}");
    assert!(h.jobs.describe_processing("escapes").await.is_err(), "a refused request leaves no job");
}

#[tokio::test]
async fn a_restart_fails_started_jobs_and_runs_queued_ones() {
    let h = Harness::start(1).await;
    fixtures(&h).await;
    let store = h.bus.store().clone();
    let now = chrono::Utc::now();
    for (name, started) in [("was-running", true), ("was-queued", false)] {
        let request = script_request(
            name,
            &["python3", "/opt/ml/processing/input/code/evaluate.py"],
            &["--model-dir", "/opt/ml/processing/model"],
        );
        let record = trainyard_store::ProcessingJobRecord {
            name: name.into(),
            arn: format!("arn:aws:sagemaker:local:000000000000:processing-job/{name}"),
            request,
            status: "InProgress".into(),
            failure_reason: None,
            exit_message: None,
            dataset: json!([]),
            stop_requested: false,
            pid: None,
            created_at: now,
            processing_start: started.then_some(now),
            processing_end: None,
            updated_at: now,
        };
        store.create_processing_job(&record).await.unwrap();
        store.update_processing_job(&record).await.unwrap();
        // Run by the server before the restart, which is gone.
        store.own_work("processing-job", name, "the-last-server").await.unwrap();
    }
    let restarted = h.reopen().await;
    let failed = restarted.describe_processing("was-running").await.unwrap();
    assert_eq!(failed["ProcessingJobStatus"], "Failed");
    assert!(failed["FailureReason"].as_str().unwrap().contains("restarted"), "{failed:#}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let queued = restarted.describe_processing("was-queued").await.unwrap();
        if queued["ProcessingJobStatus"] == "Completed" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the queued job never ran: {queued:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
