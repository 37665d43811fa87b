use std::time::{Duration, Instant};

use axum::http::StatusCode;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::Server;

async fn wait_terminal(server: &Server, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, job) = server.get(&format!("/training-jobs/{name}")).await;
        if matches!(job["TrainingJobStatus"].as_str(), Some("Completed" | "Failed" | "Stopped")) {
            return job;
        }
        assert!(Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn training_jobs_over_http() {
    let server = Server::start().await;
    server.call(Method::PUT, "/buckets/ml-data", None).await;
    let response = server.raw(Method::PUT, "/buckets/ml-data/objects/train/a.csv").body("1,2\n").send().await.unwrap();
    assert_eq!(response.status(), 200);
    // A source tarball with one script that prints a metric.
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    // The job runs as its role: a session in its environment, fresh credentials from the
    // container endpoint (only whether they came is logged, never a secret).
    let script = b"#!/bin/bash\necho 'rmse=0.25'\necho ok > \"$SM_MODEL_DIR/m.txt\"\necho \"session=${AWS_SESSION_TOKEN:0:4}\"\ncurl -s -H \"Authorization: $(cat \"$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE\")\" \"$AWS_CONTAINER_CREDENTIALS_FULL_URI\" | grep -o '\"AccessKeyId\":\"ASIA' | sed 's/.*/endpoint=ok/'\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(script.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    builder.append_data(&mut header, "train.sh", &script[..]).unwrap();
    let tarball = builder.into_inner().unwrap().finish().unwrap();
    server.raw(Method::PUT, "/buckets/ml-data/objects/code/src.tar.gz").body(tarball).send().await.unwrap();

    // The role the job runs as: a trust policy naming SageMaker, as on AWS.
    let trust = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let (status, body) = server.post("/iam/roles", json!({"Name": "sm", "AssumeRolePolicyDocument": trust})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut missing_role = json!({"TrainingJobName": "no-role", "RoleArn": "arn:aws:iam::000000000000:role/missing",
        "AlgorithmSpecification": {"TrainingImage": "framework", "TrainingInputMode": "File"}});
    let (status, body) = server.post("/training-jobs", missing_role.take()).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("InvalidInput")), "{body}");
    let request = json!({
        "TrainingJobName": "http-1",
        "AlgorithmSpecification": {"TrainingImage": "framework", "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "rmse", "Regex": "rmse=([0-9.]+)"}]},
        "HyperParameters": {"sagemaker_program": "\"train.sh\"", "sagemaker_submit_directory": "\"s3://ml-data/code/src.tar.gz\""},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://ml-data/train/"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://ml-data/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "RoleArn": "arn:aws:iam::000000000000:role/sm"
    });
    let (status, body) = server.post("/training-jobs", request.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["TrainingJobArn"], "arn:aws:sagemaker:local:000000000000:training-job/http-1");
    let (status, body) = server.post("/training-jobs", request).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let job = wait_terminal(&server, "http-1").await;
    assert_eq!(job["TrainingJobStatus"], "Completed", "{job}");
    assert_eq!(job["FinalMetricDataList"][0]["MetricName"], "rmse");
    assert_eq!(job["RoleArn"], "arn:aws:iam::000000000000:role/sm");
    let (_, logs) = server.get("/training-jobs/http-1/logs?offset=0").await;
    let text = logs["Text"].as_str().unwrap();
    assert!(text.contains("rmse=0.25"));
    assert!(text.contains("session=tyt_"), "the job has its role's session: {text}");
    assert!(text.contains("endpoint=ok"), "the credential endpoint answers the job: {text}");
    assert_eq!(logs["Complete"], true);
    let (_, metrics) = server.get("/training-jobs/http-1/metrics").await;
    assert_eq!(metrics["MetricData"][0]["Value"], 0.25);
    let (_, list) = server.get("/training-jobs?status=Completed").await;
    assert_eq!(list["TrainingJobSummaries"][0]["TrainingJobName"], "http-1");
    let (status, body) = server.post("/training-jobs/http-1/stop", json!({})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("ValidationException")));
    let (status, _) = server.get("/training-jobs/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_training_requests_are_400_with_every_problem() {
    let server = Server::start().await;
    let (status, body) = server
        .post(
            "/training-jobs",
            json!({"TrainingJobName": "x_y", "AlgorithmSpecification": {"AlgorithmName": "nope"},
                   "OutputDataConfig": {"S3OutputPath": "gs://x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["message"].as_str().unwrap();
    for needle in ["training job name", "S3OutputPath", "not a built-in"] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let (status, body) = server
        .post(
            "/training-jobs",
            json!({"TrainingJobName": "img", "AlgorithmSpecification": {"TrainingImage": "localhost/x:1"},
                   "OutputDataConfig": {"S3OutputPath": "s3://ml-data/o"}}),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("UnsupportedOperationException")));
    let (status, body) = server.post("/training-jobs", json!({"TrainingJobName": "t", "Bogus": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("Bogus") || body["message"].as_str().unwrap().contains("missing"),
        "{body}"
    );
}
