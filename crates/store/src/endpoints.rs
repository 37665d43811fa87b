//! Inference endpoints.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::row::Columns;
use crate::{from_millis, Error, Store};

/// An endpoint as stored; the endpoints crate owns its meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointRecord {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub config: Option<Value>,
    pub previous_config: Option<Value>,
    pub pending: Option<Value>,
    pub last_deployment: Option<Value>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An optional JSON field as the TEXT both backends store.
pub(crate) fn json_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(Value::to_string)
}

impl Store {
    delegate! {
        pub async fn create_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), Error>;
        /// Writes every mutable field in one statement: status and configuration change together.
        pub async fn update_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), Error>;
        pub async fn get_endpoint(&self, name: &str) -> Result<EndpointRecord, Error>;
        pub async fn list_endpoints(&self) -> Result<Vec<EndpointRecord>, Error>;
        pub async fn delete_endpoint(&self, name: &str) -> Result<(), Error>;
    }
}

fn optional_json(row: &impl Columns, column: &str) -> Option<Value> {
    row.get::<Option<String>>(column).and_then(|text| serde_json::from_str(&text).ok())
}

pub(crate) fn endpoint_from(row: &impl Columns) -> EndpointRecord {
    EndpointRecord {
        name: row.get("name"),
        arn: row.get("arn"),
        status: row.get("status"),
        config: optional_json(row, "config"),
        previous_config: optional_json(row, "previous_config"),
        pending: optional_json(row, "pending"),
        last_deployment: optional_json(row, "last_deployment"),
        failure_reason: row.get("failure_reason"),
        created_at: from_millis(row.get("created_at")),
        updated_at: from_millis(row.get("updated_at")),
    }
}
