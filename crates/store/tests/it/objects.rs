//! Buckets and object metadata: round trips, replacement, tags, key order and prefixes.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use trainyard_store::{Error, ObjectRecord, Store};

use crate::backends::conformance;

fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000 + millis).unwrap()
}

fn object(bucket: &str, key: &str) -> ObjectRecord {
    ObjectRecord {
        bucket: bucket.into(),
        key: key.into(),
        size: 3,
        etag: "900150983cd24fb0d6963f7d28e17f72".into(),
        content_type: "text/plain".into(),
        last_modified: at(1),
        metadata: BTreeMap::new(),
        tags: BTreeMap::new(),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn keys(store: &Store, prefix: &str, after: Option<&str>, limit: i64) -> Vec<String> {
    store.list_objects("b", prefix, after, limit).await.unwrap().into_iter().map(|o| o.key).collect()
}

conformance! {
async fn buckets_are_unique_listed_by_name_and_deleted_only_when_empty(store) {
    let created = store.create_bucket("zeta", at(7)).await.unwrap();
    assert_eq!((created.name.as_str(), created.creation_date), ("zeta", at(7)));
    store.create_bucket("alpha", at(8)).await.unwrap();
    store.create_bucket("a-b", at(9)).await.unwrap();
    assert!(matches!(store.create_bucket("zeta", at(1)).await, Err(Error::AlreadyExists { .. })));
    let listed: Vec<(String, DateTime<Utc>)> =
        store.list_buckets().await.unwrap().into_iter().map(|b| (b.name, b.creation_date)).collect();
    assert_eq!(listed, [("a-b".into(), at(9)), ("alpha".into(), at(8)), ("zeta".into(), at(7))]);
    assert_eq!(store.get_bucket("alpha").await.unwrap().creation_date, at(8));
    assert!(matches!(store.get_bucket("nope").await, Err(Error::NotFound { kind: "bucket", .. })));

    store.put_object(&object("zeta", "k")).await.unwrap();
    assert!(matches!(store.delete_bucket("zeta").await, Err(Error::InUse { kind: "bucket", .. })));
    assert!(store.get_bucket("zeta").await.is_ok());
    store.delete_object("zeta", "k").await.unwrap();
    store.delete_bucket("zeta").await.unwrap();
    assert!(matches!(store.get_bucket("zeta").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_bucket("zeta").await, Err(Error::NotFound { kind: "bucket", .. })));
    assert_eq!(store.list_buckets().await.unwrap().len(), 2);
}

async fn objects_round_trip_replace_and_keep_their_tags_apart(store) {
    store.create_bucket("b", at(0)).await.unwrap();
    let mut record = object("b", "dir/ünï cødé+%_?#.txt");
    record.size = 5_000_000_000;
    record.metadata = map(&[("owner", "ann"), ("note", "a \"quoted\" ✓")]);
    record.tags = map(&[("env", "dev")]);
    record.last_modified = at(123);
    store.put_object(&record).await.unwrap();
    assert_eq!(store.get_object("b", &record.key).await.unwrap(), record);

    // A put replaces every field.
    let mut replaced = object("b", &record.key);
    replaced.size = 0;
    replaced.etag = "d41d8cd98f00b204e9800998ecf8427e-2".into();
    replaced.content_type = "application/octet-stream".into();
    replaced.last_modified = at(456);
    store.put_object(&replaced).await.unwrap();
    assert_eq!(store.get_object("b", &record.key).await.unwrap(), replaced);

    store.set_object_tags("b", &record.key, &map(&[("team", "x"), ("k", "")])).await.unwrap();
    let tagged = store.get_object("b", &record.key).await.unwrap();
    assert_eq!(tagged.tags, map(&[("k", ""), ("team", "x")]));
    assert_eq!(tagged.last_modified, at(456));
    store.set_object_tags("b", &record.key, &BTreeMap::new()).await.unwrap();
    assert!(store.get_object("b", &record.key).await.unwrap().tags.is_empty());
    assert!(matches!(
        store.set_object_tags("b", "missing", &map(&[("a", "b")])).await,
        Err(Error::NotFound { kind: "object", .. })
    ));
    assert!(matches!(store.get_object("b", "missing").await, Err(Error::NotFound { kind: "object", .. })));
    assert!(matches!(store.get_object("nobucket", &record.key).await, Err(Error::NotFound { .. })));

    // An object needs its bucket.
    assert!(matches!(store.put_object(&object("nobucket", "k")).await, Err(Error::NotFound { kind: "bucket", .. })));

    assert_eq!(store.delete_object("b", &record.key).await.unwrap(), Some(replaced));
    assert_eq!(store.delete_object("b", &record.key).await.unwrap(), None);
    assert!(matches!(store.get_object("b", &record.key).await, Err(Error::NotFound { .. })));
}

async fn listings_are_in_bytewise_key_order_with_literal_prefixes(store) {
    store.create_bucket("b", at(0)).await.unwrap();
    store.create_bucket("other", at(0)).await.unwrap();
    let all = [
        "a", "a%b", "a-b", "a.b", "a/", "a/b", "a/c/d", "a_b", "aB", "ab", "b", "Z", "é", "éa", "日本/x", "\u{10FFFF}",
    ];
    for key in all {
        store.put_object(&object("b", key)).await.unwrap();
    }
    store.put_object(&object("other", "a/x")).await.unwrap();
    let mut expected: Vec<&str> = all.to_vec();
    expected.sort(); // bytewise, as S3 lists
    assert_eq!(keys(&store, "", None, 1000).await, expected);

    // Pages by start_after, including a start_after that is no key.
    assert_eq!(keys(&store, "", None, 3).await, expected[..3]);
    assert_eq!(keys(&store, "", Some(expected[2]), 3).await, expected[3..6]);
    assert_eq!(keys(&store, "", Some("a/bb"), 2).await, ["a/c/d", "aB"]);
    assert!(keys(&store, "", Some("\u{10FFFF}"), 10).await.is_empty());

    // Prefixes are literal: % and _ are not wildcards, and case matters.
    assert_eq!(keys(&store, "a/", None, 100).await, ["a/", "a/b", "a/c/d"]);
    assert_eq!(keys(&store, "a/", Some("a/"), 100).await, ["a/b", "a/c/d"]);
    assert_eq!(keys(&store, "a%", None, 100).await, ["a%b"]);
    assert_eq!(keys(&store, "a_", None, 100).await, ["a_b"]);
    assert_eq!(keys(&store, "A", None, 100).await, Vec::<String>::new());
    assert_eq!(keys(&store, "a", None, 100).await.len(), 10);
    assert_eq!(keys(&store, "é", None, 100).await, ["é", "éa"]);
    assert_eq!(keys(&store, "日本", None, 100).await, ["日本/x"]);
    assert_eq!(keys(&store, "a/c/d", None, 100).await, ["a/c/d"]);
    assert_eq!(keys(&store, "a/c/d/", None, 100).await, Vec::<String>::new());
    // The delimiter roll-up's cursor: past every key under "a/".
    assert_eq!(keys(&store, "a", Some("a/\u{10FFFF}"), 100).await, ["aB", "a_b", "ab"]);

    // A limit below 1 still lists one.
    assert_eq!(keys(&store, "", None, 0).await.len(), 1);
    let listed = store.list_objects("other", "", None, 10).await.unwrap();
    assert_eq!(listed, vec![object("other", "a/x")]);
}

async fn a_bucket_deleted_while_objects_arrive_is_either_refused_or_emptied(store) {
    for round in 0..30 {
        let bucket = format!("race-{round}");
        store.create_bucket(&bucket, at(0)).await.unwrap();
        let (s1, s2, b1, b2) = (store.clone(), store.clone(), bucket.clone(), bucket.clone());
        let (put, delete) = tokio::join!(
            tokio::spawn(async move { s1.put_object(&object(&b1, "k")).await }),
            tokio::spawn(async move { s2.delete_bucket(&b2).await })
        );
        match (put.unwrap(), delete.unwrap()) {
            (Ok(()), Err(Error::InUse { .. })) => assert!(store.get_object(&bucket, "k").await.is_ok()),
            (Err(Error::NotFound { kind: "bucket", .. }), Ok(())) => {
                assert!(store.get_bucket(&bucket).await.is_err())
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}
}
