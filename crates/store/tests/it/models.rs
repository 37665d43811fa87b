//! Model package groups, versions and aliases: round trips, order, errors, and deletes
//! racing registrations.

use crate::backends::conformance;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use trainyard_store::{Error, ModelGroupRecord, NewModelPackage};

fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_765_000_000_000 + millis).unwrap()
}

fn group(name: &str) -> ModelGroupRecord {
    ModelGroupRecord {
        name: name.into(),
        description: "Churn models — ünïcødé ✓ 'q' \"d\" \\".into(),
        approval_mode: "manual".into(),
        gate_failure: "discard".into(),
        creation_time: at(1),
    }
}

fn package(url: &str) -> NewModelPackage {
    NewModelPackage {
        status: "PendingManualApproval".into(),
        model_data_url: url.into(),
        document: json!({"ModelMetrics": {"auc": 0.875, "name": "日本語 🚀"}, "MetadataProperties": {"CommitId": null}}),
        created_by: "arn:aws:iam::000000000000:user/alice".into(),
    }
}

conformance! {
async fn groups_round_trip_update_and_list_in_bytewise_order(store) {
    let mut g = group("churn");
    g.creation_time = at(7) + Duration::microseconds(500);
    store.create_model_group(&g).await.unwrap();
    g.creation_time = at(7);
    assert_eq!(store.get_model_group("churn").await.unwrap(), g);

    let again = store.create_model_group(&group("churn")).await;
    assert!(matches!(again, Err(Error::AlreadyExists { .. })), "{again:?}");
    assert!(matches!(store.get_model_group("Churn").await, Err(Error::NotFound { .. })), "names are case-sensitive");

    let mut changed = g.clone();
    changed.description = String::new();
    changed.approval_mode = "auto".into();
    changed.gate_failure = "register-rejected".into();
    changed.creation_time = at(999);
    store.update_model_group(&changed).await.unwrap();
    changed.creation_time = g.creation_time;
    assert_eq!(store.get_model_group("churn").await.unwrap(), changed, "the creation time never changes");
    assert!(matches!(store.update_model_group(&group("missing")).await, Err(Error::NotFound { .. })));
    let mut bad = changed.clone();
    bad.approval_mode = "sometimes".into();
    assert!(store.update_model_group(&bad).await.is_err(), "only auto and manual");
    assert_eq!(store.get_model_group("churn").await.unwrap(), changed);

    for name in ["b-1", "B", "a_b", "é", "a-b"] {
        store.create_model_group(&group(name)).await.unwrap();
    }
    let listed: Vec<String> = store.list_model_groups().await.unwrap().into_iter().map(|g| g.name).collect();
    assert_eq!(listed, ["B", "a-b", "a_b", "b-1", "churn", "é"]);
    assert!(matches!(store.get_model_group("nope").await, Err(Error::NotFound { .. })));
}

async fn versions_round_trip_and_list_in_order(store) {
    store.create_model_group(&group("g")).await.unwrap();
    let now = at(50);
    let registered = store.register_model_package("g", &package("s3://m/1 ü"), now).await.unwrap();
    assert_eq!(registered.version, 1);
    assert_eq!(registered.status, "PendingManualApproval");
    assert_eq!(registered.approval_description, "");
    assert_eq!((registered.last_modified_by.as_ref(), registered.last_modified_time), (None, None));
    let stored = store.get_model_package("g", 1).await.unwrap();
    assert_eq!(stored, registered, "what registration returns is what is stored");
    assert_eq!(stored.document, package("x").document);
    assert_eq!(stored.created_by, "arn:aws:iam::000000000000:user/alice");

    let mut rejected = package("s3://m/2");
    rejected.status = "Rejected".into();
    store.register_model_package("g", &rejected, at(60)).await.unwrap();
    store.register_model_package("g", &package("s3://m/3"), at(70)).await.unwrap();
    let listed = store.list_model_packages("g").await.unwrap();
    let versions: Vec<(i64, &str)> = listed.iter().map(|p| (p.version, p.status.as_str())).collect();
    assert_eq!(versions, [(1, "PendingManualApproval"), (2, "Rejected"), (3, "PendingManualApproval")]);
    assert_eq!(listed[1].creation_time, at(60));

    assert!(matches!(store.get_model_package("g", 4).await, Err(Error::NotFound { .. })));
    assert!(matches!(store.get_model_package("h", 1).await, Err(Error::NotFound { .. })));
    assert!(matches!(store.list_model_packages("h").await, Err(Error::NotFound { .. })));
    store.create_model_group(&group("h")).await.unwrap();
    assert!(store.list_model_packages("h").await.unwrap().is_empty());
    assert_eq!(store.register_model_package("h", &package("s3://m/h"), now).await.unwrap().version, 1, "per group");

    let mut bad = package("s3://m/bad");
    bad.status = "Maybe".into();
    assert!(store.register_model_package("g", &bad, now).await.is_err());
    assert_eq!(store.register_model_package("g", &package("s3://m/4"), now).await.unwrap().version, 4, "no gap");
}

async fn a_status_change_returns_before_and_after_and_keeps_the_artifact(store) {
    store.create_model_group(&group("g")).await.unwrap();
    store.register_model_package("g", &package("s3://m/1"), at(1)).await.unwrap();
    let (before, after) =
        store.set_model_package_status("g", 1, "Approved", "gate passed ✓ 'auc' > 0.8", "bob", at(10)).await.unwrap();
    assert_eq!((before.status.as_str(), before.last_modified_by.as_ref()), ("PendingManualApproval", None));
    assert_eq!(after.status, "Approved");
    assert_eq!(after.approval_description, "gate passed ✓ 'auc' > 0.8");
    assert_eq!((after.last_modified_by.as_deref(), after.last_modified_time), (Some("bob"), Some(at(10))));
    assert_eq!(store.get_model_package("g", 1).await.unwrap(), after);
    assert_eq!((after.model_data_url.as_str(), &after.document), ("s3://m/1", &before.document));

    let (before, after) = store.set_model_package_status("g", 1, "Rejected", "", "carol", at(20)).await.unwrap();
    assert_eq!((before.status.as_str(), after.status.as_str()), ("Approved", "Rejected"));
    assert_eq!(before.last_modified_by.as_deref(), Some("bob"));
    assert_eq!(store.get_model_package("g", 1).await.unwrap().approval_description, "");

    let missing = store.set_model_package_status("g", 2, "Approved", "", "bob", at(30)).await;
    assert!(matches!(missing, Err(Error::NotFound { .. })), "{missing:?}");
    assert!(matches!(store.set_model_package_status("x", 1, "Approved", "", "bob", at(30)).await, Err(Error::NotFound { .. })));
    assert!(store.set_model_package_status("g", 1, "Maybe", "", "bob", at(30)).await.is_err());
    assert_eq!(store.get_model_package("g", 1).await.unwrap().status, "Rejected", "a refused status changes nothing");
}

async fn aliases_point_at_existing_versions_of_their_group(store) {
    store.create_model_group(&group("g")).await.unwrap();
    store.create_model_group(&group("other")).await.unwrap();
    for i in 1..=3 {
        store.register_model_package("g", &package(&format!("s3://m/{i}")), at(i)).await.unwrap();
    }
    store.register_model_package("other", &package("s3://o/1"), at(1)).await.unwrap();
    assert!(store.list_model_aliases("g").await.unwrap().is_empty());
    store.set_model_alias("g", "prod", 1, at(10)).await.unwrap();
    store.set_model_alias("g", "Prod", 2, at(10)).await.unwrap();
    store.set_model_alias("g", "canary-ü", 3, at(10)).await.unwrap();
    store.set_model_alias("g", "prod", 3, at(11)).await.unwrap();
    store.set_model_alias("other", "prod", 1, at(10)).await.unwrap();
    let aliases = store.list_model_aliases("g").await.unwrap();
    let expected: Vec<(String, i64)> = vec![("Prod".into(), 2), ("canary-ü".into(), 3), ("prod".into(), 3)];
    assert_eq!(aliases, expected, "bytewise order, case-sensitive names, the last set wins");
    assert_eq!(store.list_model_aliases("other").await.unwrap(), vec![("prod".to_string(), 1)]);

    let missing = store.set_model_alias("other", "prod", 2, at(12)).await;
    assert!(matches!(missing, Err(Error::NotFound { .. })), "{missing:?}");
    assert!(matches!(store.set_model_alias("nope", "prod", 1, at(12)).await, Err(Error::NotFound { .. })));
    assert_eq!(store.list_model_aliases("other").await.unwrap(), vec![("prod".to_string(), 1)], "unchanged");
    assert!(store.list_model_aliases("nope").await.unwrap().is_empty());
}

async fn deleting_a_group_takes_its_versions_and_aliases_only_when_forced(store) {
    assert!(matches!(store.delete_model_group("nope", false).await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_model_group("nope", true).await, Err(Error::NotFound { .. })));
    store.create_model_group(&group("empty")).await.unwrap();
    store.delete_model_group("empty", false).await.unwrap();
    assert!(matches!(store.get_model_group("empty").await, Err(Error::NotFound { .. })));

    store.create_model_group(&group("g")).await.unwrap();
    store.create_model_group(&group("keep")).await.unwrap();
    store.register_model_package("g", &package("s3://m/1"), at(1)).await.unwrap();
    store.register_model_package("keep", &package("s3://k/1"), at(1)).await.unwrap();
    store.set_model_alias("g", "prod", 1, at(2)).await.unwrap();
    store.set_model_alias("keep", "prod", 1, at(2)).await.unwrap();
    let refused = store.delete_model_group("g", false).await;
    assert!(matches!(refused, Err(Error::InUse { .. })), "{refused:?}");
    assert_eq!(store.list_model_aliases("g").await.unwrap().len(), 1, "a refused delete loses nothing");
    store.delete_model_group("g", true).await.unwrap();
    assert!(matches!(store.get_model_package("g", 1).await, Err(Error::NotFound { .. })));
    assert!(store.list_model_aliases("g").await.unwrap().is_empty());
    assert_eq!(store.list_model_aliases("keep").await.unwrap().len(), 1, "other groups keep theirs");

    // A group made again under the name starts numbering afresh.
    store.create_model_group(&group("g")).await.unwrap();
    assert_eq!(store.register_model_package("g", &package("s3://m/new"), at(3)).await.unwrap().version, 1);
    assert_eq!(store.get_model_package("g", 1).await.unwrap().model_data_url, "s3://m/new");
}

async fn a_delete_racing_registrations_is_refused_or_wins_cleanly(store) {
    for round in 0..5 {
        let name = format!("race-{round}");
        store.create_model_group(&group(&name)).await.unwrap();
        let registrations: Vec<_> = (0..8)
            .map(|i| {
                let (store, name) = (store.clone(), name.clone());
                tokio::spawn(async move { store.register_model_package(&name, &package(&format!("s3://m/{i}")), at(i)).await })
            })
            .collect();
        let deleted = store.delete_model_group(&name, false).await;
        let mut registered = 0;
        for r in registrations {
            match r.await.unwrap() {
                Ok(_) => registered += 1,
                Err(Error::NotFound { .. }) => {}
                Err(e) => panic!("a registration failed with {e:?}"),
            }
        }
        match deleted {
            Ok(()) => {
                assert!(matches!(store.get_model_group(&name).await, Err(Error::NotFound { .. })));
                assert_eq!(registered, 0, "versions registered before the delete would have refused it");
            }
            Err(Error::InUse { .. }) => {
                assert_eq!(store.list_model_packages(&name).await.unwrap().len(), registered);
            }
            Err(e) => panic!("the delete failed with {e:?}"),
        }
    }
}

async fn a_forced_delete_racing_alias_moves_takes_every_alias(store) {
    for round in 0..5 {
        let name = format!("race-{round}");
        store.create_model_group(&group(&name)).await.unwrap();
        store.register_model_package(&name, &package("s3://m/1"), at(1)).await.unwrap();
        let moves: Vec<_> = (0..8)
            .map(|i| {
                let (store, name) = (store.clone(), name.clone());
                tokio::spawn(async move { store.set_model_alias(&name, &format!("a{i}"), 1, at(i)).await })
            })
            .collect();
        store.delete_model_group(&name, true).await.unwrap();
        // A move losing the race fails; on PostgreSQL always with NotFound. (SQLite checks
        // the version on its reader pool before the upsert, so there the loser can get a
        // foreign-key `Database` error instead: reported, not asserted.)
        for m in moves {
            let _ = m.await.unwrap();
        }
        assert!(store.list_model_aliases(&name).await.unwrap().is_empty(), "no alias outlives its group");
    }
}

    async fn concurrent_status_changes_each_see_the_one_before(store) {
        store.create_model_group(&group("g")).await.unwrap();
        store.register_model_package("g", &package("s3://m/1"), at(1)).await.unwrap();
        let changes = (0..20).map(|i| {
            let store = store.clone();
            async move {
                let description = format!("change {i}");
                store.set_model_package_status("g", 1, "Approved", &description, "bob", at(10 + i)).await.unwrap()
            }
        });
        let results = futures::future::join_all(changes).await;
        // Serialised changes form one chain: every `before` is the initial state or another
        // change's `after`, and no two changes saw the same `before`.
        let befores: std::collections::BTreeSet<String> =
            results.iter().map(|(before, _)| before.approval_description.clone()).collect();
        assert_eq!(befores.len(), results.len(), "two changes reported the same before: {befores:?}");
        let afters: std::collections::BTreeSet<String> =
            results.iter().map(|(_, after)| after.approval_description.clone()).collect();
        let last = store.get_model_package("g", 1).await.unwrap().approval_description;
        let mut chain = afters.clone();
        chain.insert(String::new());
        chain.remove(&last);
        assert_eq!(befores, chain, "each before is the initial state or another change's after");
    }
}
