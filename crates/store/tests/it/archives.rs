//! Archives and replays: copies made with the events, the replay cursor, retention.

use chrono::{DateTime, Utc};
use serde_json::json;
use trainyard_events::Event;
use trainyard_store::{from_millis, Archive, Bus, Error, NewEvent, Replay, Store};

use crate::backends::conformance;

const T0: i64 = 1_700_000_000_123;
const DAY: i64 = 86_400_000;

fn at(millis: i64) -> DateTime<Utc> {
    from_millis(millis)
}

fn archive(name: &str, bus: &str, retention_days: i64) -> Archive {
    Archive {
        archive_name: name.into(),
        archive_arn: format!("arn:aws:events:us-east-1:0:archive/{name}"),
        event_source_arn: String::new(),
        event_bus_name: bus.into(),
        event_pattern: Some(r#"{"source":["ü"]}"#.into()),
        retention_days,
        description: "kept ✓".into(),
        event_count: 0,
        creation_time: at(T0),
    }
}

fn replay(name: &str, started: i64) -> Replay {
    Replay {
        replay_name: name.into(),
        replay_arn: format!("arn:aws:events:us-east-1:0:replay/{name}"),
        archive_name: "a".into(),
        event_bus_name: "default".into(),
        event_start_time: at(T0 - DAY),
        event_end_time: at(T0 + DAY),
        state: "STARTING".into(),
        state_reason: String::new(),
        events_replayed: 0,
        replay_start_time: at(started),
        replay_end_time: None,
    }
}

/// An event with a chosen id and time, archived in `archives`.
fn archived(id: &str, time: i64, archives: &[&str]) -> NewEvent {
    let mut event = Event::new("s", "t", json!({"id": id}), vec![], at(time), "0", "r");
    event.id = id.into();
    NewEvent {
        event,
        bus: "default".into(),
        ingested_at: at(T0),
        matched_rules: vec![],
        deliveries: vec![],
        archives: archives.iter().map(|a| a.to_string()).collect(),
    }
}

async fn with_buses(store: &Store) {
    for name in ["default", "other"] {
        let bus = Bus { name: name.into(), arn: format!("arn:bus/{name}"), creation_time: at(T0) };
        store.create_bus(&bus).await.unwrap();
    }
}

/// Every archived event of `archive` in [from, to), fetched `page` at a time with the cursor.
async fn replay_all(store: &Store, archive: &str, from: i64, to: i64, page: i64) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut cursor: Option<(i64, String)> = None;
    loop {
        let after = cursor.as_ref().map(|(t, id)| (*t, id.as_str()));
        let batch = store.archived_events(archive, at(from), at(to), after, page).await.unwrap();
        assert!(batch.len() as i64 <= page);
        let Some((time, id, _)) = batch.last() else { break };
        cursor = Some((*time, id.clone()));
        for (time, id, body) in batch {
            assert_eq!(body["id"], json!(id), "the body is the archived event");
            assert_eq!(body["detail"], json!({"id": id}));
            out.push((time, id));
        }
    }
    out
}

