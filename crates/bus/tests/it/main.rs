//! Bus tests on a real SQLite store and real function processes, without HTTP.

use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::watch;
use trainyard_bus::{BusConfig, EventBus, FunctionRequest, RuleRequest, TargetRequest};
use trainyard_store::{EventFilter, Store};

async fn bus(dir: &tempfile::TempDir) -> EventBus {
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let config = BusConfig { base_backoff: Duration::from_millis(20), ..BusConfig::default() };
    EventBus::open(store, config).await.unwrap()
}

fn rule(name: &str, pattern: Option<Value>, schedule: Option<&str>) -> RuleRequest {
    serde_json::from_value(json!({"Name": name, "EventPattern": pattern, "ScheduleExpression": schedule})).unwrap()
}

#[tokio::test]
async fn a_due_schedule_fires_once_to_its_own_targets() {
    let dir = tempfile::tempdir().unwrap();
    let bus = bus(&dir).await;
    let function: FunctionRequest = serde_json::from_value(json!({"FunctionName": "tick", "Command": "cat"})).unwrap();
    bus.create_function(&function).await.unwrap();
    let created = bus.create_rule(&rule("every-minute", None, Some("rate(1 minute)"))).await.unwrap();
    let first = created.next_fire_time.unwrap();
    assert!((first - Utc::now()).num_seconds() >= 58, "a rate fires one interval after creation");
    let target: TargetRequest = serde_json::from_value(json!({"Id": "fn", "FunctionName": "tick"})).unwrap();
    bus.put_target("default", "every-minute", &target).await.unwrap();
    // A pattern rule that would match everything must not get the scheduled event.
    bus.create_rule(&rule("everything", Some(json!({"source": [{"prefix": ""}]})), None)).await.unwrap();
    bus.put_target(
        "default",
        "everything",
        &serde_json::from_value(json!({"Id": "fn", "FunctionName": "tick"})).unwrap(),
    )
    .await
    .unwrap();

    let due = Utc::now() - chrono::Duration::seconds(1);
    bus.store().set_next_fire("default", "every-minute", Some(due)).await.unwrap();
    let (stop, stopped) = watch::channel(false);
    let schedules = tokio::spawn({
        let (bus, stopped) = (bus.clone(), stopped.clone());
        async move { bus.run_schedules(stopped).await }
    });
    let deliveries = tokio::spawn({
        let bus = bus.clone();
        async move { bus.run_deliveries(stopped).await }
    });
    let mut events = Vec::new();
    for _ in 0..100 {
        let filter = EventFilter { source: Some("aws.events".into()), limit: 10, ..Default::default() };
        events = bus.store().list_events(&filter).await.unwrap();
        if !events.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let filter = EventFilter { source: Some("aws.events".into()), limit: 10, ..Default::default() };
    events = bus.store().list_events(&filter).await.unwrap_or(events);
    assert_eq!(events.len(), 1, "fired once, not on every loop");
    let event = &events[0].event;
    assert_eq!(event["detail-type"], "Scheduled Event");
    assert_eq!(event["resources"], json!([created.arn]));
    assert_eq!(events[0].matched_rules, vec!["every-minute".to_string()]);
    let next = bus.store().get_rule("default", "every-minute").await.unwrap().next_fire_time.unwrap();
    assert!(next > Utc::now() + chrono::Duration::seconds(50), "the next firing is a minute on");

    let id = event["id"].as_str().unwrap();
    let mut state = String::new();
    for _ in 0..100 {
        let deliveries = bus.store().deliveries_of(id).await.unwrap();
        assert_eq!(deliveries.len(), 1, "only the schedule's own rule");
        state = deliveries[0].0.state.clone();
        if state == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, "succeeded");
    stop.send(true).unwrap();
    schedules.await.unwrap();
    deliveries.await.unwrap();
}

#[tokio::test]
async fn the_platform_may_emit_aws_events_and_many_rules_route_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let bus = bus(&dir).await;
    for i in 0..300 {
        let pattern = json!({"source": ["aws.ecr"], "detail": {"repository-name": [format!("repo-{i}")]}});
        bus.create_rule(&rule(&format!("r{i}"), Some(pattern), None)).await.unwrap();
    }
    let id = bus
        .emit("aws.ecr", "ECR Image Action", json!({"action-type": "PUSH", "repository-name": "repo-42"}), vec![])
        .await
        .unwrap();
    let stored = bus.store().get_event(&id).await.unwrap();
    assert_eq!(stored.matched_rules, vec!["r42".to_string()]);

    let user = trainyard_events::PutEntry {
        source: Some("aws.ecr".into()),
        detail_type: Some("x".into()),
        detail: Some(json!({})),
        ..Default::default()
    };
    assert!(matches!(
        bus.put_events(&[user], false).await,
        Err(trainyard_bus::Error::Events(trainyard_events::Error::ReservedSource { .. }))
    ));
}

/// Rule changes are applied to the routing cache in place: each takes effect before its
/// call returns, and the cache then agrees with one loaded whole from the store.
#[tokio::test]
async fn rule_changes_take_effect_at_once_and_agree_with_a_whole_reload() {
    let dir = tempfile::tempdir().unwrap();
    let bus = bus(&dir).await;
    let matched = |value: &'static str| {
        let bus = bus.clone();
        async move {
            let id = bus.emit("aws.app", "Changed", json!({"k": value}), vec![]).await.unwrap();
            bus.store().get_event(&id).await.unwrap().matched_rules
        }
    };
    let pattern = |value: &str| json!({"source": ["aws.app"], "detail": {"k": [value]}});
    bus.create_rule(&rule("r1", Some(pattern("a")), None)).await.unwrap();
    bus.create_rule(&rule("r2", Some(json!({"source": ["aws.app"]})), None)).await.unwrap();
    assert_eq!(matched("a").await, ["r1", "r2"]);
    bus.update_rule(&rule("r1", Some(pattern("b")), None)).await.unwrap();
    assert_eq!(matched("a").await, ["r2"]);
    assert_eq!(matched("b").await, ["r1", "r2"]);
    bus.set_rule_state("default", "r2", false).await.unwrap();
    assert_eq!(matched("b").await, ["r1"]);
    bus.set_rule_state("default", "r2", true).await.unwrap();
    assert_eq!(matched("b").await, ["r1", "r2"]);
    bus.delete_rule("default", "r1").await.unwrap();
    assert_eq!(matched("b").await, ["r2"]);
    bus.reload().await.unwrap();
    assert_eq!(matched("b").await, ["r2"]);
    // A disabled rule created disabled is not matched either, before or after a reload.
    let mut disabled = rule("r3", Some(pattern("c")), None);
    disabled.state = Some("DISABLED".into());
    bus.create_rule(&disabled).await.unwrap();
    assert_eq!(matched("c").await, ["r2"]);
    tokio::time::sleep(Duration::from_millis(3500)).await; // the quiet-time compaction
    assert_eq!(matched("c").await, ["r2"]);
}
