//! Inference endpoints: every field round trips; updates write them all at once.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use trainyard_store::{EndpointRecord, Error};

use crate::backends::conformance;

fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000 + millis).unwrap()
}

fn endpoint(name: &str) -> EndpointRecord {
    EndpointRecord {
        name: name.into(),
        arn: format!("arn:aws:sagemaker:us-east-1:000000000000:endpoint/{name}"),
        status: "Creating".into(),
        config: None,
        previous_config: None,
        pending: Some(json!({"EndpointConfigName": "c1", "Started": 1})),
        last_deployment: None,
        failure_reason: None,
        created_at: at(1),
        updated_at: at(1),
    }
}

conformance! {
async fn endpoints_round_trip_update_whole_and_list_by_name(store) {
    let mut first = endpoint("churn");
    store.create_endpoint(&first).await.unwrap();
    assert!(matches!(store.create_endpoint(&first).await, Err(Error::AlreadyExists { kind: "endpoint", .. })));
    assert_eq!(store.get_endpoint("churn").await.unwrap(), first);

    first.status = "InService".into();
    first.config = Some(json!({"EndpointConfigName": "c1", "Variants": [{"Weight": 0.5, "Name": "ünï \"q\""}]}));
    first.previous_config = Some(json!({"EndpointConfigName": "c0"}));
    first.pending = None;
    first.last_deployment = Some(json!({"Outcome": "Succeeded", "At": 1_700_000_000_123_i64}));
    first.failure_reason = Some("line 1\nline 2 ✓".into());
    first.updated_at = at(999);
    store.update_endpoint(&first).await.unwrap();
    assert_eq!(store.get_endpoint("churn").await.unwrap(), first);

    // Back to nothing: the update writes NULLs too; created_at never changes.
    let mut cleared = endpoint("churn");
    cleared.status = "Failed".into();
    cleared.pending = None;
    cleared.created_at = at(5);
    cleared.updated_at = at(1000);
    store.update_endpoint(&cleared).await.unwrap();
    assert_eq!(store.get_endpoint("churn").await.unwrap(), EndpointRecord { created_at: at(1), ..cleared });
    assert!(matches!(store.update_endpoint(&endpoint("nope")).await, Err(Error::NotFound { kind: "endpoint", .. })));
    assert!(matches!(store.get_endpoint("nope").await, Err(Error::NotFound { kind: "endpoint", .. })));

    for name in ["b-2", "B", "a", "b"] {
        store.create_endpoint(&endpoint(name)).await.unwrap();
    }
    let names: Vec<String> = store.list_endpoints().await.unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["B", "a", "b", "b-2", "churn"]);
    assert_eq!(store.list_endpoints().await.unwrap()[1], endpoint("a"));

    store.delete_endpoint("churn").await.unwrap();
    assert!(matches!(store.get_endpoint("churn").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_endpoint("churn").await, Err(Error::NotFound { kind: "endpoint", .. })));
    assert_eq!(store.list_endpoints().await.unwrap().len(), 4);
}
}
