//! SageMaker definitions (models, endpoint configurations) and resource tags.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::row::Columns;
use crate::{from_millis, Error, Store};

/// A stored definition; the endpoints crate owns its meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionRecord {
    /// `model` or `endpoint-config`.
    pub kind: &'static str,
    pub name: String,
    pub arn: String,
    pub spec: Value,
    pub created_at: DateTime<Utc>,
}

impl Store {
    delegate! {
        pub async fn create_definition(&self, record: &DefinitionRecord) -> Result<(), Error>;
        pub async fn get_definition(&self, kind: &'static str, name: &str) -> Result<DefinitionRecord, Error>;
        /// Definitions of one kind whose name contains `name_contains`, by name.
        pub async fn list_definitions(&self, kind: &'static str, name_contains: &str) -> Result<Vec<DefinitionRecord>, Error>;
        /// Deletes a definition and its tags.
        pub async fn delete_definition(&self, kind: &'static str, name: &str) -> Result<(), Error>;
        /// Adds or overwrites tags on a resource, all at once.
        pub async fn put_resource_tags(&self, arn: &str, tags: &[(String, String)]) -> Result<(), Error>;
        /// A resource's tags, by key.
        pub async fn list_resource_tags(&self, arn: &str) -> Result<Vec<(String, String)>, Error>;
        pub async fn delete_resource_tags(&self, arn: &str, keys: &[String]) -> Result<(), Error>;
    }
}

pub(crate) fn definition_from(kind: &'static str, row: &impl Columns) -> Result<DefinitionRecord, Error> {
    let name: String = row.get("name");
    let spec: String = row.get("spec");
    let spec = serde_json::from_str(&spec)
        .map_err(|e| Error::Corrupt { context: format!("{kind} {name}"), message: e.to_string() })?;
    Ok(DefinitionRecord { kind, name, arn: row.get("arn"), spec, created_at: from_millis(row.get("created_at")) })
}
