//! Processing jobs and evaluations over HTTP: status codes, stable error codes, logs.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::Server;

async fn wait_terminal(server: &Server, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, job) = server.get(&format!("/processing-jobs/{name}")).await;
        if matches!(job["ProcessingJobStatus"].as_str(), Some("Completed" | "Failed" | "Stopped")) {
            return job;
        }
        assert!(Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn request(name: &str) -> Value {
    json!({
        "ProcessingJobName": name,
        "AppSpecification": {"ImageUri": "any", "ContainerEntrypoint": ["bash", "/opt/ml/processing/code/run.sh"],
                             "ContainerArguments": ["/opt/ml/processing/out"]},
        "ProcessingInputs": [{"InputName": "code", "S3Input": {"S3Uri": "s3://ml-data/code/", "LocalPath": "/opt/ml/processing/code",
                              "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {"S3Uri": "s3://ml-data/out/",
                                   "LocalPath": "/opt/ml/processing/out", "S3UploadMode": "EndOfJob"}}]}
    })
}

#[tokio::test]
async fn processing_jobs_over_http() {
    let server = Server::start().await;
    server.call(Method::PUT, "/buckets/ml-data", None).await;
    let script = "echo hello from processing\necho '{\"ok\": true}' > \"$1/result.json\"\n";
    server.raw(Method::PUT, "/buckets/ml-data/objects/code/run.sh").body(script).send().await.unwrap();

    let (status, created) = server.post("/processing-jobs", request("http-1")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    assert_eq!(created["ProcessingJobArn"], "arn:aws:sagemaker:local:000000000000:processing-job/http-1");
    let job = wait_terminal(&server, "http-1").await;
    assert_eq!(job["ProcessingJobStatus"], "Completed", "{job:#}");
    let (_, logs) = server.get("/processing-jobs/http-1/logs").await;
    assert_eq!(logs["Text"], "hello from processing\n");
    assert_eq!(logs["Complete"], true);
    let response = server.raw(Method::GET, "/buckets/ml-data/objects/out/result.json").send().await.unwrap();
    assert_eq!(response.text().await.unwrap().trim(), "{\"ok\": true}");
    let (_, listed) = server.get("/processing-jobs?status=Completed").await;
    assert_eq!(listed["ProcessingJobSummaries"].as_array().unwrap().len(), 1);

    // Errors: stable codes and messages that name the problem.
    let (status, error) = server.post("/processing-jobs", request("http-1")).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::CONFLICT, Some("ResourceAlreadyExistsException")));
    let mut bad = request("http-2");
    bad["ProcessingInputs"][0]["S3Input"]["LocalPath"] = json!("/etc");
    let (status, error) = server.post("/processing-jobs", bad).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::BAD_REQUEST, Some("ValidationException")));
    assert!(error["message"].as_str().unwrap().contains("/opt/ml/processing/"), "{error}");
    let mut unknown = request("http-3");
    unknown["Surprise"] = json!(1);
    let (status, error) = server.post("/processing-jobs", unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["message"].as_str().unwrap().contains("Surprise"), "{error}");
    let (status, _) = server.get("/processing-jobs/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, error) = server.post("/processing-jobs/http-1/stop", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a finished job cannot be stopped: {error}");

    // Evaluations: bad conditions and unknown groups are refused before a job starts; a
    // job that is not an evaluation cannot back a registration.
    let evaluation = |conditions: Value, group: Value| {
        json!({"ModelDataUrl": "s3://ml-data/m/model.tar.gz", "TestDataUrl": "s3://ml-data/test/",
               "Conditions": conditions, "ModelPackageGroupName": group})
    };
    let (status, error) = server.post("/model-evaluations", evaluation(json!(["auc >= lots"]), Value::Null)).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::BAD_REQUEST, Some("ValidationException")));
    assert!(error["message"].as_str().unwrap().contains("auc >= lots"), "{error}");
    let (status, _) = server.post("/model-evaluations", evaluation(json!([]), json!("no-such-group"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, error) = server.get("/model-evaluations/http-1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    server.post("/model-package-groups", json!({"ModelPackageGroupName": "g"})).await;
    let (status, error) =
        server.post("/model-packages", json!({"ModelPackageGroupName": "g", "EvaluationJobName": "http-1"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["message"].as_str().unwrap().contains("built-in evaluator"), "{error}");
    let (status, error) = server.post("/model-packages", json!({"ModelPackageGroupName": "g"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["message"].as_str().unwrap().contains("ModelDataUrl"), "{error}");
}
