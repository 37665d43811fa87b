//! Builds: one per announced push, their outcome, and listings newest first.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use trainyard_store::{BuildRecord, Error, SourceRecord, UnbuiltPush};

use crate::backends::conformance;

fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000 + millis).unwrap()
}

fn source(name: &str) -> SourceRecord {
    SourceRecord {
        name: name.into(),
        url: format!("https://example.com/{name}.git"),
        branch: format!("{name}-branch"),
        poll_seconds: None,
        webhook_secret: None,
        head: None,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn build(id: &str, push_id: Option<i64>, source: &str, started: i64) -> BuildRecord {
    BuildRecord {
        id: id.into(),
        push_id,
        source: source.into(),
        branch: "main".into(),
        commit: "c".into(),
        status: "IN_PROGRESS".into(),
        reason: None,
        repository: None,
        image_digest: None,
        tags: vec![],
        started_at: at(started),
        ended_at: None,
    }
}

conformance! {
async fn announced_pushes_without_a_build_are_built_once(store) {
    store.create_source(&source("s")).await.unwrap();
    store.create_source(&source("t")).await.unwrap();
    assert!(store.record_push("s", None, "c1", &json!({}), at(1)).await.unwrap());
    assert!(store.record_push("t", None, "x1", &json!({}), at(2)).await.unwrap());
    assert!(store.record_push("s", Some("c1"), "c2", &json!({}), at(3)).await.unwrap());
    // Not announced yet: nothing to build.
    assert!(store.unbuilt_pushes().await.unwrap().is_empty());
    let pushes = store.unannounced_pushes().await.unwrap();
    for push in &pushes {
        store.mark_push_announced(push.id).await.unwrap();
    }
    let unbuilt = store.unbuilt_pushes().await.unwrap();
    assert_eq!(
        unbuilt,
        [
            UnbuiltPush { id: pushes[0].id, source: "s".into(), url: "https://example.com/s.git".into(), branch: "s-branch".into(), commit: "c1".into() },
            UnbuiltPush { id: pushes[1].id, source: "t".into(), url: "https://example.com/t.git".into(), branch: "t-branch".into(), commit: "x1".into() },
            UnbuiltPush { id: pushes[2].id, source: "s".into(), url: "https://example.com/s.git".into(), branch: "s-branch".into(), commit: "c2".into() },
        ]
    );

    store.create_build(&build("b1", Some(pushes[1].id), "t", 10)).await.unwrap();
    let ids: Vec<i64> = store.unbuilt_pushes().await.unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, [pushes[0].id, pushes[2].id]);
    // A push is built at most once; a build id is unique.
    assert!(matches!(
        store.create_build(&build("b2", Some(pushes[1].id), "t", 11)).await,
        Err(Error::AlreadyExists { kind: "build", .. })
    ));
    assert!(matches!(store.create_build(&build("b1", None, "t", 11)).await, Err(Error::AlreadyExists { .. })));
    // Builds of no push are not limited.
    store.create_build(&build("manual-1", None, "t", 12)).await.unwrap();
    store.create_build(&build("manual-2", None, "t", 13)).await.unwrap();

    // Many build loops racing for the same pushes: each push gets exactly one build.
    let racers = (0..6).flat_map(|loop_| {
        [pushes[0].id, pushes[2].id].map(|push| {
            let store = store.clone();
            async move { store.create_build(&build(&format!("race-{loop_}-{push}"), Some(push), "s", 20)).await }
        })
    });
    let results = futures::future::join_all(racers).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2);
    assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(Error::AlreadyExists { .. }))));
    assert!(store.unbuilt_pushes().await.unwrap().is_empty());
}

async fn builds_round_trip_finish_and_list_newest_first_with_filters(store) {
    let mut first = build("b-1", Some(7), "s", 10);
    store.create_build(&first).await.unwrap();
    assert_eq!(store.get_build("b-1").await.unwrap(), first);
    assert!(matches!(store.get_build("nope").await, Err(Error::NotFound { kind: "build", .. })));

    first.status = "FAILED".into();
    first.reason = Some("step 3: exit 1\nünï ✓".into());
    first.repository = Some("app/ünï".into());
    first.image_digest = Some("sha256:abc".into());
    first.tags = vec!["latest".into(), "v1.0".into(), "ü\"q".into()];
    first.ended_at = Some(at(99));
    store.finish_build(&first).await.unwrap();
    assert_eq!(store.get_build("b-1").await.unwrap(), first);

    // A created build may already be finished (SKIPPED).
    let mut skipped = build("b-2", Some(8), "s", 20);
    skipped.status = "SKIPPED".into();
    skipped.tags = vec!["t".into()];
    skipped.ended_at = Some(at(20));
    store.create_build(&skipped).await.unwrap();
    assert_eq!(store.get_build("b-2").await.unwrap(), skipped);
    store.create_build(&build("b-3", Some(9), "other", 30)).await.unwrap();
    store.create_build(&build("b-4", None, "s", 30)).await.unwrap();
    store.create_build(&build("b-0", None, "s", 40)).await.unwrap();

    let ids = |builds: Vec<BuildRecord>| builds.into_iter().map(|b| b.id).collect::<Vec<_>>();
    // Newest first; equal starts by id, descending.
    assert_eq!(ids(store.list_builds(None, None, 100).await.unwrap()), ["b-0", "b-4", "b-3", "b-2", "b-1"]);
    assert_eq!(ids(store.list_builds(None, None, 2).await.unwrap()), ["b-0", "b-4"]);
    assert_eq!(ids(store.list_builds(Some("s"), None, 100).await.unwrap()), ["b-0", "b-4", "b-2", "b-1"]);
    assert_eq!(ids(store.list_builds(None, Some("IN_PROGRESS"), 100).await.unwrap()), ["b-0", "b-4", "b-3"]);
    assert_eq!(ids(store.list_builds(Some("s"), Some("IN_PROGRESS"), 1).await.unwrap()), ["b-0"]);
    assert_eq!(ids(store.list_builds(Some("s"), Some("FAILED"), 10).await.unwrap()), ["b-1"]);
    assert!(store.list_builds(Some("none"), None, 10).await.unwrap().is_empty());
    assert_eq!(store.list_builds(Some("s"), Some("FAILED"), 10).await.unwrap()[0], first);
}
}
