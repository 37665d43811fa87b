//! SageMaker definitions (models, endpoint configurations) and resource tags.

use chrono::{TimeZone, Utc};
use serde_json::json;
use trainyard_store::{DefinitionRecord, Error};

use crate::backends::conformance;

conformance! {
async fn definitions_are_unique_per_kind_and_take_their_tags_when_deleted(store) {
    let model = DefinitionRecord {
        kind: "model",
        name: "m1".into(),
        arn: "arn:aws:sagemaker:us-east-1:000000000000:model/m1".into(),
        spec: json!({"ModelName": "m1"}),
        created_at: Utc::now(),
    };
    store.create_definition(&model).await.unwrap();
    assert!(matches!(store.create_definition(&model).await, Err(Error::AlreadyExists { .. })));
    let config = DefinitionRecord { kind: "endpoint-config", ..model.clone() };
    store.create_definition(&config).await.unwrap();
    assert_eq!(store.get_definition("model", "m1").await.unwrap().spec, json!({"ModelName": "m1"}));
    assert_eq!(store.list_definitions("model", "M").await.unwrap().len(), 1);
    assert!(store.list_definitions("model", "x").await.unwrap().is_empty());
    store
        .put_resource_tags(&model.arn, &[("team".into(), "a".into()), ("env".into(), "dev".into())])
        .await
        .unwrap();
    store.put_resource_tags(&model.arn, &[("team".into(), "b".into())]).await.unwrap();
    let tags = store.list_resource_tags(&model.arn).await.unwrap();
    assert_eq!(tags, vec![("env".into(), "dev".into()), ("team".into(), "b".into())]);
    store.delete_definition("model", "m1").await.unwrap();
    assert!(matches!(store.get_definition("model", "m1").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_definition("model", "m1").await, Err(Error::NotFound { .. })));
    // The configuration shares the ARN in this test; its tags went with the model.
    assert!(store.list_resource_tags(&model.arn).await.unwrap().is_empty());
}

async fn definitions_round_trip_and_list_by_name_matching_case_insensitively(store) {
    let created_at = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
    let spec = json!({"ModelName": "x", "Containers": [{"Image": "img:1", "Environment": {"K": "ünï \"q\""}}], "N": 1.5});
    for name in ["Churn-B", "churn-a", "other", "CHURNED"] {
        let record = DefinitionRecord {
            kind: "model",
            name: name.into(),
            arn: format!("arn:aws:sagemaker:us-east-1:000000000000:model/{}", name.to_lowercase()),
            spec: spec.clone(),
            created_at,
        };
        store.create_definition(&record).await.unwrap();
    }
    let config = DefinitionRecord {
        kind: "endpoint-config",
        name: "churn-config".into(),
        arn: "arn:aws:sagemaker:us-east-1:000000000000:endpoint-config/churn-config".into(),
        spec: json!({}),
        created_at,
    };
    store.create_definition(&config).await.unwrap();

    let got = store.get_definition("model", "Churn-B").await.unwrap();
    assert_eq!(got.kind, "model");
    assert_eq!(got.arn, "arn:aws:sagemaker:us-east-1:000000000000:model/churn-b");
    assert_eq!(got.spec, spec);
    assert_eq!(got.created_at, created_at);
    assert!(matches!(store.get_definition("model", "churn-b").await, Err(Error::NotFound { kind: "model", .. })));
    assert!(matches!(
        store.get_definition("endpoint-config", "Churn-B").await,
        Err(Error::NotFound { kind: "endpoint-config", .. })
    ));
    assert_eq!(store.get_definition("endpoint-config", "churn-config").await.unwrap(), config);

    let names = |list: Vec<DefinitionRecord>| list.into_iter().map(|d| d.name).collect::<Vec<_>>();
    assert_eq!(names(store.list_definitions("model", "").await.unwrap()), ["CHURNED", "Churn-B", "churn-a", "other"]);
    assert_eq!(names(store.list_definitions("model", "cHuRn").await.unwrap()), ["CHURNED", "Churn-B", "churn-a"]);
    assert_eq!(names(store.list_definitions("model", "n-").await.unwrap()), ["Churn-B", "churn-a"]);
    // Not a pattern: % and _ are literal.
    assert!(store.list_definitions("model", "%").await.unwrap().is_empty());
    assert!(store.list_definitions("model", "churn_").await.unwrap().is_empty());
    assert_eq!(names(store.list_definitions("endpoint-config", "CHURN").await.unwrap()), ["churn-config"]);
}

async fn resource_tags_are_put_listed_by_key_and_deleted_per_key(store) {
    let arn = "arn:aws:sagemaker:us-east-1:000000000000:model/m";
    let other = "arn:aws:sagemaker:us-east-1:000000000000:model/n";
    store.put_resource_tags(arn, &[]).await.unwrap();
    assert!(store.list_resource_tags(arn).await.unwrap().is_empty());
    let tags: Vec<(String, String)> = [("b", "2"), ("a", ""), ("ünï", "cødé ✓"), ("A", "upper"), ("a:b/c", "x=y")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    store.put_resource_tags(arn, &tags).await.unwrap();
    store.put_resource_tags(other, &[("a".into(), "other".into())]).await.unwrap();
    let pairs = |list: &[(&str, &str)]| list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    assert_eq!(
        store.list_resource_tags(arn).await.unwrap(),
        pairs(&[("A", "upper"), ("a", ""), ("a:b/c", "x=y"), ("b", "2"), ("ünï", "cødé ✓")])
    );
    // Overwrites one, adds one; a key given twice keeps its last value.
    let again = [("a".into(), "0".into()), ("c".into(), "3".into()), ("a".into(), "1".into())];
    store.put_resource_tags(arn, &again).await.unwrap();
    store.delete_resource_tags(arn, &["b".into(), "ünï".into(), "missing".into()]).await.unwrap();
    store.delete_resource_tags(arn, &[]).await.unwrap();
    assert_eq!(
        store.list_resource_tags(arn).await.unwrap(),
        pairs(&[("A", "upper"), ("a", "1"), ("a:b/c", "x=y"), ("c", "3")])
    );
    assert_eq!(store.list_resource_tags(other).await.unwrap(), pairs(&[("a", "other")]));
    store.delete_resource_tags("arn:none", &["a".into()]).await.unwrap();
    assert!(store.list_resource_tags("arn:none").await.unwrap().is_empty());
}

async fn concurrent_tag_puts_in_opposite_orders_all_succeed(store) {
    let arn = "arn:aws:sagemaker:us-east-1:000000000000:model/m";
    let keys: Vec<String> = (0..20).map(|i| format!("k{i:02}")).collect();
    let puts = (0..8).map(|n| {
        let store = store.clone();
        let mut tags: Vec<(String, String)> = keys.iter().map(|k| (k.clone(), format!("v{n}"))).collect();
        if n % 2 == 1 {
            tags.reverse();
        }
        async move { store.put_resource_tags(arn, &tags).await }
    });
    for result in futures::future::join_all(puts).await {
        result.unwrap();
    }
    let tags = store.list_resource_tags(arn).await.unwrap();
    assert_eq!(tags.len(), 20);
    // All at once: every key carries the value of one and the same put.
    assert!(tags.iter().all(|(_, v)| v == &tags[0].1), "{tags:?}");
}
}
