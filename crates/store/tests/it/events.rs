//! Events and their deliveries: atomic puts, exclusive claims, pruning.

use std::collections::HashSet;

use crate::backends::conformance;
use chrono::{Duration, Utc};
use serde_json::json;
use trainyard_events::Event;
use trainyard_store::{AfterAttempt, Attempt, Bus, NewEvent, Rule, Store};

async fn with_rule(store: Store) -> Store {
    let now = Utc::now();
    store.ensure_bus(&Bus { name: "default".into(), arn: "arn:bus".into(), creation_time: now }).await.unwrap();
    let rule = Rule {
        name: "r".into(),
        arn: "arn:r".into(),
        event_bus_name: "default".into(),
        event_pattern: Some("{}".into()),
        schedule_expression: None,
        state: "ENABLED".into(),
        description: String::new(),
        next_fire_time: None,
        creation_time: now,
    };
    store.create_rule(&rule).await.unwrap();
    store
}

fn new_event(n: i64) -> NewEvent {
    let event = Event::new("s", "t", json!({"n": n}), vec![], Utc::now(), "000000000000", "local");
    NewEvent {
        event,
        bus: "default".into(),
        ingested_at: Utc::now(),
        matched_rules: vec!["r".into()],
        deliveries: vec![("r".into(), "a".into()), ("r".into(), "b".into())],
        archives: vec![],
    }
}

conformance! {
async fn concurrent_claims_never_share_a_delivery(store) {
    let store = with_rule(store).await;
    let events: Vec<NewEvent> = (0..100).map(new_event).collect();
    store.put_events(&events).await.unwrap();
    let lease = Utc::now() + Duration::minutes(5);
    let claims = futures::future::join_all((0..8).map(|_| store.claim_due(Utc::now(), lease, 30))).await;
    let mut seen = HashSet::new();
    let mut total = 0;
    for claim in claims {
        for claimed in claim.unwrap() {
            total += 1;
            assert!(seen.insert(claimed.delivery.id), "delivery {} claimed twice", claimed.delivery.id);
            assert_eq!(claimed.delivery.attempts, 1);
        }
    }
    assert_eq!(total, 200, "every delivery claimed exactly once");
    assert!(store.claim_due(Utc::now(), lease, 10).await.unwrap().is_empty(), "leased deliveries are not due");
    // After a crash every in-progress delivery becomes claimable again.
    assert_eq!(store.release_in_progress().await.unwrap(), 200);
    assert_eq!(store.claim_due(Utc::now(), lease, 1000).await.unwrap().len(), 200);
}

async fn a_put_is_all_or_nothing_and_pruning_keeps_unfinished_work(store) {
    let store = with_rule(store).await;
    let first = new_event(1);
    store.put_events(std::slice::from_ref(&first)).await.unwrap();
    // A batch that repeats an event id fails whole: the new event in it is not stored.
    let second = new_event(2);
    assert!(store.put_events(&[second.clone(), first.clone()]).await.is_err());
    assert!(store.get_event(&second.event.id).await.is_err());

    let lease = Utc::now() + Duration::minutes(5);
    let claimed = store.claim_due(Utc::now(), lease, 1).await.unwrap().remove(0);
    let attempt = Attempt {
        attempt: 1,
        start_time: Utc::now(),
        duration_ms: 1,
        outcome: "succeeded".into(),
        error_code: None,
        message: None,
    };
    store.finish_attempts(&[(claimed.delivery, attempt.clone(), AfterAttempt::Succeeded)]).await.unwrap();
    // One delivery of the event is still pending, so the event stays.
    assert_eq!(store.prune_events(Utc::now() + Duration::hours(1)).await.unwrap(), 0);
    let other = store.claim_due(Utc::now(), lease, 1).await.unwrap().remove(0);
    store.finish_attempts(&[(other.delivery, attempt, AfterAttempt::Succeeded)]).await.unwrap();
    assert_eq!(store.prune_events(Utc::now() + Duration::hours(1)).await.unwrap(), 1);
    assert!(store.get_event(&first.event.id).await.is_err());
}
}
