//! Pipelines, their runs, and retraining windows (including notes racing a closing run).

use crate::backends::conformance;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use trainyard_store::{Error, RunRecord};

fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_765_000_000_000 + millis).unwrap()
}

const SPEC: &str = "name: churn\nsteps:\n  - train: {image: 'x:1', args: [\"--lr\", \"0.1\"]}\n# ünïcødé ✓ \\ 🚀\n";

fn run(id: &str, pipeline: &str, status: &str, created: i64) -> RunRecord {
    RunRecord {
        id: id.into(),
        pipeline: pipeline.into(),
        trigger: json!({"Kind": "Retraining", "Objects": 3, "Key": "data/ü k%_#1"}),
        status: status.into(),
        reason: None,
        steps: json!([]),
        created_at: at(created),
        updated_at: at(created),
    }
}

fn ids(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|r| r.id.as_str()).collect()
}

conformance! {
async fn a_put_creates_or_replaces_the_spec_and_keeps_the_creation_time(store) {
    store.put_pipeline("churn", SPEC, at(1) + Duration::microseconds(700)).await.unwrap();
    let p = store.get_pipeline("churn").await.unwrap();
    assert_eq!((p.name.as_str(), p.spec.as_str(), p.created_at, p.applied_at), ("churn", SPEC, at(1), at(1)));
    store.put_pipeline("churn", "name: churn\n", at(5)).await.unwrap();
    let p = store.get_pipeline("churn").await.unwrap();
    assert_eq!((p.spec.as_str(), p.created_at, p.applied_at), ("name: churn\n", at(1), at(5)));

    for name in ["b", "B-2", "a_b", "ünï", "a-b"] {
        store.put_pipeline(name, SPEC, at(2)).await.unwrap();
    }
    let names: Vec<String> = store.list_pipelines().await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["B-2", "a-b", "a_b", "b", "churn", "ünï"], "bytewise order");
    assert!(matches!(store.get_pipeline("Churn").await, Err(Error::NotFound { .. })));

    store.delete_pipeline("churn").await.unwrap();
    assert!(matches!(store.get_pipeline("churn").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_pipeline("churn").await, Err(Error::NotFound { .. })));
    assert_eq!(store.list_pipelines().await.unwrap().len(), 5);
}

async fn a_run_round_trips_and_an_update_writes_status_reason_and_steps_only(store) {
    let mut r = run("churn-20251206-1", "churn", "Running", 0);
    r.created_at = at(3) + Duration::microseconds(999);
    r.updated_at = at(3);
    store.create_run(&r).await.unwrap();
    r.created_at = at(3);
    assert_eq!(store.get_run("churn-20251206-1").await.unwrap(), r);

    let dup = store.create_run(&run("churn-20251206-1", "churn", "Running", 9)).await;
    assert!(matches!(dup, Err(Error::AlreadyExists { .. })), "a duplicate trigger: {dup:?}");

    let mut changed = r.clone();
    changed.status = "Failed".into();
    changed.reason = Some("step train: exit 1 — ✗ 'q' \"d\"\nnext\0line".into());
    changed.steps = json!([{"Step": "train", "Resource": "arn:x", "Status": "Failed", "StartTime": 1, "EndTime": 2}]);
    changed.updated_at = at(40);
    let mut ignored = changed.clone();
    ignored.trigger = json!({"changed": true});
    ignored.pipeline = "other".into();
    ignored.created_at = at(999);
    store.update_run(&ignored).await.unwrap();
    let got = store.get_run(&r.id).await.unwrap();
    assert_eq!(got.reason.as_deref().map(|s| s.replace('\0', "")), Some("step train: exit 1 — ✗ 'q' \"d\"\nnextline".into()));
    changed.reason = got.reason.clone();
    assert_eq!(got, changed);

    changed.reason = None;
    changed.status = "Succeeded".into();
    store.update_run(&changed).await.unwrap();
    assert_eq!(store.get_run(&r.id).await.unwrap(), changed, "a reason can be cleared");
    assert!(matches!(store.get_run("nope").await, Err(Error::NotFound { .. })));
    store.update_run(&run("ghost", "churn", "Running", 0)).await.unwrap();
    assert!(matches!(store.get_run("ghost").await, Err(Error::NotFound { .. })), "an update creates nothing");
}

async fn runs_list_newest_first_and_open_runs_oldest_first(store) {
    let rows = [
        ("r1", "churn", "Succeeded", 1),
        ("r2", "churn", "Running", 2),
        ("r3b", "churn", "WaitingForApproval", 3),
        ("r3a", "churn", "Failed", 3),
        ("o1", "other", "Running", 0),
        ("o2", "other", "Succeeded", 5),
    ];
    for (id, pipeline, status, created) in rows {
        store.create_run(&run(id, pipeline, status, created)).await.unwrap();
    }
    assert_eq!(ids(&store.list_runs("churn", 10).await.unwrap()), ["r3b", "r3a", "r2", "r1"], "ties by id, descending");
    assert_eq!(ids(&store.list_runs("churn", 1).await.unwrap()), ["r3b"]);
    assert_eq!(ids(&store.list_runs("other", 10).await.unwrap()), ["o2", "o1"]);
    assert!(store.list_runs("none", 10).await.unwrap().is_empty());
    assert!(store.list_runs("churn", 0).await.unwrap().is_empty());
    assert_eq!(store.list_runs("churn", -1).await.unwrap().len(), 4, "a negative limit is none");

    assert_eq!(ids(&store.open_runs().await.unwrap()), ["o1", "r2", "r3b"]);
    let mut r2 = store.get_run("r2").await.unwrap();
    r2.status = "Succeeded".into();
    store.update_run(&r2).await.unwrap();
    assert_eq!(ids(&store.open_runs().await.unwrap()), ["o1", "r3b"]);
}

