//! Events and their deliveries: atomic puts, exclusive claims, pruning.

use std::collections::HashSet;

use crate::backends::conformance;
use chrono::{Duration, Utc};
use serde_json::json;
use trainyard_events::Event;
use trainyard_store::{AfterAttempt, Attempt, Bus, Error, EventFilter, NewEvent, Rule, Store};

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

/// A time with whole milliseconds (what the store keeps).
fn at(millis: i64) -> chrono::DateTime<Utc> {
    trainyard_store::from_millis(millis)
}

const T0: i64 = 1_700_000_000_123;

fn event_at(source: &str, detail_type: &str, ingested: i64, deliveries: &[(&str, &str)]) -> NewEvent {
    let event = Event::new(source, detail_type, json!({"k": "välue ✓"}), vec!["arn:x".into()], at(ingested), "0", "r");
    NewEvent {
        event,
        bus: "default".into(),
        ingested_at: at(ingested),
        matched_rules: vec!["r".into(), "r/ü".into()],
        deliveries: deliveries.iter().map(|(r, t)| (r.to_string(), t.to_string())).collect(),
        archives: vec![],
    }
}

fn attempt(n: i64, start: i64, outcome: &str) -> Attempt {
    Attempt {
        attempt: n,
        start_time: at(start),
        duration_ms: 7,
        outcome: outcome.into(),
        error_code: (outcome != "succeeded").then(|| "Boom".to_string()),
        message: (outcome != "succeeded").then(|| "it went \"boom\" ☄".to_string()),
    }
}

