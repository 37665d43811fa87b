//! Endpoints through the real binary: a registered model served over the SageMaker,
//! MLflow and KServe v2 (tritonclient) protocols with the offline runtime's predictions,
//! a canary deployment, a server restart, a rollback, and bad input.

use std::process::Command;

use serde_json::{json, Value};

use crate::evaluation::train;
use crate::jobs::{run, write_csv};
use crate::process::{cli, stderr, stdout, ServerProcess};

fn invoke(data_dir: &std::path::Path, body: &str, content_type: &str) -> Value {
    let out = cli(data_dir, &["endpoints", "invoke", "live", "--body", body, "--content-type", content_type]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn model_name(data_dir: &std::path::Path) -> String {
    let described: Value = serde_json::from_str(&run(data_dir, &["endpoints", "describe", "live"])).unwrap();
    assert_eq!(described["EndpointStatus"], "InService", "{described:#}");
    described["ProductionVariants"][0]["ModelName"].as_str().unwrap().to_string()
}

#[test]
fn a_registered_model_serves_every_protocol_and_deploys_blue_green() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut server = ServerProcess::start(&data_dir);
    std::fs::create_dir_all(dir.path().join("train")).unwrap();
    write_csv(&dir.path().join("train/part-0.csv"), 600, 1, 0.8);
    run(&data_dir, &["data", "mb", "s3://ml-data"]);
    run(&data_dir, &["data", "put", dir.path().join("train").to_str().unwrap(), "s3://ml-data/blobs/train/"]);
    let first = train(&data_dir, "serve-linear", "linear-learner", &["predictor_type=binary_classifier"]);
    let second = train(&data_dir, "serve-gbdt", "gbdt", &["objective=binary:logistic", "num_round=20", "max_depth=3"]);
    run(&data_dir, &["models", "groups", "create", "blobs"]);
    for url in [&first, &second] {
        run(&data_dir, &["models", "register", "--group", "blobs", "--model-data", url, "--status", "Approved"]);
    }

    let out = cli(&data_dir, &["endpoints", "deploy", "live", "--model-package", "blobs/1", "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(model_name(&data_dir), "blobs/1");

    // The offline runtime's answer for the same rows.
    let rows = [[0.9f32, -0.5, 0.3], [0.1, 0.8, 0.6]];
    let csv: String = rows.iter().map(|r| format!("{},{},{}\n", r[0], r[1], r[2])).collect();
    std::fs::write(dir.path().join("rows.csv"), &csv).unwrap();
    let local = dir.path().join("model.tar.gz");
    run(&data_dir, &["data", "get", &first, local.to_str().unwrap()]);
    let offline: Vec<Value> = run(
        &data_dir,
        &[
            "runtime",
            "predict",
            "--model",
            local.to_str().unwrap(),
            "--input",
            dir.path().join("rows.csv").to_str().unwrap(),
        ],
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let labels: Vec<Value> = offline.iter().map(|o| o["label"].clone()).collect();
    let probabilities: Vec<Value> = offline.iter().map(|o| o["probabilities"].clone()).collect();

    // SageMaker CSV and JSON, MLflow's data frames: the same predictions.
    let bodies = [
        (csv.clone(), "text/csv"),
        (json!({"instances": rows}).to_string(), "application/json"),
        (json!({"dataframe_split": {"columns": ["a", "b", "c"], "data": rows}}).to_string(), "application/json"),
        (json!({"inputs": rows}).to_string(), "application/json"),
    ];
    for (body, content_type) in &bodies {
        let answer = invoke(&data_dir, body, content_type);
        assert_eq!(answer["predictions"], json!(labels), "{body}: {answer}");
        let served: Vec<Vec<f64>> = serde_json::from_value(answer["probabilities"].clone()).unwrap();
        let expected: Vec<Vec<f64>> = serde_json::from_value(json!(probabilities)).unwrap();
        for (s, e) in served.iter().flatten().zip(expected.iter().flatten()) {
            assert!((s - e).abs() < 1e-6, "{s} vs {e}");
        }
    }

    // KServe v2 with tritonclient, when the Python environment is there (CI sets it).
    if let Some(python) = std::env::var_os("TRAINYARD_PYTHON").filter(|p| !p.is_empty()) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/endpoints/kserve_client.py");
        let host = server.url.trim_start_matches("http://").trim_end_matches('/').to_string();
        let out = Command::new(python)
            .arg(script)
            .args([host.as_str(), "live", &server.token(), &json!(rows).to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (answer["live"].clone(), answer["ready"].clone(), answer["id"].clone()),
            (json!(true), json!(true), json!("42"))
        );
        assert_eq!(answer["outputs"]["label"], json!(labels), "{answer:#}");
        assert_eq!(answer["metadata"]["inputs"][0]["shape"], json!([-1, 3]));
        assert!(answer["wrong_width_error"].as_str().unwrap().contains("expects 3 features"), "{answer:#}");
    }

    // A canary deployment of version 2 under an error-rate alarm goes live.
    let out = cli(
        &data_dir,
        &[
            "endpoints",
            "deploy",
            "live",
            "--model-package",
            "blobs/2",
            "--strategy",
            "canary:50:1s",
            "--rollback-on",
            "error_rate>1%",
            "--wait",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(model_name(&data_dir), "blobs/2");
    let served = invoke(&data_dir, &csv, "text/csv");

    // A restart brings the endpoint back on its committed configuration.
    assert!(server.terminate().success());
    let _server = ServerProcess::start(&data_dir);
    assert_eq!(model_name(&data_dir), "blobs/2");
    assert_eq!(invoke(&data_dir, &csv, "text/csv"), served);

    // Rollback returns to the previous configuration.
    let out = cli(&data_dir, &["endpoints", "rollback", "live", "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(model_name(&data_dir), "blobs/1");
    let listed: Value = serde_json::from_str(&run(&data_dir, &["endpoints", "list", "-o", "json"])).unwrap();
    assert_eq!(listed["Endpoints"][0]["EndpointName"], "live");

    // A deployment that cannot go live: exit 1 with the reason, the live configuration kept.
    let out =
        cli(&data_dir, &["endpoints", "deploy", "live", "--model-data", "s3://ml-data/missing/model.tar.gz", "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing/model.tar.gz"), "{}", stderr(&out));
    assert_eq!(model_name(&data_dir), "blobs/1");

    // Bad input: exit 2 with what was wrong.
    let out = cli(&data_dir, &["endpoints", "invoke", "live", "--body", "1,x,3", "--content-type", "text/csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("\"x\" is not a number"), "{}", stderr(&out));
    let out = cli(&data_dir, &["endpoints", "deploy", "other", "--model-package", "blobs/9"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = cli(&data_dir, &["endpoints", "deploy", "other", "--model-data", &first, "--strategy", "canary:500:1s"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("canary size"), "{}", stderr(&out));
}