async fn retraining_windows_count_per_pipeline_and_close_up_to_their_last_note(store) {
    assert!(store.retraining_windows().await.unwrap().is_empty());
    assert_eq!(store.close_retraining("p", "run-0", i64::MAX).await.unwrap(), 0, "nothing to take");
    assert!(store.note_retraining("b-pipe", "s3://b/ü k%_#1", at(10)).await.unwrap());
    assert!(store.note_retraining("a-pipe", "s3://b/x#1", at(20)).await.unwrap());
    assert!(store.note_retraining("b-pipe", "s3://b/y#1", at(15)).await.unwrap());
    assert!(store.note_retraining("b-pipe", "s3://b/Ü K%_#1", at(30)).await.unwrap(), "keys are case-sensitive");
    assert!(!store.note_retraining("b-pipe", "s3://b/ü k%_#1", at(40)).await.unwrap());

    let windows = store.retraining_windows().await.unwrap();
    let summary: Vec<(&str, DateTime<Utc>, i64)> =
        windows.iter().map(|w| (w.pipeline.as_str(), w.opened, w.objects)).collect();
    assert_eq!(summary, [("b-pipe", at(10), 3), ("a-pipe", at(20), 1)], "oldest window first");
    let b = &windows[0];
    assert!(b.first < b.last);

    // A closed window's objects belong to its run; later ones wait for the next.
    assert!(store.note_retraining("b-pipe", "s3://b/z#1", at(50)).await.unwrap());
    assert_eq!(store.close_retraining("b-pipe", "run-1", b.last).await.unwrap(), 3);
    assert_eq!(store.close_retraining("b-pipe", "run-1", b.last).await.unwrap(), 0, "closing again takes nothing");
    let windows = store.retraining_windows().await.unwrap();
    let next = windows.iter().find(|w| w.pipeline == "b-pipe").unwrap();
    assert_eq!((next.opened, next.objects), (at(50), 1));
    assert!(next.first > b.last && next.first == next.last);
    let a = windows.iter().find(|w| w.pipeline == "a-pipe").unwrap();
    assert_eq!(store.close_retraining("a-pipe", "run-2", a.first - 1).await.unwrap(), 0, "nothing up to there");

    // Dropping forgets open notes only: a taken object stays noted.
    store.drop_retraining("b-pipe").await.unwrap();
    assert!(store.retraining_windows().await.unwrap().iter().all(|w| w.pipeline != "b-pipe"));
    assert!(!store.note_retraining("b-pipe", "s3://b/y#1", at(60)).await.unwrap(), "taken by run-1");
    assert!(store.note_retraining("b-pipe", "s3://b/z#1", at(60)).await.unwrap(), "dropped, so new again");
    store.drop_retraining("nothing").await.unwrap();
    assert_eq!(store.retraining_windows().await.unwrap().len(), 2);
}

async fn a_closing_run_takes_exactly_the_window_it_read_while_notes_arrive(store) {
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    assert!(store.note_retraining("p", &format!("s3://b/{w}/{i}"), at(i)).await.unwrap());
                }
            })
        })
        .collect();
    let mut taken = 0;
    for round in 0..30 {
        if let Some(window) = store.retraining_windows().await.unwrap().into_iter().find(|w| w.pipeline == "p") {
            let closed = store.close_retraining("p", &format!("run-{round}"), window.last).await.unwrap();
            assert_eq!(closed as i64, window.objects, "round {round}: the run takes what its window counted");
            taken += closed;
        }
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    let rest = store.retraining_windows().await.unwrap().into_iter().find(|w| w.pipeline == "p");
    assert_eq!(taken as i64 + rest.map_or(0, |w| w.objects), 160, "every note is taken once or still open");
}

async fn an_object_noted_concurrently_is_new_exactly_once(store) {
    for round in 0..5 {
        let object = format!("s3://b/k#{round}");
        let notes: Vec<_> = (0..8)
            .map(|_| {
                let (store, object) = (store.clone(), object.clone());
                tokio::spawn(async move { store.note_retraining("p", &object, at(round)).await.unwrap() })
            })
            .collect();
        let mut new = 0;
        for n in notes {
            new += usize::from(n.await.unwrap());
        }
        assert_eq!(new, 1, "round {round}: one delivery opens, the rest are duplicates");
    }
    assert_eq!(store.retraining_windows().await.unwrap()[0].objects, 5);
}
}
