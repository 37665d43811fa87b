//! Followed branches: the head moves only by compare-and-set with its push; the outbox of
//! pushes; webhook deliveries seen once.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use trainyard_store::{Error, SourceRecord};

use crate::backends::conformance;

fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000 + millis).unwrap()
}

fn source(name: &str) -> SourceRecord {
    SourceRecord {
        name: name.into(),
        url: format!("https://example.com/{name}.git"),
        branch: "main".into(),
        poll_seconds: Some(60),
        webhook_secret: Some("s3cret ✓".into()),
        head: None,
        created_at: at(1),
        updated_at: at(1),
    }
}

conformance! {
async fn sources_round_trip_update_list_and_delete(store) {
    let mut first = source("churn");
    first.head = Some("abc".into());
    store.create_source(&first).await.unwrap();
    assert!(matches!(store.create_source(&first).await, Err(Error::AlreadyExists { kind: "source", .. })));
    assert_eq!(store.get_source("churn").await.unwrap(), first);
    let mut bare = source("B-webhook");
    bare.poll_seconds = None;
    bare.webhook_secret = None;
    store.create_source(&bare).await.unwrap();
    store.create_source(&source("a")).await.unwrap();
    let names: Vec<String> = store.list_sources().await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["B-webhook", "a", "churn"]);
    assert_eq!(store.list_sources().await.unwrap()[0], bare);

    // Without a new head the head stays; created_at never changes.
    let mut changed = first.clone();
    changed.url = "git@example.com:x/ünï.git".into();
    changed.branch = "release/1.x".into();
    changed.poll_seconds = None;
    changed.webhook_secret = None;
    changed.head = Some("ignored".into());
    changed.created_at = at(50);
    changed.updated_at = at(100);
    store.update_source(&changed, None).await.unwrap();
    let expected = SourceRecord { head: Some("abc".into()), created_at: at(1), ..changed.clone() };
    assert_eq!(store.get_source("churn").await.unwrap(), expected);
    store.update_source(&changed, Some("def")).await.unwrap();
    assert_eq!(store.get_source("churn").await.unwrap().head.as_deref(), Some("def"));
    assert!(matches!(store.update_source(&source("nope"), None).await, Err(Error::NotFound { kind: "source", .. })));
    assert!(matches!(store.get_source("nope").await, Err(Error::NotFound { kind: "source", .. })));

    store.delete_source("churn").await.unwrap();
    assert!(matches!(store.get_source("churn").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_source("churn").await, Err(Error::NotFound { kind: "source", .. })));
}

async fn pushes_move_the_head_by_compare_and_set_and_wait_in_the_outbox(store) {
    store.create_source(&source("s")).await.unwrap();
    store.create_source(&source("t")).await.unwrap();
    let detail = json!({"before": null, "after": "c1", "commits": [{"message": "ünï \"q\"\n"}]});
    // The first push moves the head from none.
    assert!(!store.record_push("s", Some("c0"), "c1", &detail, at(10)).await.unwrap());
    assert!(store.record_push("s", None, "c1", &detail, at(10)).await.unwrap());
    assert!(!store.record_push("s", None, "c1", &detail, at(11)).await.unwrap(), "the head is no longer none");
    let moved = store.get_source("s").await.unwrap();
    assert_eq!((moved.head.as_deref(), moved.updated_at), (Some("c1"), at(10)));
    assert!(store.record_push("t", None, "x1", &json!({}), at(12)).await.unwrap());
    assert!(store.record_push("s", Some("c1"), "c2", &json!({"n": 2}), at(13)).await.unwrap());
    // Back to a commit the branch held before (a force push) is a new push.
    assert!(store.record_push("s", Some("c2"), "c1", &json!({"n": 3}), at(14)).await.unwrap());
    assert!(!store.record_push("missing", None, "c1", &detail, at(15)).await.unwrap());

    let pushes = store.unannounced_pushes().await.unwrap();
    let seen: Vec<(&str, &str)> = pushes.iter().map(|p| (p.source.as_str(), p.after.as_str())).collect();
    assert_eq!(seen, [("s", "c1"), ("t", "x1"), ("s", "c2"), ("s", "c1")]);
    assert!(pushes.windows(2).all(|w| w[0].id < w[1].id), "oldest first, by id");
    assert_eq!(pushes[0].detail, detail);
    assert_eq!(pushes[0].created_at, at(10));
    assert_eq!(pushes[3].detail, json!({"n": 3}));

    store.mark_push_announced(pushes[1].id).await.unwrap();
    store.mark_push_announced(pushes[1].id).await.unwrap();
    store.mark_push_announced(-1).await.unwrap();
    let left: Vec<i64> = store.unannounced_pushes().await.unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(left, [pushes[0].id, pushes[2].id, pushes[3].id]);

    // A source's pushes go with it.
    store.delete_source("s").await.unwrap();
    assert!(store.unannounced_pushes().await.unwrap().is_empty());
}

async fn concurrent_pushes_from_one_head_record_exactly_one(store) {
    store.create_source(&source("s")).await.unwrap();
    let pushes = (0..16).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.record_push("s", None, &format!("c{i}"), &json!({"i": i}), at(i)).await })
    });
    let moved = futures::future::join_all(pushes).await.into_iter().filter(|r| *r.as_ref().unwrap().as_ref().unwrap()).count();
    assert_eq!(moved, 1);
    let pushes = store.unannounced_pushes().await.unwrap();
    assert_eq!(pushes.len(), 1);
    assert_eq!(store.get_source("s").await.unwrap().head.as_deref(), Some(pushes[0].after.as_str()));
}

async fn deliveries_are_acted_on_once_unless_forgotten(store) {
    let id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    assert!(store.record_delivery(id, at(1)).await.unwrap());
    assert!(!store.record_delivery(id, at(2)).await.unwrap());
    assert!(store.record_delivery("ünï cødé", at(2)).await.unwrap());
    store.forget_delivery(id).await.unwrap();
    store.forget_delivery("never seen").await.unwrap();
    assert!(store.record_delivery(id, at(3)).await.unwrap());
    assert!(!store.record_delivery("ünï cødé", at(4)).await.unwrap());

    let concurrent = futures::future::join_all((0..8).map(|_| store.record_delivery("dup", at(5)))).await;
    assert_eq!(concurrent.into_iter().filter(|r| *r.as_ref().unwrap()).count(), 1);
}
}
