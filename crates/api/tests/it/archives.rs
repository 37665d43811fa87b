use axum::http::StatusCode;
use chrono::Utc;
use serde_json::json;

use crate::harness::{Recorder, Server};

#[tokio::test]
async fn archived_events_replay_with_a_replay_name() {
    let server = Server::start().await;
    let (status, body) = server
        .post("/archives", json!({"ArchiveName": "orders", "EventPattern": {"source": ["shop"]}, "RetentionDays": 1}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let before = Utc::now() - chrono::Duration::seconds(5);
    let kept = server.put("shop", json!({"n": 1})).await;
    server.put("other", json!({"n": 2})).await;
    server.put("shop", json!({"n": 3})).await;
    let (_, archive) = server.get("/archives/orders").await;
    assert_eq!(archive["EventCount"], 2, "only matching events are archived: {archive}");

    // A rule added after the fact sees the replayed events.
    let recorder = Recorder::start(&[200]).await;
    server.rule("late", json!({"source": ["shop"]})).await;
    server.target("late", json!({"Id": "rec", "HttpUrl": recorder.url})).await;
    let after = Utc::now() + chrono::Duration::seconds(5);
    let (status, replay) = server
        .post(
            "/replays",
            json!({"ReplayName": "again", "ArchiveName": "orders", "EventStartTime": before, "EventEndTime": after}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replay}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while recorder.received().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let received = recorder.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|e| e["replay-name"] == "again"));
    assert!(received.iter().all(|e| e["id"] != kept.as_str()), "replayed events get new ids");
    let mut numbers: Vec<i64> = received.iter().map(|e| e["detail"]["n"].as_i64().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, [1, 3]);

    let (_, replay) = server.get("/replays/again").await;
    assert_eq!((replay["State"].as_str(), replay["EventsReplayed"].as_i64()), (Some("COMPLETED"), Some(2)));
    let (_, archive) = server.get("/archives/orders").await;
    assert_eq!(archive["EventCount"], 2, "replayed events are not archived again");

    let (status, body) = server
        .post(
            "/replays",
            json!({"ReplayName": "bad", "ArchiveName": "orders", "EventStartTime": after, "EventEndTime": before}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
