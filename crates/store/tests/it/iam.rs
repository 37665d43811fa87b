//! Identity records: principals, managed and inline policies, attachments, access keys,
//! sessions and resource policies, as `load_iam` gives them back.

use std::collections::BTreeMap;

use crate::backends::conformance;
use chrono::{DateTime, Duration, TimeZone, Utc};
use trainyard_store::{AccessKeyRecord, Error, IamRecords, ManagedPolicyRecord, PrincipalRecord, SessionRecord, Store};

fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_765_000_000_000 + millis).unwrap()
}

fn principal(id: &str, kind: &str, name: &str) -> PrincipalRecord {
    PrincipalRecord {
        id: id.into(),
        kind: kind.into(),
        name: name.into(),
        path: "/".into(),
        description: None,
        trust_policy: None,
        max_session_seconds: None,
        boundary_arn: None,
        tags: BTreeMap::new(),
        created_at: at(0),
    }
}

fn policy(name: &str) -> ManagedPolicyRecord {
    ManagedPolicyRecord {
        arn: format!("arn:aws:iam::000000000000:policy/{name}"),
        name: name.into(),
        description: None,
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#.into(),
        created_at: at(1),
        updated_at: at(1),
    }
}

fn key(id: &str, principal_id: &str, digest: &[u8], created: i64) -> AccessKeyRecord {
    AccessKeyRecord {
        id: id.into(),
        principal_id: principal_id.into(),
        secret_digest: digest.to_vec(),
        status: "Active".into(),
        created_at: at(created),
    }
}

fn session(id: &str, role_id: &str, digest: &[u8], issued: i64, expires: i64) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        role_id: role_id.into(),
        session_name: "job-ü 1".into(),
        token_digest: digest.to_vec(),
        session_policy: None,
        issued_by: "arn:aws:iam::000000000000:user/alice".into(),
        issued_at: at(issued),
        expires_at: at(expires),
    }
}

async fn load(store: &Store, now: DateTime<Utc>) -> IamRecords {
    store.load_iam(now).await.unwrap()
}

fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut items = items.to_vec();
    items.sort();
    items
}

