//! Two servers (replicas) on one PostgreSQL database serve one platform: a change made on
//! one is seen by the other at once, one of them leads the singletons, and when the leader
//! is killed the other takes the lead and every acknowledged event still reaches its
//! target. On the PostgreSQL at `TY_TEST_DATABASE_URL`; without it these tests skip.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::crash::{api, start_target};
use crate::process::ServerProcess;

/// Starts two replicas on `database`: the first makes the admin token and master key, the
/// second gets copies (as a Kubernetes Secret would give every replica the same ones).
fn two_replicas(database: &str, a: &Path, b: &Path) -> (ServerProcess, ServerProcess) {
    two_replicas_with(&[("TRAINYARD_DATABASE", database)], a, b)
}

fn two_replicas_with(settings: &[(&str, &str)], a: &Path, b: &Path) -> (ServerProcess, ServerProcess) {
    let first = ServerProcess::start_with(a, settings);
    std::fs::create_dir_all(b).unwrap();
    for file in ["admin.token", "master.key"] {
        std::fs::copy(a.join(file), b.join(file)).unwrap();
    }
    let second = ServerProcess::start_with(b, settings);
    (first, second)
}

async fn health(client: &reqwest::Client, server: &ServerProcess) -> Option<Value> {
    client.get(format!("{}/api/v1/health", server.url)).send().await.ok()?.json().await.ok()
}

