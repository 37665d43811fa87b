//! The model registry's records: numbering, status, aliases, guarded deletes.

use crate::backends::conformance;
use chrono::Utc;
use serde_json::json;
use trainyard_store::{Error, ModelGroupRecord, NewModelPackage};

fn group(name: &str, approval_mode: &str) -> ModelGroupRecord {
    ModelGroupRecord {
        name: name.into(),
        description: String::new(),
        approval_mode: approval_mode.into(),
        gate_failure: "register-rejected".into(),
        creation_time: Utc::now(),
    }
}

fn package(url: &str) -> NewModelPackage {
    NewModelPackage {
        status: "PendingManualApproval".into(),
        model_data_url: url.into(),
        document: json!({"ModelMetrics": {"auc": 0.9}}),
        created_by: "admin".into(),
    }
}

conformance! {
async fn concurrent_registrations_get_gapless_unique_versions(store) {
    store.create_model_group(&group("churn", "manual")).await.unwrap();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .register_model_package("churn", &package(&format!("s3://m/{i}")), Utc::now())
                    .await
                    .unwrap()
                    .version
            })
        })
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap());
    }
    versions.sort();
    assert_eq!(versions, (1..=24).collect::<Vec<i64>>());
    let listed = store.list_model_packages("churn").await.unwrap();
    assert_eq!(listed.len(), 24);
    assert_eq!(listed[3].document, json!({"ModelMetrics": {"auc": 0.9}}));
    // A registration into a missing group is refused and burns no number.
    assert!(matches!(
        store.register_model_package("nope", &package("s3://x"), Utc::now()).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(store.register_model_package("churn", &package("s3://m/25"), Utc::now()).await.unwrap().version, 25);
}

async fn status_changes_aliases_and_guarded_deletes(store) {
    store.create_model_group(&group("g", "auto")).await.unwrap();
    assert!(matches!(store.create_model_group(&group("g", "auto")).await, Err(Error::AlreadyExists { .. })));
    let v1 = store.register_model_package("g", &package("s3://m/1"), Utc::now()).await.unwrap();
    let v2 = store.register_model_package("g", &package("s3://m/2"), Utc::now()).await.unwrap();

    let (before, after) =
        store.set_model_package_status("g", v2.version, "Approved", "looks good", "alice", Utc::now()).await.unwrap();
    assert_eq!((before.status.as_str(), after.status.as_str()), ("PendingManualApproval", "Approved"));
    let stored = store.get_model_package("g", 2).await.unwrap();
    assert_eq!((stored.status.as_str(), stored.last_modified_by.as_deref()), ("Approved", Some("alice")));
    assert_eq!(stored.model_data_url, "s3://m/2", "the artifact never changes");

    store.set_model_alias("g", "champion", v1.version, Utc::now()).await.unwrap();
    store.set_model_alias("g", "champion", v2.version, Utc::now()).await.unwrap();
    assert_eq!(store.list_model_aliases("g").await.unwrap(), vec![("champion".to_string(), 2)]);
    assert!(matches!(store.set_model_alias("g", "champion", 9, Utc::now()).await, Err(Error::NotFound { .. })));

    assert!(matches!(store.delete_model_group("g", false).await, Err(Error::InUse { .. })));
    assert_eq!(store.list_model_packages("g").await.unwrap().len(), 2, "a refused delete loses nothing");
    store.delete_model_group("g", true).await.unwrap();
    assert!(matches!(store.get_model_group("g").await, Err(Error::NotFound { .. })));
}
}