conformance! {
async fn concurrent_claims_never_share_a_delivery(store) {
    let store = with_rule(store).await;
    let events: Vec<NewEvent> = (0..100).map(new_event).collect();
    store.put_events(&events).await.unwrap();
    let lease = Utc::now() + Duration::minutes(5);
    let claims = futures::future::join_all((0..8).map(|_| store.claim_due(Utc::now(), lease, 30, "me"))).await;
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
    assert!(store.claim_due(Utc::now(), lease, 10, "me").await.unwrap().is_empty(), "leased deliveries are not due");
    // When their claimer is gone (never joined, here), every in-progress delivery becomes
    // claimable again.
    assert_eq!(store.release_departed(Utc::now()).await.unwrap(), 200);
    assert_eq!(store.claim_due(Utc::now(), lease, 1000, "me").await.unwrap().len(), 200);
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
    let claimed = store.claim_due(Utc::now(), lease, 1, "me").await.unwrap().remove(0);
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
    let other = store.claim_due(Utc::now(), lease, 1, "me").await.unwrap().remove(0);
    store.finish_attempts(&[(other.delivery, attempt, AfterAttempt::Succeeded)]).await.unwrap();
    assert_eq!(store.prune_events(Utc::now() + Duration::hours(1)).await.unwrap(), 1);
    assert!(store.get_event(&first.event.id).await.is_err());
}

async fn events_round_trip_and_list_with_filters_order_and_tailing(store) {
    let store = with_rule(store).await;
    let a = event_at("src.a", "Type A", T0, &[("r", "a")]);
    let b = event_at("src.b", "Type B", T0 + 1, &[]);
    let c = event_at("src.a", "Type B", T0 + 2, &[("r", "a")]);
    store.put_events(&[a.clone(), b.clone()]).await.unwrap();
    store.put_events(std::slice::from_ref(&c)).await.unwrap();
    store.put_events(&[]).await.unwrap();

    let got = store.get_event(&a.event.id).await.unwrap();
    assert_eq!(got.bus, "default");
    assert_eq!(got.ingested_at, at(T0));
    assert_eq!(got.matched_rules, vec!["r".to_string(), "r/ü".to_string()]);
    assert_eq!(got.event, serde_json::to_value(&a.event).unwrap());
    assert!(matches!(store.get_event("nope").await, Err(Error::NotFound { .. })));
    // A repeated id is refused as AlreadyExists.
    assert!(matches!(store.put_events(std::slice::from_ref(&a)).await, Err(Error::AlreadyExists { .. })));

    let filter = |f: EventFilter| EventFilter { limit: 100, ..f };
    let ids = |events: Vec<trainyard_store::StoredEvent>| -> Vec<String> {
        events.into_iter().map(|e| e.event["id"].as_str().unwrap().to_string()).collect()
    };
    // Newest first without a cursor.
    let all = store.list_events(&filter(EventFilter::default())).await.unwrap();
    assert_eq!(ids(all.clone()), vec![c.event.id.clone(), b.event.id.clone(), a.event.id.clone()]);
    assert!(all[0].seq > all[1].seq && all[1].seq > all[2].seq);
    let by_source = filter(EventFilter { source: Some("src.a".into()), ..Default::default() });
    assert_eq!(ids(store.list_events(&by_source).await.unwrap()), vec![c.event.id.clone(), a.event.id.clone()]);
    let by_type = EventFilter { detail_type: Some("Type B".into()), ..Default::default() };
    assert_eq!(ids(store.list_events(&filter(by_type)).await.unwrap()), vec![c.event.id.clone(), b.event.id.clone()]);
    let since = EventFilter { since: Some(at(T0 + 1)), ..Default::default() };
    assert_eq!(ids(store.list_events(&filter(since)).await.unwrap()), vec![c.event.id.clone(), b.event.id.clone()]);
    let other_bus = EventFilter { bus: Some("other".into()), ..Default::default() };
    assert!(store.list_events(&filter(other_bus)).await.unwrap().is_empty());
    let on_default = EventFilter { bus: Some("default".into()), source: Some("src.b".into()), ..Default::default() };
    assert_eq!(ids(store.list_events(&filter(on_default)).await.unwrap()), vec![b.event.id.clone()]);
    // Limit: the newest ones; a limit below 1 still returns one.
    let newest = store.list_events(&EventFilter { limit: 2, ..Default::default() }).await.unwrap();
    assert_eq!(ids(newest), vec![c.event.id.clone(), b.event.id.clone()]);
    assert_eq!(store.list_events(&EventFilter { limit: 0, ..Default::default() }).await.unwrap().len(), 1);
    // Tailing: oldest first after a sequence number.
    let after = EventFilter { after_seq: Some(all[2].seq), limit: 1, ..Default::default() };
    assert_eq!(ids(store.list_events(&after).await.unwrap()), vec![b.event.id.clone()]);
    let after = EventFilter { after_seq: Some(all[2].seq), limit: 10, ..Default::default() };
    assert_eq!(ids(store.list_events(&after).await.unwrap()), vec![b.event.id.clone(), c.event.id.clone()]);
    let after = EventFilter { after_seq: Some(all[0].seq), limit: 10, ..Default::default() };
    assert!(store.list_events(&after).await.unwrap().is_empty());
}

async fn a_delivery_lives_through_claims_retries_death_and_redrive(store) {
    let store = with_rule(store).await;
    // A repeated (rule, target) pair is one delivery.
    let new = event_at("s", "t", T0, &[("r", "a"), ("r", "a"), ("r", "b")]);
    store.put_events(std::slice::from_ref(&new)).await.unwrap();
    let deliveries = store.deliveries_of(&new.event.id).await.unwrap();
    assert_eq!(deliveries.len(), 2);
    let (first, attempts) = &deliveries[0];
    assert!(attempts.is_empty());
    assert_eq!((first.rule.as_str(), first.target_id.as_str(), first.state.as_str()), ("r", "a", "pending"));
    assert_eq!((first.event_id.as_str(), first.event_bus_name.as_str()), (new.event.id.as_str(), "default"));
    assert_eq!((first.attempts, first.next_attempt_time, first.age_from), (0, at(T0), at(T0)));
    assert_eq!((first.first_attempt_time, first.last_attempt_time), (None, None));
    assert_eq!(deliveries[1].0.target_id, "b");
    assert!(store.deliveries_of("nope").await.unwrap().is_empty());
    assert_eq!(store.next_due().await.unwrap(), Some(at(T0)));
    assert_eq!(store.delivery_counts().await.unwrap(), vec![("pending".to_string(), 2)]);

    // Nothing is due before its time; a claim takes at most `limit`.
    assert!(store.claim_due(at(T0 - 1), at(T0 + 1_000), 10, "me").await.unwrap().is_empty());
    let claimed = store.claim_due(at(T0 + 10), at(T0 + 1_000), 1, "me").await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event, serde_json::to_value(&new.event).unwrap());
    let mut rest = store.claim_due(at(T0 + 10), at(T0 + 1_000), 10, "me").await.unwrap();
    assert_eq!(rest.len(), 1);
    let (one, two) = (claimed[0].delivery.clone(), rest.remove(0).delivery);
    assert_ne!(one.id, two.id);
    for d in [&one, &two] {
        assert_eq!((d.state.as_str(), d.attempts), ("in_progress", 1));
        assert_eq!((d.first_attempt_time, d.last_attempt_time), (Some(at(T0 + 10)), Some(at(T0 + 10))));
    }
    assert_eq!(store.next_due().await.unwrap(), None);
    assert_eq!(store.delivery_counts().await.unwrap(), vec![("in_progress".to_string(), 2)]);
    // A lease that ran out makes the delivery claimable again (a second attempt).
    assert!(store.claim_due(at(T0 + 1_000), at(T0 + 5_000), 10, "me").await.unwrap().is_empty());
    let again = store.claim_due(at(T0 + 1_001), at(T0 + 5_000), 10, "me").await.unwrap();
    assert_eq!(again.len(), 2);
    let one = again.iter().find(|c| c.delivery.id == one.id).unwrap().delivery.clone();
    // (An attempt is recorded under the claim it ran under: the latest.)
    let two = again.iter().find(|c| c.delivery.id == two.id).unwrap().delivery.clone();
    assert_eq!((one.attempts, one.first_attempt_time, one.last_attempt_time), (2, Some(at(T0 + 10)), Some(at(T0 + 1_001))));

    // One retries later, the other dies.
    store
        .finish_attempts(&[
            (one.clone(), attempt(2, T0 + 1_001, "retriable"), AfterAttempt::RetryAt(at(T0 + 60_000))),
            (
                two.clone(),
                attempt(2, T0 + 1_002, "fatal"),
                AfterAttempt::Dead { error_code: "Fatal".into(), error_message: "no such host ✗".into() },
            ),
        ])
        .await
        .unwrap();
    assert_eq!(store.next_due().await.unwrap(), Some(at(T0 + 60_000)));
    assert_eq!(
        store.delivery_counts().await.unwrap(),
        vec![("dead".to_string(), 1), ("pending".to_string(), 1)]
    );
    assert!(store.claim_due(at(T0 + 59_999), at(T0 + 90_000), 10, "me").await.unwrap().is_empty());
    let deliveries = store.deliveries_of(&new.event.id).await.unwrap();
    let (retried, attempts) = deliveries.iter().find(|(d, _)| d.id == one.id).unwrap();
    assert_eq!((retried.state.as_str(), retried.next_attempt_time), ("pending", at(T0 + 60_000)));
    assert_eq!(attempts.len(), 1);
    let a = &attempts[0];
    assert_eq!((a.attempt, a.start_time, a.duration_ms, a.outcome.as_str()), (2, at(T0 + 1_001), 7, "retriable"));
    assert_eq!((a.error_code.as_deref(), a.message.as_deref()), (Some("Boom"), Some("it went \"boom\" ☄")));

    let letters = store.list_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!((letter.delivery_id, letter.event_id.as_str()), (two.id, new.event.id.as_str()));
    assert_eq!((letter.rule.as_str(), letter.target_id.as_str(), letter.event_bus_name.as_str()), ("r", "b", "default"));
    assert_eq!((letter.error_code.as_str(), letter.error_message.as_str()), ("Fatal", "no such host ✗"));
    assert_eq!((letter.attempts, letter.first_attempt_time, letter.last_attempt_time), (2, Some(at(T0 + 10)), Some(at(T0 + 1_001))));
    assert_eq!(letter.creation_time, at(T0 + 1_002 + 7));
    // A dead delivery keeps its event from being pruned.
    let one = store.claim_due(at(T0 + 60_000), at(T0 + 90_000), 10, "me").await.unwrap().remove(0).delivery;
    store
        .finish_attempts(&[(one.clone(), attempt(3, T0 + 60_000, "succeeded"), AfterAttempt::Succeeded)])
        .await
        .unwrap();
    assert_eq!(store.prune_events(at(T0 + 1_000_000)).await.unwrap(), 0);

    // Redrive: an unknown id fails the whole call, and nothing moves.
    assert!(matches!(store.redrive(Some(&[letter.id, letter.id + 1000]), at(T0 + 70_000)).await, Err(Error::NotFound { .. })));
    assert_eq!(store.list_dead_letters(10).await.unwrap().len(), 1);
    assert_eq!(store.redrive(Some(&[]), at(T0 + 70_000)).await.unwrap(), 0);
    assert_eq!(store.redrive(Some(&[letter.id]), at(T0 + 70_000)).await.unwrap(), 1);
    assert!(store.list_dead_letters(10).await.unwrap().is_empty());
    let deliveries = store.deliveries_of(&new.event.id).await.unwrap();
    let (redriven, attempts) = deliveries.iter().find(|(d, _)| d.id == two.id).unwrap();
    assert_eq!((redriven.state.as_str(), redriven.attempts), ("pending", 0));
    assert_eq!((redriven.next_attempt_time, redriven.age_from), (at(T0 + 70_000), at(T0 + 70_000)));
    assert_eq!(attempts.len(), 1, "the attempt history stays");
    assert_eq!(store.redrive(None, at(T0 + 70_000)).await.unwrap(), 0);

    // Dies again: a new letter; redrive without ids takes them all.
    let claimed = store.claim_due(at(T0 + 70_000), at(T0 + 80_000), 10, "me").await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].delivery.attempts, 1);
    let dead = AfterAttempt::Dead { error_code: "Again".into(), error_message: String::new() };
    store.finish_attempts(&[(claimed[0].delivery.clone(), attempt(1, T0 + 70_000, "fatal"), dead)]).await.unwrap();
    let letters = store.list_dead_letters(10).await.unwrap();
    assert_eq!((letters.len(), letters[0].error_code.as_str(), letters[0].attempts), (1, "Again", 1));
    assert!(letters[0].id > letter.id);
    assert_eq!(store.redrive(None, at(T0 + 90_000)).await.unwrap(), 1);
    let claimed = store.claim_due(at(T0 + 90_000), at(T0 + 95_000), 10, "me").await.unwrap();
    store
        .finish_attempts(&[(claimed[0].delivery.clone(), attempt(1, T0 + 90_000, "succeeded"), AfterAttempt::Succeeded)])
        .await
        .unwrap();
    assert_eq!(store.delivery_counts().await.unwrap(), vec![("succeeded".to_string(), 2)]);
    // Only events ingested before the cutoff go; their deliveries and attempts with them.
    assert_eq!(store.prune_events(at(T0)).await.unwrap(), 0);
    assert_eq!(store.prune_events(at(T0 + 1)).await.unwrap(), 1);
    assert!(store.deliveries_of(&new.event.id).await.unwrap().is_empty());
    assert!(store.delivery_counts().await.unwrap().is_empty());
}