/// Waits until `server` says it leads (true) within `limit`.
async fn leads(client: &reqwest::Client, server: &ServerProcess, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if health(client, server).await.is_some_and(|h| h["leader"] == json!(true)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_made_on_one_replica_matches_an_event_put_on_the_other_within_100_ms() {
    let Some(database) = crate::postgres::fresh_database() else { return };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = two_replicas(&database, a_dir.path(), b_dir.path());
    let client = reqwest::Client::new();
    let (target, seen) = start_target().await;
    for round in 0..5 {
        let rule = format!("r{round}");
        api(&client, &a, "/rules", json!({"Name": rule, "EventPattern": {"source": [format!("app.{round}")]}}))
            .await
            .unwrap();
        api(&client, &a, &format!("/rules/{rule}/targets"), json!({"Id": "sink", "HttpUrl": target})).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let put = api(
            &client,
            &b,
            "/events",
            json!({"Entries": [{"Source": format!("app.{round}"), "DetailType": "T", "Detail": {}}]}),
        )
        .await
        .unwrap();
        let id = put["Entries"][0]["EventId"].as_str().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !seen.lock().unwrap().contains_key(&id) {
            assert!(
                Instant::now() < deadline,
                "round {round}: the event put on B 100 ms after A made the rule never arrived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Both answer for one platform: the same rules, whichever is asked.
    for server in [&a, &b] {
        let rules: Value = client
            .get(format!("{}/api/v1/rules", server.url))
            .bearer_auth(server.token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(rules["Rules"].as_array().unwrap().len(), 5, "{rules}");
    }
}

/// `GET /sts/caller-identity` on `server` with `secret`: the status.
async fn caller_status(client: &reqwest::Client, server: &ServerProcess, secret: &str) -> u16 {
    let url = format!("{}/api/v1/sts/caller-identity", server.url);
    client.get(url).bearer_auth(secret).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_made_on_one_replica_works_on_the_other_and_its_deletion_too() {
    let Some(database) = crate::postgres::fresh_database() else { return };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = two_replicas(&database, a_dir.path(), b_dir.path());
    let client = reqwest::Client::new();
    api(&client, &a, "/iam/users", json!({"Name": "bob"})).await.unwrap();
    let key = api(&client, &a, "/iam/users/bob/access-keys", json!({})).await.unwrap();
    let (id, secret) =
        (key["AccessKey"]["AccessKeyId"].as_str().unwrap(), key["AccessKey"]["SecretAccessKey"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(caller_status(&client, &b, secret).await, 200, "B knows the key A made 100 ms ago");
    let deleted = client
        .delete(format!("{}/api/v1/iam/users/bob/access-keys/{id}", a.url))
        .bearer_auth(a.token())
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(caller_status(&client, &b, secret).await, 401, "B refuses the key A deleted 100 ms ago");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_leader_is_killed_the_other_leads_and_every_acknowledged_event_arrives() {
    let Some(database) = crate::postgres::fresh_database() else { return };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, b) = two_replicas(&database, a_dir.path(), b_dir.path());
    let client = reqwest::Client::new();
    assert!(leads(&client, &a, Duration::from_secs(5)).await, "the first replica leads");
    assert!(health(&client, &b).await.unwrap()["leader"] == json!(false), "one leader at a time");
    let (target, seen) = start_target().await;
    api(&client, &a, "/rules", json!({"Name": "all", "EventPattern": {"source": ["load"]}})).await.unwrap();
    api(&client, &a, "/rules/all/targets", json!({"Id": "sink", "HttpUrl": target})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // 1 000 events in batches of 10, alternating between the replicas; the leader is
    // killed halfway, and what it no longer answers goes to the other.
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let (a_url, b_url, token) = (a.url.clone(), b.url.clone(), a.token());
    let mut killed = None;
    for batch in 0..100 {
        if batch == 50 {
            a.kill_hard();
            killed = Some(Instant::now());
        }
        let url = if batch % 2 == 0 && killed.is_none() { &a_url } else { &b_url };
        let entries: Vec<Value> = (0..10)
            .map(|i| json!({"Source": "load", "DetailType": "Tick", "Detail": {"batch": batch, "i": i}}))
            .collect();
        let body: Value = client
            .post(format!("{url}/api/v1/events"))
            .bearer_auth(&token)
            .json(&json!({"Entries": entries}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for entry in body["Entries"].as_array().unwrap() {
            acknowledged.lock().unwrap().insert(entry["EventId"].as_str().unwrap().to_string());
        }
    }
    let killed = killed.unwrap();
    assert!(leads(&client, &b, Duration::from_secs(5)).await, "the other replica takes the lead within seconds");
    println!("the second replica led {:?} after the kill", killed.elapsed());
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(acknowledged.len(), 1000);
    // The deliveries the dead leader held come back once it counts as gone (10 s).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let missing = acknowledged.iter().filter(|id| !seen.lock().unwrap().contains_key(*id)).count();
        if missing == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{missing} of 1000 acknowledged events never delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let duplicates: usize = seen.lock().unwrap().values().map(|n| n - 1).sum();
    println!("1000 events delivered at least once after the leader's kill; {duplicates} delivered twice or more");
}

/// The endpoint's predictions for `csv` from `server`, or the failure.
async fn predict(client: &reqwest::Client, server: &str, token: &str, csv: &str) -> Result<String, String> {
    let response = client
        .post(format!("{server}/endpoints/live/invocations"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status}: {body}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_replicas_serve_the_endpoint_and_a_deployment_under_their_load_fails_no_request() {
    let Some(database) = crate::postgres::fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    // One object store for both: a directory here (S3 elsewhere).
    let objects = format!("file://{}", dir.path().join("objects").display());
    let settings = [("TRAINYARD_DATABASE", database.as_str()), ("TRAINYARD_OBJECT_STORE", objects.as_str())];
    let (a, b) = two_replicas_with(&settings, &a_dir, &b_dir);
    std::fs::create_dir_all(dir.path().join("train")).unwrap();
    crate::jobs::write_csv(&dir.path().join("train/part-0.csv"), 600, 1, 0.8);
    let run = crate::jobs::run;
    run(&a_dir, &["data", "mb", "s3://ml-data"]);
    run(&a_dir, &["data", "put", dir.path().join("train").to_str().unwrap(), "s3://ml-data/blobs/train/"]);
    let first = crate::evaluation::train(&a_dir, "r-linear", "linear-learner", &["predictor_type=binary_classifier"]);
    let second = crate::evaluation::train(&a_dir, "r-gbdt", "gbdt", &["objective=binary:logistic", "num_round=20"]);
    run(&a_dir, &["models", "groups", "create", "blobs"]);
    for url in [&first, &second] {
        run(&a_dir, &["models", "register", "--group", "blobs", "--model-data", url, "--status", "Approved"]);
    }
    run(&a_dir, &["endpoints", "deploy", "live", "--model-package", "blobs/1", "--wait"]);

    // B serves the endpoint A created, with A's answers.
    let (client, token) = (reqwest::Client::new(), a.token());
    let csv = "0.9,-0.5,0.3\n0.1,0.8,0.6\n";
    let expected = predict(&client, &a.url, &token, csv).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match predict(&client, &b.url, &token, csv).await {
            Ok(answer) => break assert_eq!(answer, expected, "the same model on both"),
            Err(e) => assert!(Instant::now() < deadline, "B never served the endpoint A created: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Load on both replicas while A deploys version 2 in two steps.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut loads = Vec::new();
    for server in [a.url.clone(), b.url.clone(), a.url.clone(), b.url.clone()] {
        let (client, token, stop) = (client.clone(), token.clone(), Arc::clone(&stop));
        loads.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0usize, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match predict(&client, &server, &token, csv).await {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push(e),
                }
            }
            (server, ok, failed)
        }));
    }
    let deploy = tokio::task::spawn_blocking({
        let a_dir = a_dir.clone();
        move || {
            let args = ["endpoints", "deploy", "live", "--model-package", "blobs/2", "--strategy", "canary:50:1s"];
            crate::process::cli(&a_dir, &[&args[..], &["--termination-wait", "1s", "--wait"]].concat())
        }
    });
    let deployed = deploy.await.unwrap();
    assert_eq!(deployed.status.code(), Some(0), "{}", crate::process::stderr(&deployed));
    // B moves to version 2 once A commits it.
    let new = predict(&client, &a.url, &token, csv).await.unwrap();
    assert_ne!(new, expected, "version 2 answers differently");
    let deadline = Instant::now() + Duration::from_secs(10);
    while predict(&client, &b.url, &token, csv).await.unwrap() != new {
        assert!(Instant::now() < deadline, "B still serves version 1 after the deployment committed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for load in loads {
        let (server, ok, failed) = load.await.unwrap();
        assert!(failed.is_empty(), "{} requests to {server} failed, first: {}", failed.len(), failed[0]);
        assert!(ok > 0, "{server} answered");
        total += ok;
    }
    println!("{total} requests over both replicas during the deployment, none failed");
}
