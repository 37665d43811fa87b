//! Inference endpoints.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{Error, Store};

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
