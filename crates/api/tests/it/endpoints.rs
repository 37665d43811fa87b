//! The serving data plane over real HTTP: every protocol, the errors clients rely on,
//! authentication, metrics, and deployments under a steady load with no failed request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::harness::{Server, TOKEN};

/// Trains a linear regressor `y = a·x1 + b·x2` in-process and uploads it; returns its URL
/// and its predictions for the rows `[[0.25, 0.5], [0.75, 0.125]]`.
async fn model(server: &Server, name: &str, a: f64, b: f64) -> (String, Vec<f32>) {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train");
    std::fs::create_dir_all(&train).unwrap();
    let csv: String = (0..100)
        .map(|i| {
            let (x1, x2) = ((i % 10) as f64 / 10.0, (i % 7) as f64 / 7.0);
            format!("{:.4},{x1:.4},{x2:.4}\n", a * x1 + b * x2)
        })
        .collect();
    std::fs::write(train.join("part-0.csv"), csv).unwrap();
    let paths = trainyard_algorithms::ContractPaths {
        train,
        validation: None,
        model_dir: dir.path().join("model"),
        output_data_dir: dir.path().join("out"),
        failure_file: dir.path().join("failure"),
    };
    let mut hps = Map::new();
    hps.insert("predictor_type".into(), json!("regressor"));
    trainyard_algorithms::run_with("linear-learner", &paths, &hps, &mut std::io::sink()).unwrap();
    let onnx = dir.path().join("model/model.onnx");
    let expected = match trainyard_runtime::Model::load(&onnx).unwrap().predict(&[0.25, 0.5, 0.75, 0.125], 2).unwrap() {
        trainyard_runtime::Predictions::Regression { values, .. } => values,
        other => panic!("{other:?}"),
    };
    let response = server
        .raw(Method::PUT, &format!("/buckets/models/objects/{name}/model.onnx"))
        .body(std::fs::read(&onnx).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    (format!("s3://models/{name}/model.onnx"), expected)
}

async fn settled(server: &Server, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, endpoint) = server.get(&format!("/endpoints/{name}")).await;
        if endpoint.get("PendingDeploymentSummary").is_none()
            && matches!(endpoint["EndpointStatus"].as_str(), Some("InService" | "Failed"))
        {
            return endpoint;
        }
        assert!(Instant::now() < deadline, "{endpoint:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn deploy(server: &Server, name: &str, url: &str, traffic: Value) {
    let body = json!({"ProductionVariants": [{"VariantName": "AllTraffic", "ModelDataUrl": url}],
        "DeploymentConfig": {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": traffic},
                             "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "error_rate>1%"}]}}});
    let (status, answer) = server.post(&format!("/endpoints/{name}/deployments"), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let endpoint = settled(server, name).await;
    assert_eq!(endpoint["EndpointStatus"], "InService", "{endpoint:#}");
}

/// A request to the data plane (at the root, not under /api/v1).
fn data(server: &Server, method: Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new().request(method, format!("{}{path}", server.url)).bearer_auth(TOKEN)
}

#[tokio::test]
async fn every_protocol_and_every_error_over_http() {
    let server = Server::start().await;
    server.call(Method::PUT, "/buckets/models", None).await;
    let (url, expected) = model(&server, "a", 2.0, -1.0).await;
    deploy(&server, "e", &url, json!({"Type": "ALL_AT_ONCE"})).await;
    let invoke = |body: &'static str, content_type: &'static str| {
        data(&server, Method::POST, "/endpoints/e/invocations").header("content-type", content_type).body(body)
    };

    let response = invoke("0.25,0.5\n0.75,0.125\n", "text/csv").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-amzn-invoked-production-variant"], "AllTraffic");
    assert_eq!(response.headers()["content-type"], "application/json");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["predictions"], json!(expected), "the offline runtime's predictions");
    for body in [
        r#"{"instances": [[0.25, 0.5], [0.75, 0.125]]}"#,
        r#"{"dataframe_records": [{"f0": 0.25, "f1": 0.5}, {"f1": 0.125, "f0": 0.75}]}"#,
    ] {
        let answer: Value = invoke(body, "application/json").send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["predictions"], json!(expected), "{body}");
    }
    let csv = invoke("0.25,0.5\n", "text/csv").header("accept", "text/csv").send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv");
    assert_eq!(csv.text().await.unwrap(), format!("{}\n", expected[0]));
    let infer =
        json!({"inputs": [{"name": "input", "shape": [2, 2], "datatype": "FP32", "data": [0.25, 0.5, 0.75, 0.125]}]});
    let answer: Value =
        data(&server, Method::POST, "/v2/models/e/infer").json(&infer).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["outputs"][0]["data"], json!(expected), "{answer}");
    assert_eq!(answer["outputs"][0]["shape"], json!([2, 1]));

    // Errors: a 4xx whose message says what was expected.
    for (body, content_type, status, words) in [
        ("{\"instances\": [[1, 2]", "application/json", 400, "malformed JSON"),
        ("1,2,3\n", "text/csv", 400, "expects 2 features per row, the request has 3"),
        ("1,two\n", "text/csv", 400, "\"two\" is not a number"),
        ("", "text/csv", 400, "empty"),
        ("1,2", "image/png", 415, "text/csv, application/json or application/x-npy"),
    ] {
        let response = invoke(body, content_type).send().await.unwrap();
        assert_eq!(response.status(), status, "{body:?}");
        let error: Value = response.json().await.unwrap();
        assert!(error["message"].as_str().unwrap().contains(words), "{body:?}: {error}");
    }
    let huge = vec![b'1'; 7 * 1024 * 1024];
    let response = data(&server, Method::POST, "/endpoints/e/invocations").body(huge).send().await.unwrap();
    assert_eq!(response.status(), 413);
    let response = data(&server, Method::POST, "/endpoints/nope/invocations").body("1,2").send().await.unwrap();
    assert_eq!(response.status(), 404);
    let bad = json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]});
    let response = data(&server, Method::POST, "/v2/models/e/infer").json(&bad).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"].as_str().unwrap().contains("expects 2 features"), "KServe's error shape: {error}");

    // Authentication: everything but the health probes.
    let anonymous = reqwest::Client::new();
    for (method, path) in
        [(Method::POST, "/endpoints/e/invocations"), (Method::GET, "/v2/models/e"), (Method::GET, "/metrics")]
    {
        let response = anonymous.request(method, format!("{}{path}", server.url)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
    let live = anonymous.get(format!("{}/v2/health/live", server.url)).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let metadata: Value = data(&server, Method::GET, "/v2/models/e").send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["inputs"][0]["shape"], json!([-1, 2]));

    // Prometheus: requests and errors per variant, model latency and overhead apart.
    let metrics = data(&server, Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    let labels = "endpoint=\"e\",variant=\"AllTraffic\"";
    let value = |name: &str| -> f64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{{labels},config=")))
            .unwrap_or_else(|| panic!("{name}: {metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(value("trainyard_endpoint_requests_total") >= 6.0);
    assert_eq!(value("trainyard_endpoint_errors_total"), 2.0, "the two requests of the wrong width");
    assert!(metrics.contains("trainyard_endpoint_model_latency_seconds_bucket{"));
    assert!(metrics.contains("trainyard_endpoint_overhead_latency_seconds_count{"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_deployments_under_steady_http_load_answer_every_request() {
    let server = Server::start().await;
    server.call(Method::PUT, "/buckets/models", None).await;
    let (a, from_a) = model(&server, "a", 2.0, -1.0).await;
    let (b, from_b) = model(&server, "b", -3.0, 0.5).await;
    deploy(&server, "steady", &a, json!({"Type": "ALL_AT_ONCE"})).await;

    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{}/endpoints/steady/invocations", server.url);
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, url, from_a, from_b) = (Arc::clone(&stop), url.clone(), from_a.clone(), from_b.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut tick = tokio::time::interval(Duration::from_millis(2));
                let (mut answered, mut problems) = ([0u32; 2], Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let response = client
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .header("content-type", "text/csv")
                        .body("0.25,0.5\n0.75,0.125\n")
                        .send()
                        .await
                        .unwrap();
                    if response.status() != 200 {
                        problems.push(format!("{}: {}", response.status(), response.text().await.unwrap()));
                        continue;
                    }
                    let answer: Value = response.json().await.unwrap();
                    if answer["predictions"] == json!(from_a) {
                        answered[0] += 1;
                    } else if answer["predictions"] == json!(from_b) {
                        answered[1] += 1;
                    } else {
                        problems.push(format!("an answer from no single model: {answer}"));
                    }
                }
                (answered, problems)
            })
        })
        .collect();
    for (url, traffic) in [
        (&b, json!({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0.3})),
        (
            &a,
            json!({"Type": "CANARY", "WaitIntervalInSeconds": 0.3, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}),
        ),
        (
            &b,
            json!({"Type": "LINEAR", "WaitIntervalInSeconds": 0.2, "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 34}}),
        ),
        (
            &a,
            json!({"Type": "CANARY", "WaitIntervalInSeconds": 0.2, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}}),
        ),
        (&b, json!({"Type": "ALL_AT_ONCE"})),
    ] {
        deploy(&server, "steady", url, traffic).await;
        let (_, endpoint) = server.get("/endpoints/steady").await;
        assert_eq!(endpoint["LastDeployment"]["Outcome"], "Completed", "{endpoint:#}");
    }
    stop.store(true, Ordering::Relaxed);
    let mut totals = [0u32; 2];
    for client in clients {
        let (answered, problems) = client.await.unwrap();
        assert!(problems.is_empty(), "{} failed requests, e.g. {:?}", problems.len(), problems.first());
        totals[0] += answered[0];
        totals[1] += answered[1];
    }
    assert!(totals[0] > 50 && totals[1] > 50, "both models answered: {totals:?}");
}
