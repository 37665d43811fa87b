//! Replicas sharing one database: heartbeats, departed replicas' claims, fenced attempts,
//! work adoption, schedules fired once; and (PostgreSQL) one leader and change notices.

use std::time::Duration as StdDuration;

use crate::backends::conformance;
use chrono::Utc;
use serde_json::json;
use trainyard_events::Event;
use trainyard_store::{AfterAttempt, Attempt, Bus, Change, NewEvent, Replica, Rule, Store};

const T0: i64 = 1_700_000_000_123;

fn at(millis: i64) -> chrono::DateTime<Utc> {
    trainyard_store::from_millis(millis)
}

fn replica(id: &str, heartbeat: i64) -> Replica {
    Replica { id: id.into(), url: format!("http://{id}"), started_at: at(T0), heartbeat_at: at(heartbeat) }
}

async fn with_events(store: &Store, count: i64) {
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
    let scheduled = Rule {
        name: "s".into(),
        event_pattern: None,
        schedule_expression: Some("rate(1 minute)".into()),
        next_fire_time: Some(at(T0)),
        ..rule
    };
    store.create_rule(&scheduled).await.unwrap();
    let events: Vec<NewEvent> = (0..count)
        .map(|n| NewEvent {
            event: Event::new("s", "t", json!({"n": n}), vec![], at(T0), "0", "r"),
            bus: "default".into(),
            ingested_at: at(T0),
            matched_rules: vec!["r".into()],
            deliveries: vec![("r".into(), "a".into())],
            archives: vec![],
        })
        .collect();
    store.put_events(&events).await.unwrap();
}

fn succeeded(n: i64) -> Attempt {
    Attempt {
        attempt: n,
        start_time: at(T0),
        duration_ms: 1,
        outcome: "succeeded".into(),
        error_code: None,
        message: None,
    }
}

conformance! {
async fn departed_replicas_release_their_claims_and_live_ones_keep_them(store) {
    with_events(&store, 4).await;
    store.join_replicas(&replica("a", T0), false).await.unwrap();
    store.join_replicas(&replica("b", T0), false).await.unwrap();
    let lease = at(T0 + 3_600_000);
    assert_eq!(store.claim_due(at(T0), lease, 2, "a").await.unwrap().len(), 2);
    assert_eq!(store.claim_due(at(T0), lease, 2, "b").await.unwrap().len(), 2);
    assert!(store.heartbeat("a", at(T0 + 20_000)).await.unwrap());
    // b was last heard from at T0: gone by T0 + 10 s. Its two claims are released at once
    // (their leases have an hour to run), a's stay.
    assert_eq!(store.release_departed(at(T0 + 10_000)).await.unwrap(), 2);
    assert_eq!(store.list_replicas(at(T0 + 10_000)).await.unwrap(), vec![replica("a", T0 + 20_000)]);
    assert!(!store.heartbeat("b", at(T0 + 20_000)).await.unwrap(), "a forgotten replica must join again");
    let again = store.claim_due(at(T0 + 20_000), lease, 10, "a").await.unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|c| c.delivery.attempts == 2));
    // Leaving releases what the replica still holds.
    store.leave_replicas("a").await.unwrap();
    assert!(store.list_replicas(at(0)).await.unwrap().is_empty());
    assert_eq!(store.claim_due(at(T0 + 20_000), lease, 10, "c").await.unwrap().len(), 4);
}

async fn joining_alone_retires_every_other_replica(store) {
    store.join_replicas(&replica("a", T0), false).await.unwrap();
    store.join_replicas(&replica("b", T0 + 1), false).await.unwrap();
    assert_eq!(store.list_replicas(at(T0)).await.unwrap().len(), 2);
    // Joining again refreshes the record instead of failing.
    store.join_replicas(&replica("b", T0 + 2), false).await.unwrap();
    store.join_replicas(&replica("c", T0 + 3), true).await.unwrap();
    assert_eq!(store.list_replicas(at(0)).await.unwrap(), vec![replica("c", T0 + 3)]);
}

async fn an_attempt_under_a_lost_claim_moves_nothing(store) {
    with_events(&store, 1).await;
    let lease = at(T0 + 3_600_000);
    let stale = store.claim_due(at(T0), lease, 1, "a").await.unwrap().remove(0).delivery;
    // a is gone (it never joined): its claim is released and b claims the delivery.
    assert_eq!(store.release_departed(at(T0)).await.unwrap(), 1);
    let current = store.claim_due(at(T0), lease, 1, "b").await.unwrap().remove(0).delivery;
    assert_eq!(current.attempts, 2);
    store.finish_attempts(&[(stale.clone(), succeeded(1), AfterAttempt::Succeeded)]).await.unwrap();
    let (delivery, attempts) = store.deliveries_of(&stale.event_id).await.unwrap().remove(0);
    assert_eq!((delivery.state.as_str(), attempts.len()), ("in_progress", 1), "recorded, but b's claim holds");
    let dead = AfterAttempt::Dead { error_code: "E".into(), error_message: "late".into() };
    store.finish_attempts(&[(stale, succeeded(1), dead)]).await.unwrap();
    assert!(store.list_dead_letters(10).await.unwrap().is_empty(), "a stale attempt writes no dead letter");
    store.finish_attempts(&[(current.clone(), succeeded(2), AfterAttempt::Succeeded)]).await.unwrap();
    let (delivery, _) = store.deliveries_of(&current.event_id).await.unwrap().remove(0);
    assert_eq!(delivery.state, "succeeded");
}

