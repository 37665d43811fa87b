use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use trainyard_endpoints::payload::{parse, Rows};
use trainyard_endpoints::{DataPlane, Error};
use trainyard_runtime::Predictions;

use crate::harness::{offline, Harness};

const ROWS: [f32; 4] = [0.25, 0.5, 0.75, 0.125];

fn rows() -> Rows {
    parse(Some("text/csv"), b"0.25,0.5\n0.75,0.125\n").unwrap()
}

async fn values(data: &DataPlane, endpoint: &str, target: Option<&str>) -> Result<(String, Vec<f32>), Error> {
    let answer = data.invoke(endpoint, rows(), target, Instant::now()).await?;
    match answer.predictions {
        Predictions::Regression { values, .. } => Ok((answer.variant.name.clone(), values)),
        other => panic!("{other:?}"),
    }
}

/// Requests at a steady pace until stopped: (answered, failed, answers that matched no model).
struct Load {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(u64, Vec<String>)>,
    seen: Arc<[AtomicU64; 3]>,
}

impl Load {
    fn start(data: Arc<DataPlane>, endpoint: &str, models: [Vec<f32>; 3]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
        let (endpoint, flag, counts) = (endpoint.to_string(), Arc::clone(&stop), Arc::clone(&seen));
        let task = tokio::spawn(async move {
            let mut answered = 0;
            let mut failures = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_micros(500));
            while !flag.load(Ordering::Relaxed) {
                tick.tick().await;
                match values(&data, &endpoint, None).await {
                    Ok((_, v)) => match models.iter().position(|m| *m == v) {
                        Some(i) => {
                            counts[i].fetch_add(1, Ordering::Relaxed);
                            answered += 1;
                        }
                        None => failures.push(format!("an answer from no single model: {v:?}")),
                    },
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (answered, failures)
        });
        Load { stop, task, seen }
    }

    async fn finish(self) -> (u64, Vec<String>, [u64; 3]) {
        self.stop.store(true, Ordering::Relaxed);
        let (answered, failures) = self.task.await.unwrap();
        let seen = [0, 1, 2].map(|i| self.seen[i].load(Ordering::Relaxed));
        (answered, failures, seen)
    }
}

fn strategy(traffic: Value, alarms: &[&str]) -> Value {
    json!({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": traffic, "TerminationWaitInSeconds": 0.2},
           "AutoRollbackConfiguration": {"Alarms": alarms.iter().map(|a| json!({"AlarmName": a})).collect::<Vec<_>>()}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_deployments_under_load_fail_no_request_and_never_mix_models() {
    let h = Harness::start().await;
    let (a, a_file) = h.model("a", 2.0, -1.0, 2).await;
    let (b, b_file) = h.model("b", -3.0, 0.5, 2).await;
    let expected = [offline(&a_file, &ROWS, 2), offline(&b_file, &ROWS, 2), vec![]];
    assert_ne!(expected[0], expected[1]);
    h.deploy("live", &a, Value::Null).await.unwrap();
    let created = h.settled(&h.endpoints, "live").await;
    assert_eq!(created["EndpointStatus"], "InService", "{created:#}");
    let data = h.endpoints.data_plane();
    assert_eq!(values(&data, "live", None).await.unwrap().1, expected[0], "predictions equal the offline runtime's");

    let load = Load::start(Arc::clone(&data), "live", expected.clone());
    let plan = [
        (&b, json!({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0.2})),
        (
            &a,
            json!({"Type": "CANARY", "WaitIntervalInSeconds": 0.3, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20}}),
        ),
        (
            &b,
            json!({"Type": "LINEAR", "WaitIntervalInSeconds": 0.15, "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25}}),
        ),
        (
            &a,
            json!({"Type": "CANARY", "WaitIntervalInSeconds": 0.2, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}}),
        ),
        (&b, json!({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0})),
    ];
    for (url, traffic) in plan {
        h.deploy("live", url, strategy(traffic, &["error_rate>1%"])).await.unwrap();
        let endpoint = h.settled(&h.endpoints, "live").await;
        assert_eq!(endpoint["LastDeployment"]["Outcome"], "Completed", "{endpoint:#}");
    }
    let (answered, failures, seen) = load.finish().await;
    assert!(failures.is_empty(), "{} failed requests, e.g. {:?}", failures.len(), &failures[..failures.len().min(3)]);
    assert!(answered > 500 && seen[0] > 50 && seen[1] > 50, "answered {answered}: {seen:?}");
    assert_eq!(values(&data, "live", None).await.unwrap().1, expected[1], "the last deployment is live");

    // Events follow the commit: give the last one a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let stages: Vec<String> = loop {
        let stages: Vec<String> = h
            .events("SageMaker Endpoint Deployment State Change", "live")
            .await
            .iter()
            .map(|d| d["Stage"].as_str().unwrap().to_string())
            .collect();
        if stages.iter().filter(|s| *s == "Completed").count() == 5 || Instant::now() > deadline {
            break stages;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(stages.iter().filter(|s| *s == "Completed").count(), 5, "{stages:?}");
    assert!(stages.iter().any(|s| s == "Baking"));
    let statuses: Vec<String> = h
        .events("SageMaker Endpoint State Change", "live")
        .await
        .iter()
        .map(|d| d["EndpointStatus"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses[..2], ["Creating", "InService"]);
    assert_eq!(statuses.iter().filter(|s| *s == "Updating").count(), 5, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_model_is_rolled_back_within_the_bake() {
    let h = Harness::start().await;
    let (a, a_file) = h.model("a", 2.0, -1.0, 2).await;
    // Expects three features: every request of today's clients fails on it.
    let (wide, _) = h.model("wide", 1.0, 1.0, 3).await;
    h.deploy("guarded", &a, Value::Null).await.unwrap();
    let before = h.settled(&h.endpoints, "guarded").await;
    let data = h.endpoints.data_plane();
    let load = Load::start(Arc::clone(&data), "guarded", [offline(&a_file, &ROWS, 2), vec![], vec![]]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let bake =
        json!({"Type": "CANARY", "WaitIntervalInSeconds": 5, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}});
    h.deploy("guarded", &wide, strategy(bake, &["error_rate>1%", "p99>2s"])).await.unwrap();
    let after = h.settled(&h.endpoints, "guarded").await;
    let took = started.elapsed();
    let (answered, failures, _) = load.finish().await;
    assert!(took < Duration::from_secs(5), "rolled back after {took:?}, past the bake");
    assert_eq!(after["EndpointStatus"], "InService");
    assert_eq!(after["LastDeployment"]["Outcome"], "RolledBack", "{after:#}");
    assert!(after["FailureReason"].as_str().unwrap().contains("error_rate>1%"), "{after:#}");
    assert_eq!(after["EndpointConfigName"], before["EndpointConfigName"], "the old configuration stays live");
    // Only the canary's share failed, and only until the alarm fired.
    assert!(!failures.is_empty() && (failures.len() as u64) < answered / 5, "{} failed of {answered}", failures.len());
    assert!(failures.iter().all(|f| f.contains("expects 3 features")), "{failures:?}");
    for _ in 0..50 {
        assert!(values(&data, "guarded", None).await.is_ok(), "all traffic is back on the old fleet");
    }
    let stages: Vec<String> = h
        .events("SageMaker Endpoint Deployment State Change", "guarded")
        .await
        .iter()
        .map(|d| d["Stage"].as_str().unwrap().to_string())
        .collect();
    assert!(stages.ends_with(&["RollingBack".into(), "RolledBack".into()]), "{stages:?}");
}

#[tokio::test]
async fn endpoints_come_back_after_a_restart_on_their_committed_configuration() {
    let h = Harness::start().await;
    let (a, a_file) = h.model("a", 2.0, -1.0, 2).await;
    let (b, b_file) = h.model("b", -3.0, 0.5, 2).await;
    h.deploy("kept", &a, Value::Null).await.unwrap();
    h.settled(&h.endpoints, "kept").await;
    h.deploy("kept", &b, Value::Null).await.unwrap();
    let live = h.settled(&h.endpoints, "kept").await;

    let restarted = h.reopen().await;
    let described = restarted.describe("kept").await.unwrap();
    assert_eq!(
        (described["EndpointStatus"].clone(), described["EndpointConfigName"].clone()),
        (json!("InService"), live["EndpointConfigName"].clone())
    );
    assert_eq!(values(&restarted.data_plane(), "kept", None).await.unwrap().1, offline(&b_file, &ROWS, 2));

    // A deployment a crash interrupted is abandoned: the committed configuration serves.
    let mut record = h.store.get_endpoint("kept").await.unwrap();
    record.status = "Updating".into();
    record.pending = Some(json!({"Config": {"EndpointConfigName": "kept-next", "ProductionVariants": []}}));
    h.store.update_endpoint(&record).await.unwrap();
    let restarted = h.reopen().await;
    let described = restarted.describe("kept").await.unwrap();
    assert_eq!(described["EndpointStatus"], "InService");
    assert_eq!(described["LastDeployment"]["Outcome"], "Abandoned");
    assert!(described.get("PendingDeploymentSummary").is_none());
    assert_eq!(values(&restarted.data_plane(), "kept", None).await.unwrap().1, offline(&b_file, &ROWS, 2));
    // The rollback target is the configuration before: A.
    restarted.rollback("kept").await.unwrap();
    h.settled(&restarted, "kept").await;
    assert_eq!(values(&restarted.data_plane(), "kept", None).await.unwrap().1, offline(&a_file, &ROWS, 2));
}

#[tokio::test]
async fn weights_split_traffic_and_a_target_variant_picks_one() {
    let h = Harness::start().await;
    let (a, _) = h.model("a", 2.0, -1.0, 2).await;
    let (b, _) = h.model("b", -3.0, 0.5, 2).await;
    let request = serde_json::from_value(json!({"ProductionVariants": [
        {"VariantName": "blue", "ModelDataUrl": a, "InitialVariantWeight": 3},
        {"VariantName": "green", "ModelDataUrl": b, "InitialVariantWeight": 1, "InitialInstanceCount": 2}]}))
    .unwrap();
    h.endpoints.deploy("ab", request, "admin").await.unwrap();
    h.settled(&h.endpoints, "ab").await;
    let data = h.endpoints.data_plane();
    let mut green = 0;
    for _ in 0..400 {
        if values(&data, "ab", None).await.unwrap().0 == "green" {
            green += 1;
        }
    }
    assert!((90..=110).contains(&green), "green answered {green} of 400 at weight 1/4");
    assert_eq!(values(&data, "ab", Some("green")).await.unwrap().0, "green");
    let missing = values(&data, "ab", Some("red")).await.unwrap_err().to_string();
    assert!(missing.contains("no variant \"red\"") && missing.contains("blue, green"), "{missing}");

    h.endpoints.update_weights("ab", &[("blue".into(), 0.0)]).await.unwrap();
    for _ in 0..20 {
        assert_eq!(values(&data, "ab", None).await.unwrap().0, "green");
    }
    let described = h.endpoints.describe("ab").await.unwrap();
    assert_eq!(described["ProductionVariants"][0]["CurrentWeight"], 0.0);
    assert_eq!(described["ProductionVariants"][1]["CurrentInstanceCount"], 2);
    // Two workers: concurrent requests queue for them and all are answered.
    let requests: Vec<_> = (0..16)
        .map(|_| {
            let data = Arc::clone(&data);
            tokio::spawn(async move { values(&data, "ab", Some("green")).await.map(|v| v.0) })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap().unwrap(), "green");
    }
    assert!(h.endpoints.update_weights("ab", &[("red".into(), 1.0)]).await.is_err());
    assert!(h.endpoints.update_weights("ab", &[("green".into(), 0.0)]).await.is_err(), "all weights zero");
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_reason() {
    let h = Harness::start().await;
    let (a, _) = h.model("a", 2.0, -1.0, 2).await;
    let deploy = |value: Value| serde_json::from_value::<trainyard_endpoints::Deploy>(value).unwrap();
    let e = h.endpoints.deploy("x", deploy(json!({"ProductionVariants": []})), "admin").await.unwrap_err();
    assert!(e.to_string().contains("1 to 10 variants"), "{e}");
    let both = json!({"ProductionVariants": [{"VariantName": "v", "ModelDataUrl": a, "ModelPackage": "g/1"}]});
    assert!(h.endpoints.deploy("x", deploy(both), "admin").await.unwrap_err().to_string().contains("exactly one of"));
    let bad_policy = json!({"ProductionVariants": [{"VariantName": "v", "ModelDataUrl": a}],
        "DeploymentConfig": {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "SOMETIMES"}}}});
    assert!(h
        .endpoints
        .deploy("x", deploy(bad_policy), "admin")
        .await
        .unwrap_err()
        .to_string()
        .contains("ALL_AT_ONCE"));
    assert!(h
        .endpoints
        .deploy("bad name!", deploy(json!({"ProductionVariants": [{"VariantName": "v", "ModelDataUrl": a}]})), "admin")
        .await
        .is_err());
    assert!(matches!(h.endpoints.describe("x").await, Err(Error::Store(_))), "nothing was created");

    // A missing artifact fails the creation with the reason.
    h.deploy("missing", "s3://models/nothing/model.tar.gz", Value::Null).await.unwrap();
    let failed = h.settled(&h.endpoints, "missing").await;
    assert_eq!(failed["EndpointStatus"], "Failed");
    assert!(failed["FailureReason"].as_str().unwrap().contains("nothing/model.tar.gz"), "{failed:#}");

    // One deployment at a time; no delete in the middle of one.
    h.deploy("busy", &a, Value::Null).await.unwrap();
    h.settled(&h.endpoints, "busy").await;
    let slow = json!({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 30}}});
    h.deploy("busy", &a, slow).await.unwrap();
    assert!(matches!(h.deploy("busy", &a, Value::Null).await, Err(Error::WrongState { .. })));
    assert!(matches!(h.endpoints.delete("busy").await, Err(Error::WrongState { .. })));
    h.endpoints.rollback("busy").await.unwrap();
    let rolled = h.settled(&h.endpoints, "busy").await;
    assert_eq!(rolled["LastDeployment"]["Outcome"], "RolledBack");
    assert_eq!(rolled["FailureReason"], "rollback requested");
    h.endpoints.delete("busy").await.unwrap();
    let data = h.endpoints.data_plane();
    assert!(matches!(values(&data, "busy", None).await, Err(Error::EndpointNotFound { .. })));

    // Input that does not fit the model is the caller's error, naming the width.
    h.deploy("narrow", &a, Value::Null).await.unwrap();
    h.settled(&h.endpoints, "narrow").await;
    let wide = parse(Some("text/csv"), b"1,2,3\n").unwrap();
    let e = data.invoke("narrow", wide, None, Instant::now()).await.err().unwrap();
    assert!(matches!(e, Error::InvalidInput { .. }) && e.to_string().contains("expects 2 features"), "{e}");
}
