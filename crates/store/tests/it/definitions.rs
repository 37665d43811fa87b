//! SageMaker definitions (models, endpoint configurations) and resource tags.

use chrono::Utc;
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
}