async fn work_is_adopted_only_from_its_owner(store) {
    assert_eq!(store.work_owner("training-job", "j").await.unwrap(), None);
    store.own_work("training-job", "j", "a").await.unwrap();
    assert_eq!(store.work_owner("training-job", "j").await.unwrap().as_deref(), Some("a"));
    assert_eq!(store.work_owner("endpoint", "j").await.unwrap(), None, "kinds are apart");
    assert!(!store.adopt_work("training-job", "j", Some("b"), "c").await.unwrap());
    assert!(!store.adopt_work("training-job", "j", None, "c").await.unwrap());
    let tries = futures::future::join_all(
        (0..8).map(|n| store.adopt_work("training-job", "j", Some("a"), if n % 2 == 0 { "c" } else { "d" })),
    )
    .await;
    assert_eq!(tries.into_iter().filter(|t| *t.as_ref().unwrap()).count(), 1, "one adopter wins");
    assert!(store.adopt_work("endpoint", "e", None, "x").await.unwrap());
    assert!(!store.adopt_work("endpoint", "e", None, "y").await.unwrap());
    assert_eq!(store.work_owner("endpoint", "e").await.unwrap().as_deref(), Some("x"));
}

async fn a_due_schedule_is_taken_once(store) {
    with_events(&store, 0).await;
    let tries = futures::future::join_all(
        (0..8).map(|_| store.advance_schedule("default", "s", at(T0), Some(at(T0 + 60_000)))),
    )
    .await;
    assert_eq!(tries.into_iter().filter(|t| *t.as_ref().unwrap()).count(), 1);
    assert_eq!(store.get_rule("default", "s").await.unwrap().next_fire_time, Some(at(T0 + 60_000)));
    assert!(!store.advance_schedule("default", "s", at(T0), None).await.unwrap(), "that due time is gone");
    assert!(!store.advance_schedule("default", "nope", at(T0), None).await.unwrap());
}
}

/// Two stores on one fresh PostgreSQL database (two replicas), or `None` without one.
async fn two_replicas() -> Option<(crate::backends::Fresh, Store)> {
    let first = crate::backends::postgres().await?;
    let second = Store::open_postgres(first.url.as_deref().unwrap()).await.unwrap();
    Some((first, second))
}

async fn settles(leadership: &tokio::sync::watch::Receiver<bool>, wanted: bool, within: StdDuration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if *leadership.borrow() == wanted {
            return true;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn one_replica_leads_and_another_takes_over_when_it_stops() {
    let Some((first, second)) = two_replicas().await else { return };
    let a = first.store.leadership();
    assert!(settles(&a, true, StdDuration::from_secs(3)).await, "the first replica takes the lead");
    let b = second.leadership();
    tokio::time::sleep(StdDuration::from_millis(2_500)).await;
    assert!(*a.borrow() && !*b.borrow(), "one leader at a time");
    first.store.close().await;
    assert!(settles(&b, true, StdDuration::from_secs(4)).await, "the second takes over within seconds");
    second.close().await;
}

#[tokio::test]
async fn a_change_reaches_the_other_replicas_and_not_its_own() {
    let Some((first, second)) = two_replicas().await else { return };
    let mut mine = first.store.changes();
    let mut theirs = second.changes();
    // Both listen once they have said changes may have been missed.
    for receiver in [&mut mine, &mut theirs] {
        let first = tokio::time::timeout(StdDuration::from_secs(5), receiver.recv()).await.unwrap().unwrap();
        assert_eq!(first, Change::Missed);
    }
    first.store.announce(&Change::Endpoint("e:1".into())).await.unwrap();
    first.store.announce(&Change::Routing).await.unwrap();
    let started = std::time::Instant::now();
    let got = tokio::time::timeout(StdDuration::from_secs(5), theirs.recv()).await.unwrap().unwrap();
    assert_eq!(got, Change::Endpoint("e:1".into()));
    // (100 ms and less is the aim; a loaded 2-core CI machine gets a margin.)
    assert!(started.elapsed() < StdDuration::from_millis(1_000), "took {:?}", started.elapsed());
    println!("a change reached the other replica in {:?}", started.elapsed());
    assert_eq!(tokio::time::timeout(StdDuration::from_secs(5), theirs.recv()).await.unwrap().unwrap(), Change::Routing);
    assert!(tokio::time::timeout(StdDuration::from_millis(300), mine.recv()).await.is_err(), "no echo of its own");
}

#[tokio::test]
async fn sqlite_is_always_its_one_servers_leader_and_hears_nothing() {
    let fresh = crate::backends::sqlite().await;
    assert!(*fresh.store.leadership().borrow());
    assert!(!fresh.store.is_shared());
    fresh.store.announce(&Change::Routing).await.unwrap();
    let mut changes = fresh.store.changes();
    assert!(matches!(changes.recv().await, Err(tokio::sync::broadcast::error::RecvError::Closed)));
}