conformance! {
async fn principals_round_trip_and_their_names_are_unique_case_insensitively(store) {
    let mut alice = principal("AIDA1", "user", "Alice");
    alice.path = "/engineering/ü/".into();
    alice.description = Some("ünïcødé ✓ 'q' \"d\" \\".into());
    alice.max_session_seconds = Some(43_200);
    alice.boundary_arn = Some("arn:aws:iam::000000000000:policy/boundary".into());
    alice.tags = BTreeMap::from([("team".into(), "ml 🚀".into()), ("Cost-Center".into(), "4'2\"".into())]);
    alice.created_at = at(5) + Duration::microseconds(999);
    store.create_principal(&alice).await.unwrap();
    alice.created_at = at(5);
    let mut role = principal("AROA1", "role", "alice");
    role.trust_policy = Some(r#"{"Statement":[{"Principal":{"Service":"sagemaker.amazonaws.com"}}]}"#.into());
    role.max_session_seconds = Some(3600);
    store.create_principal(&role).await.unwrap();
    let bot = principal("AIDA2", "service-account", "Bot-Ü");
    store.create_principal(&bot).await.unwrap();

    let loaded = load(&store, at(0)).await;
    assert_eq!(loaded.principals, [role.clone(), bot.clone(), alice.clone()], "by kind, then name key");

    // Users and service accounts share a namespace, case-insensitively; roles have their own.
    for (id, kind, name) in [("AIDA3", "user", "ALICE"), ("AIDA4", "service-account", "alice"), ("AIDA5", "user", "bot-ü"), ("AROA2", "role", "ALICE")] {
        let clash = store.create_principal(&principal(id, kind, name)).await;
        assert!(matches!(clash, Err(Error::AlreadyExists { .. })), "{kind} {name}: {clash:?}");
    }
    let same_id = store.create_principal(&principal("AIDA1", "user", "carol")).await;
    assert!(matches!(same_id, Err(Error::AlreadyExists { .. })), "{same_id:?}");
    assert_eq!(load(&store, at(0)).await.principals.len(), 3);

    // An update writes the mutable fields only.
    let mut changed = alice.clone();
    changed.description = None;
    changed.trust_policy = Some("{}".into());
    changed.max_session_seconds = None;
    changed.boundary_arn = None;
    changed.tags = BTreeMap::from([("k".into(), "".into())]);
    let mut ignored = changed.clone();
    ignored.name = "renamed".into();
    ignored.path = "/other/".into();
    ignored.kind = "role".into();
    ignored.created_at = at(999);
    store.update_principal(&ignored).await.unwrap();
    let loaded = load(&store, at(0)).await;
    assert_eq!(loaded.principals.iter().find(|p| p.id == "AIDA1"), Some(&changed));
    let missing = store.update_principal(&principal("AIDA9", "user", "nobody")).await;
    assert!(matches!(missing, Err(Error::NotFound { .. })), "{missing:?}");
}

async fn deleting_a_principal_takes_its_keys_sessions_attachments_and_inline_policies(store) {
    store.create_principal(&principal("AIDA1", "user", "alice")).await.unwrap();
    store.create_principal(&principal("AROA1", "role", "runner")).await.unwrap();
    store.create_principal(&principal("AIDA2", "user", "bob")).await.unwrap();
    store.create_policy(&policy("p")).await.unwrap();
    let arn = policy("p").arn;
    for id in ["AIDA1", "AROA1", "AIDA2"] {
        store.attach_policy(id, &arn).await.unwrap();
        store.put_inline_policy(id, "inline", "{}").await.unwrap();
    }
    store.create_access_key(&key("AKIA1", "AIDA1", b"d1", 1)).await.unwrap();
    store.create_access_key(&key("AKIA2", "AIDA2", b"d2", 2)).await.unwrap();
    store.create_session(&session("ASIA1", "AROA1", b"t1", 0, 100)).await.unwrap();

    store.delete_principal("AIDA1").await.unwrap();
    store.delete_principal("AROA1").await.unwrap();
    let loaded = load(&store, at(1)).await;
    assert_eq!(loaded.principals.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["AIDA2"]);
    assert_eq!(loaded.attachments, [("AIDA2".to_string(), arn.clone())]);
    assert_eq!(loaded.inline_policies, [("AIDA2".to_string(), "inline".to_string(), "{}".to_string())]);
    assert_eq!(loaded.access_keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["AKIA2"]);
    assert!(loaded.sessions.is_empty());
    assert_eq!(store.delete_ended_sessions(at(1_000_000)).await.unwrap(), 0, "the session went with its role");
    assert!(matches!(store.delete_principal("AIDA1").await, Err(Error::NotFound { .. })));
    // The name is free again.
    store.create_principal(&principal("AIDA3", "user", "ALICE")).await.unwrap();
}

async fn managed_policies_round_trip_and_are_refused_deletion_while_attached(store) {
    let mut p = policy("S3-Read_ü");
    p.description = Some("read ✓ 'q'".into());
    p.created_at = at(2) + Duration::microseconds(1);
    p.updated_at = at(2);
    store.create_policy(&p).await.unwrap();
    p.created_at = at(2);
    store.create_policy(&policy("Alpha")).await.unwrap();
    store.create_policy(&policy("beta")).await.unwrap();
    let names: Vec<String> = load(&store, at(0)).await.policies.into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["Alpha", "beta", "S3-Read_ü"], "by lower-cased name");
    assert_eq!(load(&store, at(0)).await.policies[2], p);

    let mut clash = policy("s3-read_Ü");
    clash.arn = "arn:aws:iam::000000000000:policy/other".into();
    assert!(matches!(store.create_policy(&clash).await, Err(Error::AlreadyExists { .. })), "names are case-insensitive");
    let mut same_arn = policy("gamma");
    same_arn.arn = p.arn.clone();
    assert!(matches!(store.create_policy(&same_arn).await, Err(Error::AlreadyExists { .. })));

    store.update_policy_document(&p.arn, "{\"Statement\":[\"ü\"]}", at(9)).await.unwrap();
    let stored = load(&store, at(0)).await.policies.into_iter().find(|x| x.arn == p.arn).unwrap();
    assert_eq!((stored.document.as_str(), stored.created_at, stored.updated_at), ("{\"Statement\":[\"ü\"]}", at(2), at(9)));
    assert!(matches!(store.update_policy_document("arn:nope", "{}", at(9)).await, Err(Error::NotFound { .. })));

    store.create_principal(&principal("AIDA1", "user", "alice")).await.unwrap();
    store.attach_policy("AIDA1", &p.arn).await.unwrap();
    let refused = store.delete_policy(&p.arn).await;
    assert!(matches!(refused, Err(Error::InUse { .. })), "{refused:?}");
    assert_eq!(load(&store, at(0)).await.policies.len(), 3, "a refused delete keeps the policy");
    store.detach_policy("AIDA1", &p.arn).await.unwrap();
    store.delete_policy(&p.arn).await.unwrap();
    assert!(matches!(store.delete_policy(&p.arn).await, Err(Error::NotFound { .. })));
    assert_eq!(load(&store, at(0)).await.policies.len(), 2);
}

async fn attachments_are_idempotent_and_may_name_policies_without_rows(store) {
    store.create_principal(&principal("AIDA1", "user", "alice")).await.unwrap();
    store.create_principal(&principal("AROA1", "role", "r")).await.unwrap();
    let aws = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    let mine = policy("mine").arn;
    store.create_policy(&policy("mine")).await.unwrap();
    store.attach_policy("AIDA1", aws).await.unwrap();
    store.attach_policy("AIDA1", aws).await.unwrap();
    store.attach_policy("AIDA1", &mine).await.unwrap();
    store.attach_policy("AROA1", aws).await.unwrap();
    let attachments = load(&store, at(0)).await.attachments;
    assert_eq!(attachments.len(), 3, "attaching twice is no change");
    assert_eq!(attachments[0], ("AIDA1".to_string(), mine.clone()), "by policy ARN");
    assert_eq!(
        sorted(&attachments[1..]),
        [("AIDA1".to_string(), aws.to_string()), ("AROA1".to_string(), aws.to_string())]
    );
    assert!(store.attach_policy("AIDA9", aws).await.is_err(), "a missing principal");

    store.detach_policy("AIDA1", aws).await.unwrap();
    let missing = store.detach_policy("AIDA1", aws).await;
    assert!(matches!(missing, Err(Error::NotFound { .. })), "{missing:?}");
    assert_eq!(load(&store, at(0)).await.attachments.len(), 2);
}

async fn inline_policies_are_created_replaced_and_deleted_by_name(store) {
    store.create_principal(&principal("AIDA1", "user", "alice")).await.unwrap();
    store.create_principal(&principal("AIDA2", "user", "bob")).await.unwrap();
    store.put_inline_policy("AIDA1", "b-ü", "{\"v\":1}").await.unwrap();
    store.put_inline_policy("AIDA1", "B-ü", "{\"v\":2}").await.unwrap();
    store.put_inline_policy("AIDA1", "b-ü", "{\"v\":3}").await.unwrap();
    store.put_inline_policy("AIDA2", "a", "{}").await.unwrap();
    let inline = load(&store, at(0)).await.inline_policies;
    let expected: Vec<(String, String, String)> = vec![
        ("AIDA1".into(), "B-ü".into(), "{\"v\":2}".into()),
        ("AIDA2".into(), "a".into(), "{}".into()),
        ("AIDA1".into(), "b-ü".into(), "{\"v\":3}".into()),
    ];
    assert_eq!(inline, expected, "by name, bytewise; a put replaces the same name");
    store.delete_inline_policy("AIDA1", "b-ü").await.unwrap();
    assert!(matches!(store.delete_inline_policy("AIDA1", "b-ü").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_inline_policy("AIDA2", "B-ü").await, Err(Error::NotFound { .. })), "per principal");
    assert_eq!(load(&store, at(0)).await.inline_policies.len(), 2);
    assert!(store.put_inline_policy("AIDA9", "x", "{}").await.is_err(), "a missing principal");
}

async fn access_keys_round_trip_their_digests_and_are_unique(store) {
    store.create_principal(&principal("AIDA1", "user", "alice")).await.unwrap();
    let digest: Vec<u8> = (0..=255u8).rev().chain([0, 0]).collect();
    let mut first = key("AKIA1", "AIDA1", &digest, 1);
    first.created_at = at(1) + Duration::microseconds(5);
    store.create_access_key(&first).await.unwrap();
    first.created_at = at(1);
    let second = key("AKIA0", "AIDA1", &[0u8; 32], 2);
    store.create_access_key(&second).await.unwrap();
    assert_eq!(load(&store, at(0)).await.access_keys, [first.clone(), second.clone()], "oldest first");

    let same_id = store.create_access_key(&key("AKIA1", "AIDA1", b"other", 3)).await;
    assert!(matches!(same_id, Err(Error::AlreadyExists { .. })), "{same_id:?}");
    let same_secret = store.create_access_key(&key("AKIA2", "AIDA1", &digest, 3)).await;
    assert!(matches!(same_secret, Err(Error::AlreadyExists { .. })), "{same_secret:?}");
    assert!(store.create_access_key(&key("AKIA3", "AIDA9", b"x", 3)).await.is_err(), "a missing principal");

    store.set_access_key_status("AKIA1", "Inactive").await.unwrap();
    let keys = load(&store, at(0)).await.access_keys;
    assert_eq!((keys[0].status.as_str(), &keys[0].secret_digest), ("Inactive", &digest));
    assert!(matches!(store.set_access_key_status("AKIA9", "Active").await, Err(Error::NotFound { .. })));
    store.delete_access_key("AKIA1").await.unwrap();
    assert!(matches!(store.delete_access_key("AKIA1").await, Err(Error::NotFound { .. })));
    assert_eq!(load(&store, at(0)).await.access_keys, [second]);
}

async fn sessions_load_while_valid_and_ended_ones_are_deleted(store) {
    store.create_principal(&principal("AROA1", "role", "runner")).await.unwrap();
    let mut live = session("ASIA1", "AROA1", &[0, 1, 255], 0, 100);
    live.session_policy = Some("{\"Statement\":[]}".into());
    live.issued_at = at(0) + Duration::microseconds(999);
    store.create_session(&live).await.unwrap();
    live.issued_at = at(0);
    store.create_session(&session("ASIA2", "AROA1", b"t2", 0, 50)).await.unwrap();
    store.create_session(&session("ASIA3", "AROA1", b"t3", 0, 200)).await.unwrap();
    let dup = store.create_session(&session("ASIA1", "AROA1", b"t4", 0, 100)).await;
    assert!(matches!(dup, Err(Error::AlreadyExists { .. })), "{dup:?}");
    let same_token = store.create_session(&session("ASIA4", "AROA1", b"t2", 0, 100)).await;
    assert!(matches!(same_token, Err(Error::AlreadyExists { .. })), "{same_token:?}");

    let ids = |records: IamRecords| sorted(&records.sessions.iter().map(|s| s.id.clone()).collect::<Vec<_>>());
    assert_eq!(ids(load(&store, at(10)).await), ["ASIA1", "ASIA2", "ASIA3"]);
    assert_eq!(load(&store, at(10)).await.sessions.into_iter().find(|s| s.id == "ASIA1"), Some(live));
    assert_eq!(ids(load(&store, at(50)).await), ["ASIA1", "ASIA3"], "a session ends at its expiry");

    store.revoke_session("ASIA3", at(20)).await.unwrap();
    store.revoke_session("ASIA3", at(80)).await.unwrap();
    store.revoke_session("ASIA9", at(20)).await.unwrap();
    assert_eq!(ids(load(&store, at(10)).await), ["ASIA1", "ASIA2"], "a revoked session is gone");

    // Ended strictly before `before`: ASIA2 expired at 50, ASIA3 was revoked at 20 (the
    // second revocation changed nothing).
    assert_eq!(store.delete_ended_sessions(at(20)).await.unwrap(), 0);
    assert_eq!(store.delete_ended_sessions(at(21)).await.unwrap(), 1);
    assert_eq!(store.delete_ended_sessions(at(51)).await.unwrap(), 1);
    assert_eq!(ids(load(&store, at(10)).await), ["ASIA1"]);
    assert_eq!(store.delete_ended_sessions(at(101)).await.unwrap(), 1);
    assert!(load(&store, at(0)).await.sessions.is_empty());
}

async fn resource_policies_are_set_replaced_and_deleted(store) {
    store.put_resource_policy("arn:aws:s3:::b-ü", "{\"v\":1}", at(1)).await.unwrap();
    store.put_resource_policy("arn:aws:s3:::B", "{}", at(1)).await.unwrap();
    store.put_resource_policy("arn:aws:s3:::b-ü", "{\"v\":2}", at(2)).await.unwrap();
    let expected: Vec<(String, String)> =
        vec![("arn:aws:s3:::B".into(), "{}".into()), ("arn:aws:s3:::b-ü".into(), "{\"v\":2}".into())];
    assert_eq!(load(&store, at(0)).await.resource_policies, expected);
    store.delete_resource_policy("arn:aws:s3:::B").await.unwrap();
    assert!(matches!(store.delete_resource_policy("arn:aws:s3:::B").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_resource_policy("arn:aws:s3:::b-Ü").await, Err(Error::NotFound { .. })));
    assert_eq!(load(&store, at(0)).await.resource_policies.len(), 1);
}

async fn concurrent_identical_attachments_and_inline_puts_all_succeed(store) {
    store.create_principal(&principal("AIDA1", "user", "alice")).await.unwrap();
    let arn = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store.attach_policy("AIDA1", arn).await.unwrap();
                store.put_inline_policy("AIDA1", "p", &format!("{{\"v\":{i}}}")).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let loaded = load(&store, at(0)).await;
    assert_eq!(loaded.attachments, [("AIDA1".to_string(), arn.to_string())]);
    assert_eq!(loaded.inline_policies.len(), 1);
}
}