conformance! {
async fn archives_round_trip_count_their_events_and_are_unique(store) {
    with_buses(&store).await;
    assert!(matches!(store.create_archive(&archive("x", "missing", 0)).await, Err(Error::NotFound { .. })));
    store.create_archive(&archive("b-ü", "other", 30)).await.unwrap();
    store.create_archive(&archive("a", "default", 0)).await.unwrap();
    store.create_archive(&Archive { event_pattern: None, ..archive("B", "default", 1) }).await.unwrap();
    assert!(matches!(store.create_archive(&archive("a", "other", 0)).await, Err(Error::AlreadyExists { .. })));

    let got = store.get_archive("b-ü").await.unwrap();
    assert_eq!((got.archive_name.as_str(), got.archive_arn.as_str()), ("b-ü", archive("b-ü", "", 0).archive_arn.as_str()));
    assert_eq!((got.event_bus_name.as_str(), got.event_source_arn.as_str()), ("other", "arn:bus/other"));
    assert_eq!(got.event_pattern.as_deref(), Some(r#"{"source":["ü"]}"#));
    assert_eq!((got.retention_days, got.description.as_str(), got.event_count), (30, "kept ✓", 0));
    assert_eq!(got.creation_time, at(T0));
    assert_eq!(store.get_archive("B").await.unwrap().event_pattern, None);
    assert!(matches!(store.get_archive("A").await, Err(Error::NotFound { .. })));
    let names: Vec<String> = store.list_archives().await.unwrap().into_iter().map(|a| a.archive_name).collect();
    assert_eq!(names, vec!["B", "a", "b-ü"]);

    // put_events copies into the named archives, once each.
    store.put_events(&[archived("e1", T0, &["a", "a", "B"]), archived("e2", T0, &["a"])]).await.unwrap();
    let counts: Vec<(String, i64)> =
        store.list_archives().await.unwrap().into_iter().map(|a| (a.archive_name, a.event_count)).collect();
    assert_eq!(counts, vec![("B".to_string(), 1), ("a".into(), 2), ("b-ü".into(), 0)]);
    assert_eq!(store.get_archive("a").await.unwrap().event_count, 2);

    // Deleting an archive drops its events: a new archive of that name starts empty.
    store.delete_archive("a").await.unwrap();
    assert!(matches!(store.get_archive("a").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_archive("a").await, Err(Error::NotFound { .. })));
    store.create_archive(&archive("a", "default", 0)).await.unwrap();
    assert_eq!(store.get_archive("a").await.unwrap().event_count, 0);
    assert!(store.archived_events("a", at(0), at(i64::MAX / 2), None, 100).await.unwrap().is_empty());
    assert_eq!(store.get_archive("B").await.unwrap().event_count, 1);
}

async fn archived_events_page_by_time_then_bytewise_id(store) {
    with_buses(&store).await;
    store.create_archive(&archive("a", "default", 0)).await.unwrap();
    store.create_archive(&archive("other", "default", 0)).await.unwrap();
    // Ties on time are broken by the id, compared bytewise.
    let ids = ["b", "B", "a-c", "ab", "é", "a", "Z"];
    let events: Vec<NewEvent> = ids.iter().map(|id| archived(id, T0, &["a"])).collect();
    store.put_events(&events).await.unwrap();
    store
        .put_events(&[archived("early", T0 - 1, &["a"]), archived("late", T0 + 1, &["a"]), archived("end", T0 + 2, &["a"])])
        .await
        .unwrap();
    store.put_events(&[archived("elsewhere", T0, &["other"])]).await.unwrap();

    let want: Vec<(i64, String)> = [(T0 - 1, "early")]
        .into_iter()
        .chain(["B", "Z", "a", "a-c", "ab", "b", "é"].into_iter().map(|id| (T0, id)))
        .chain([(T0 + 1, "late")])
        .map(|(t, id)| (t, id.to_string()))
        .collect();
    // `to` is exclusive, `from` inclusive; every page size gives the same sequence.
    for page in [1, 2, 3, 100] {
        assert_eq!(replay_all(&store, "a", T0 - 1, T0 + 2, page).await, want, "page size {page}");
    }
    assert_eq!(replay_all(&store, "a", T0, T0 + 1, 4).await, want[1..8].to_vec());
    // A negative limit is no limit.
    assert_eq!(store.archived_events("a", at(0), at(T0 + 10), None, -1).await.unwrap().len(), 10);
    assert!(replay_all(&store, "a", T0 + 3, T0 + 10, 4).await.is_empty());
    assert!(replay_all(&store, "missing", 0, T0 + 10, 4).await.is_empty());
    // A cursor in the middle of a tie.
    let after = store.archived_events("a", at(0), at(T0 + 10), Some((T0, "a-c")), 2).await.unwrap();
    let after: Vec<&str> = after.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(after, vec!["ab", "b"]);
}

async fn expiry_drops_archived_events_past_each_archives_retention(store) {
    with_buses(&store).await;
    store.create_archive(&archive("forever", "default", 0)).await.unwrap();
    store.create_archive(&archive("day", "default", 1)).await.unwrap();
    store.create_archive(&archive("week", "default", 7)).await.unwrap();
    let now = T0 + 10 * DAY;
    store
        .put_events(&[
            archived("old", now - 8 * DAY, &["forever", "day", "week"]),
            archived("mid", now - 2 * DAY, &["forever", "day", "week"]),
            archived("edge", now - DAY, &["day"]),
            archived("new", now - 1, &["forever", "day", "week"]),
        ])
        .await
        .unwrap();
    // Gone: old and mid from "day" (edge is exactly one day old, kept), old from "week".
    assert_eq!(store.expire_archived(at(now)).await.unwrap(), 3);
    assert_eq!(store.expire_archived(at(now)).await.unwrap(), 0);
    let count = |name: &'static str| {
        let store = store.clone();
        async move { store.get_archive(name).await.unwrap().event_count }
    };
    assert_eq!((count("forever").await, count("day").await, count("week").await), (3, 2, 2));
    let left: Vec<String> = replay_all(&store, "day", 0, now + 1, 10).await.into_iter().map(|(_, id)| id).collect();
    assert_eq!(left, vec!["edge", "new"]);
}

async fn replays_round_trip_update_and_list_newest_first(store) {
    store.create_replay(&replay("r-ü", T0)).await.unwrap();
    store.create_replay(&replay("later", T0 + 5)).await.unwrap();
    assert!(matches!(store.create_replay(&replay("r-ü", T0 + 9)).await, Err(Error::AlreadyExists { .. })));
    let got = store.get_replay("r-ü").await.unwrap();
    let want = replay("r-ü", T0);
    assert_eq!((got.replay_name, got.replay_arn, got.archive_name), (want.replay_name, want.replay_arn, want.archive_name));
    assert_eq!(got.event_bus_name, "default");
    assert_eq!((got.event_start_time, got.event_end_time), (at(T0 - DAY), at(T0 + DAY)));
    assert_eq!((got.state.as_str(), got.state_reason.as_str(), got.events_replayed), ("STARTING", "", 0));
    assert_eq!((got.replay_start_time, got.replay_end_time), (at(T0), None));
    assert!(matches!(store.get_replay("R-ü").await, Err(Error::NotFound { .. })));

    store.update_replay("r-ü", "RUNNING", "", 42, None).await.unwrap();
    let got = store.get_replay("r-ü").await.unwrap();
    assert_eq!((got.state.as_str(), got.events_replayed, got.replay_end_time), ("RUNNING", 42, None));
    store.update_replay("r-ü", "FAILED", "interrupted ✗ \"here\"", 43, Some(at(T0 + 77))).await.unwrap();
    let got = store.get_replay("r-ü").await.unwrap();
    assert_eq!((got.state.as_str(), got.state_reason.as_str()), ("FAILED", "interrupted ✗ \"here\""));
    assert_eq!((got.events_replayed, got.replay_end_time), (43, Some(at(T0 + 77))));
    // Updating a missing replay changes nothing and is not an error.
    store.update_replay("nope", "FAILED", "", 0, None).await.unwrap();

    let names: Vec<String> = store.list_replays().await.unwrap().into_iter().map(|r| r.replay_name).collect();
    assert_eq!(names, vec!["later", "r-ü"]);
}
}