async fn dead_letters_list_newest_first_up_to_a_limit(store) {
    let store = with_rule(store).await;
    let events: Vec<NewEvent> = (0..3).map(|n| event_at("s", "t", T0 + n, &[("r", "a")])).collect();
    store.put_events(&events).await.unwrap();
    // A negative limit claims every due delivery (SQLite's LIMIT -1).
    let claimed = store.claim_due(at(T0 + 10), at(T0 + 1_000), -1, "me").await.unwrap();
    assert_eq!(claimed.len(), 3);
    for claim in &claimed {
        let dead = AfterAttempt::Dead { error_code: claim.delivery.event_id.clone(), error_message: "x".into() };
        store.finish_attempts(&[(claim.delivery.clone(), attempt(1, T0 + 10, "fatal"), dead)]).await.unwrap();
    }
    let letters = store.list_dead_letters(2).await.unwrap();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].error_code, claimed[2].delivery.event_id);
    assert_eq!(letters[1].error_code, claimed[1].delivery.event_id);
    assert!(letters[0].id > letters[1].id);
    assert_eq!(store.list_dead_letters(0).await.unwrap().len(), 1);
}

async fn a_failed_finish_batch_records_nothing(store) {
    let store = with_rule(store).await;
    let new = event_at("s", "t", T0, &[("r", "a")]);
    store.put_events(std::slice::from_ref(&new)).await.unwrap();
    let claimed = store.claim_due(at(T0), at(T0 + 1_000), 10, "me").await.unwrap().remove(0).delivery;
    // The second attempt's outcome breaks a CHECK constraint: the whole batch rolls back.
    let bad = Attempt { outcome: "maybe".into(), ..attempt(1, T0, "succeeded") };
    let result = store
        .finish_attempts(&[
            (claimed.clone(), attempt(1, T0, "succeeded"), AfterAttempt::Succeeded),
            (claimed.clone(), bad, AfterAttempt::Succeeded),
        ])
        .await;
    assert!(result.is_err());
    let deliveries = store.deliveries_of(&new.event.id).await.unwrap();
    assert_eq!(deliveries[0].0.state, "in_progress");
    assert!(deliveries[0].1.is_empty());
}

async fn tailing_by_seq_sees_every_event_despite_concurrent_puts(store) {
    let store = with_rule(store).await;
    let writers = (0..6).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..15 {
                store.put_events(&[event_at("s", &format!("w{w}"), T0 + n, &[("r", "a")])]).await.unwrap();
            }
        })
    });
    let writers: Vec<_> = writers.collect();
    let mut seen = HashSet::new();
    let mut cursor = 0;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let page = EventFilter { after_seq: Some(cursor), limit: 7, ..Default::default() };
        for event in store.list_events(&page).await.unwrap() {
            assert!(event.seq > cursor);
            cursor = event.seq;
            assert!(seen.insert(event.event["id"].as_str().unwrap().to_string()), "an event seen twice");
        }
        if done && store.list_events(&EventFilter { after_seq: Some(cursor), limit: 1, ..Default::default() }).await.unwrap().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(seen.len(), 90, "a tailer following seq saw every event");
}
}
