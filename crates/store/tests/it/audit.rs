//! The audit trail: append order, the two listing modes, filters and retention.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use trainyard_store::{from_millis, AuditQuery, AuditRow, NewAuditRecord, Store};

use crate::backends::conformance;

const T0: i64 = 1_700_000_000_123;

fn at(millis: i64) -> DateTime<Utc> {
    from_millis(millis)
}

/// Appends records named by `ids`: (event id, time, principal, denied).
async fn append(store: &Store, rows: &[(&str, i64, &str, bool)]) {
    let texts: Vec<String> =
        rows.iter().map(|(id, _, principal, _)| format!(r#"{{"eventID":"{id}","who":"{principal}"}}"#)).collect();
    let records: Vec<NewAuditRecord<'_>> = rows
        .iter()
        .zip(&texts)
        .map(|((id, time, principal, denied), text)| NewAuditRecord {
            event_id: id,
            time: at(*time),
            principal_arn: principal,
            event_name: "PutObject",
            denied: *denied,
            record: text,
        })
        .collect();
    store.append_audit(&records).await.unwrap();
}

fn ids(rows: &[AuditRow]) -> Vec<String> {
    rows.iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.record).unwrap()["eventID"].as_str().unwrap().to_string())
        .collect()
}

const ALICE: &str = "arn:aws:iam::0:user/älice";
const BOB: &str = "arn:aws:iam::0:user/bob";

conformance! {
async fn audit_lists_the_latest_or_follows_after_a_seq_with_filters(store) {
    append(&store, &[("1", T0, ALICE, false), ("2", T0 + 1, BOB, true), ("3", T0 + 2, ALICE, true)]).await;
    append(&store, &[("4", T0 + 3, BOB, false), ("2", T0 + 9, ALICE, false)]).await;
    append(&store, &[]).await;
    append(&store, &[("5", T0 + 4, ALICE, false)]).await;

    let all = store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    // A repeated event id is kept once (the first).
    assert_eq!(ids(&all), vec!["1", "2", "3", "4", "5"]);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(all[1].record, format!(r#"{{"eventID":"2","who":"{BOB}"}}"#));
    // Without `after`: the last `limit`, oldest first.
    let last = store.list_audit(&AuditQuery { limit: 2, ..Default::default() }).await.unwrap();
    assert_eq!(ids(&last), vec!["4", "5"]);
    assert_eq!(ids(&store.list_audit(&AuditQuery::default()).await.unwrap()), vec!["5"]);
    // With `after`: the first `limit` after it.
    let after = |after: i64, limit: u32| AuditQuery { after: Some(after), limit, ..Default::default() };
    assert_eq!(ids(&store.list_audit(&after(all[0].seq, 2)).await.unwrap()), vec!["2", "3"]);
    assert_eq!(ids(&store.list_audit(&after(all[2].seq, 100)).await.unwrap()), vec!["4", "5"]);
    assert!(store.list_audit(&after(all[4].seq, 100)).await.unwrap().is_empty());

    let alice = AuditQuery { principal_arn: Some(ALICE.into()), limit: 100, ..Default::default() };
    assert_eq!(ids(&store.list_audit(&alice).await.unwrap()), vec!["1", "3", "5"]);
    let denied = AuditQuery { denied_only: true, limit: 100, ..Default::default() };
    assert_eq!(ids(&store.list_audit(&denied).await.unwrap()), vec!["2", "3"]);
    let both = AuditQuery { principal_arn: Some(ALICE.into()), denied_only: true, limit: 100, ..Default::default() };
    assert_eq!(ids(&store.list_audit(&both).await.unwrap()), vec!["3"]);
    let alice_after = AuditQuery { after: Some(all[0].seq), limit: 1, ..alice.clone() };
    assert_eq!(ids(&store.list_audit(&alice_after).await.unwrap()), vec!["3"]);
    let denied_after = AuditQuery { after: Some(all[1].seq), ..denied.clone() };
    assert_eq!(ids(&store.list_audit(&denied_after).await.unwrap()), vec!["3"]);
    let nobody = AuditQuery { principal_arn: Some("arn:aws:iam::0:user/ÄLICE".into()), limit: 100, ..Default::default() };
    assert!(store.list_audit(&nobody).await.unwrap().is_empty());
}

async fn audit_records_older_than_a_time_are_deleted(store) {
    append(&store, &[("1", T0, ALICE, false), ("2", T0 + 1, BOB, false), ("3", T0 + 2, ALICE, false)]).await;
    assert_eq!(store.delete_audit_before(at(T0)).await.unwrap(), 0);
    assert_eq!(store.delete_audit_before(at(T0 + 2)).await.unwrap(), 2);
    assert_eq!(ids(&store.list_audit(&AuditQuery { limit: 10, ..Default::default() }).await.unwrap()), vec!["3"]);
    // Sequence numbers are never reused.
    let before = store.list_audit(&AuditQuery { limit: 10, ..Default::default() }).await.unwrap()[0].seq;
    store.delete_audit_before(at(T0 + 100)).await.unwrap();
    append(&store, &[("4", T0 + 3, ALICE, false)]).await;
    assert!(store.list_audit(&AuditQuery { limit: 10, ..Default::default() }).await.unwrap()[0].seq > before);
}

async fn a_follower_sees_every_record_despite_concurrent_appends(store) {
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..15 {
                    let id = format!("{w}-{n}");
                    append(&store, &[(id.as_str(), T0, ALICE, false)]).await;
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut cursor = 0;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let page = store.list_audit(&AuditQuery { after: Some(cursor), limit: 7, ..Default::default() }).await.unwrap();
        let empty = page.is_empty();
        for row in &page {
            assert!(row.seq > cursor);
            cursor = row.seq;
        }
        for id in ids(&page) {
            assert!(seen.insert(id), "a record seen twice");
        }
        if done && empty {
            break;
        }
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(seen.len(), 90, "a follower after seq saw every record");
}
}
