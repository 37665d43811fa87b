use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::harness::Server;

fn entry(source: &str, detail: Value) -> Value {
    json!({"Source": source, "DetailType": "Thing Happened", "Detail": detail})
}

#[tokio::test]
async fn put_events_reports_partial_failures_per_entry() {
    let server = Server::start().await;
    let entries = json!({"Entries": [
        entry("my.app", json!({"ok": true})),
        entry("my.app", json!("[1, 2]")),
        entry("my.app", json!({"big": "x".repeat(256 * 1024)})),
        {"Source": "my.app", "DetailType": "T", "Detail": "{}", "EventBusName": "nope"},
        {"DetailType": "T", "Detail": "{}"},
    ]});
    let (status, body) = server.post("/events", entries).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["FailedEntryCount"], 4);
    let results = body["Entries"].as_array().unwrap();
    assert!(results[0]["EventId"].is_string());
    assert!(results[1]["ErrorMessage"].as_str().unwrap().contains("JSON object"));
    assert!(results[2]["ErrorMessage"].as_str().unwrap().contains("limit"));
    assert_eq!(results[3]["ErrorCode"], "ResourceNotFoundException");
    assert!(results[4]["ErrorMessage"].as_str().unwrap().contains("Source"));

    // The accepted event is durable and listed.
    let id = results[0]["EventId"].as_str().unwrap();
    let (status, described) = server.get(&format!("/events/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(described["Event"]["detail"], json!({"ok": true}));
    assert_eq!(described["Event"]["version"], "0");
    assert_eq!(described["Event"]["account"], "000000000000");
}

#[tokio::test]
async fn more_than_ten_entries_is_refused_whole() {
    let server = Server::start().await;
    let entries: Vec<Value> = (0..11).map(|i| entry("my.app", json!({"i": i}))).collect();
    let (status, body) = server.post("/events", json!({"Entries": entries})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "LimitExceededException");
    let (_, listed) = server.get("/events").await;
    assert_eq!(listed["Events"].as_array().unwrap().len(), 0, "nothing of a refused call is stored");
}

#[tokio::test]
async fn aws_sources_are_forbidden_to_users() {
    let server = Server::start().await;
    let (status, body) = server.post("/events", json!({"Entries": [entry("aws.s3", json!({}))]})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "AccessDeniedException");
    assert!(body["message"].as_str().unwrap().contains("aws.s3"));
}

#[tokio::test]
async fn events_are_listed_and_filtered() {
    let server = Server::start().await;
    server.put("a.app", json!({"n": 1})).await;
    server.put("b.app", json!({"n": 2})).await;
    let (_, all) = server.get("/events").await;
    let sources: Vec<&str> =
        all["Events"].as_array().unwrap().iter().map(|e| e["Event"]["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["b.app", "a.app"], "newest first");
    let (_, filtered) = server.get("/events?source=a.app").await;
    assert_eq!(filtered["Events"].as_array().unwrap().len(), 1);
    let (_, future) = server.get("/events?since=2999-01-01T00:00:00Z").await;
    assert_eq!(future["Events"].as_array().unwrap().len(), 0);
    let (status, body) = server.get("/events?since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Following: `after` waits for newer events and returns only those, oldest first.
    let newest = all["Events"][0]["Seq"].as_i64().unwrap();
    let url = server.url.clone();
    let putter = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let entry = json!({"Source": "c.app", "DetailType": "Late", "Detail": {}});
        reqwest::Client::new()
            .post(format!("{url}/api/v1/events"))
            .bearer_auth(crate::harness::TOKEN)
            .json(&json!({"Entries": [entry]}))
            .send()
            .await
            .unwrap();
    });
    let started = std::time::Instant::now();
    let (_, followed) = server.get(&format!("/events?after={newest}&wait=10")).await;
    putter.await.unwrap();
    let followed = followed["Events"].as_array().unwrap();
    assert_eq!(followed.len(), 1, "{followed:?}");
    assert_eq!(followed[0]["Event"]["source"], "c.app");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "the long poll returned on arrival");
}

#[tokio::test]
async fn test_pattern_answers_and_rejects_bad_patterns() {
    let server = Server::start().await;
    let event = json!({"source": "x", "detail": {"state": "running", "n": 7}});
    let (status, body) = server
        .post(
            "/events/test-pattern",
            json!({"EventPattern": {"detail": {"n": [{"numeric": [">", 5]}]}}, "Event": event}),
        )
        .await;
    assert_eq!((status, body["Result"].clone()), (StatusCode::OK, json!(true)));
    let (_, body) = server
        .post(
            "/events/test-pattern",
            json!({"EventPattern": "{\"detail\": {\"state\": [\"stopped\"]}}", "Event": event}),
        )
        .await;
    assert_eq!(body["Result"], json!(false));
    let (status, body) = server
        .post("/events/test-pattern", json!({"EventPattern": {"detail": {"state": "running"}}, "Event": event}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "InvalidEventPatternException");
    assert!(body["message"].as_str().unwrap().contains("detail.state"), "{body}");
}
