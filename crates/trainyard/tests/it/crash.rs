//! kill -9 the server while events are put and delivered; after a restart every
//! acknowledged event reaches its target at least once and nothing is stuck.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use serde_json::{json, Value};

use crate::process::ServerProcess;

pub type Seen = Arc<Mutex<HashMap<String, usize>>>;

/// An HTTP target that counts deliveries per event id, slowly (200 ms each: at most
/// concurrency × 5 per second) so that deliveries are outstanding when the server dies
/// however fast the machine puts events.
pub async fn start_target() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = axum::Router::new().route(
        "/",
        post({
            let seen = Arc::clone(&seen);
            move |body: String| async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let event: Value = serde_json::from_str(&body).unwrap();
                *seen.lock().unwrap().entry(event["id"].as_str().unwrap().to_string()).or_default() += 1;
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

pub async fn api(client: &reqwest::Client, server: &ServerProcess, path: &str, body: Value) -> reqwest::Result<Value> {
    client
        .post(format!("{}/api/v1{path}", server.url))
        .bearer_auth(server.token())
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_event() {
    kill_9_loses_nothing_acknowledged(&[]).await;
}

/// Puts events until a kill -9, restarts the server (on the same data directory and
/// `settings`) and waits until every acknowledged event reached its target.
pub async fn kill_9_loses_nothing_acknowledged(settings: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let (target_url, seen) = start_target().await;
    let mut server = ServerProcess::start_with(dir.path(), settings);
    let client = reqwest::Client::new();
    api(&client, &server, "/rules", json!({"Name": "all", "EventPattern": {"source": ["load"]}})).await.unwrap();
    api(&client, &server, "/rules/all/targets", json!({"Id": "sink", "HttpUrl": target_url})).await.unwrap();

    // Put batches of 10 until the kill; remember every acknowledged id.
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let putter = {
        let (client, url, token, acknowledged) =
            (client.clone(), server.url.clone(), server.token(), Arc::clone(&acknowledged));
        tokio::spawn(async move {
            for batch in 0..10_000 {
                let entries: Vec<Value> = (0..10)
                    .map(|i| json!({"Source": "load", "DetailType": "Tick", "Detail": {"batch": batch, "i": i}}))
                    .collect();
                let Ok(response) = client
                    .post(format!("{url}/api/v1/events"))
                    .bearer_auth(&token)
                    .json(&json!({"Entries": entries}))
                    .send()
                    .await
                else {
                    return;
                };
                let Ok(body) = response.json::<Value>().await else { return };
                for entry in body["Entries"].as_array().into_iter().flatten() {
                    if let Some(id) = entry["EventId"].as_str() {
                        acknowledged.lock().unwrap().insert(id.to_string());
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill_hard();
    putter.await.unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let delivered_before = seen.lock().unwrap().len();
    assert!(acknowledged.len() >= 50, "the load ran: {} acknowledged", acknowledged.len());
    assert!(delivered_before < acknowledged.len(), "the kill happened with deliveries outstanding");

    let server = ServerProcess::start_with(dir.path(), settings);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let missing = acknowledged.iter().filter(|id| !seen.lock().unwrap().contains_key(*id)).count();
        if missing == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{missing} of {} acknowledged events never delivered", acknowledged.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing is left in progress or pending once everything is delivered.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let counts: Value = client
            .get(format!("{}/api/v1/deliveries/counts", server.url))
            .bearer_auth(server.token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if counts.get("in_progress").is_none() && counts.get("pending").is_none() {
            assert!(counts.get("dead").is_none(), "{counts}");
            break;
        }
        assert!(Instant::now() < deadline, "deliveries stuck after restart: {counts}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let duplicates: usize = seen.lock().unwrap().values().map(|n| n - 1).sum();
    eprintln!("acknowledged {}, delivered before kill {delivered_before}, duplicates {duplicates}", acknowledged.len());
}

/// kill -9 the server while a function runs (one that left its process group too): what
/// it started dies with the server, and the restarted server runs the delivery again.
#[test]
fn kill_9_leaves_no_function_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (started, survived) = (work.path().join("started"), work.path().join("survived"));
    let mut server = ServerProcess::start(dir.path());
    let command = format!(
        "touch {started}; setsid sh -c 'sleep 3; touch {survived}' & sleep 3; touch {survived}; echo {{}}",
        started = started.display(),
        survived = survived.display()
    );
    let data = dir.path();
    crate::jobs::run(data, &["functions", "create", "slow", "--command", &command, "--timeout", "20s"]);
    crate::jobs::run(data, &["rules", "create", "all", "--pattern", r#"{"source": ["crash"]}"#]);
    crate::jobs::run(data, &["rules", "targets", "add", "all", "--function", "slow"]);
    crate::jobs::run(data, &["events", "put", "--source", "crash", "--detail-type", "x", "--detail", "{}"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the function never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill_hard();
    std::fs::remove_file(&started).unwrap();
    std::thread::sleep(Duration::from_millis(4000));
    assert!(!survived.exists(), "a function's process outlived the server that ran it");

    // The restarted server delivers the event again, to completion this time.
    let _server = ServerProcess::start(dir.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !survived.exists() {
        assert!(Instant::now() < deadline, "the delivery was not run again after the restart");
        std::thread::sleep(Duration::from_millis(50));
    }
}
