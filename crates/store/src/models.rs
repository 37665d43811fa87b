//! The model registry's records: package groups, versions and aliases.
//!
//! Invariant: versions are numbered 1, 2, 3, ... per group with no gap and no repeat — the
//! number comes from the group row, bumped in the same transaction as the insert, on the one
//! writer connection. A version's artifact URL and document are never updated; only its
//! approval status (with who and when) changes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::row::Columns;
use crate::{from_millis, Error, Store};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModelGroupRecord {
    #[serde(rename = "ModelPackageGroupName")]
    pub name: String,
    #[serde(rename = "ModelPackageGroupDescription")]
    pub description: String,
    /// `auto` (a passed gate approves) or `manual`.
    pub approval_mode: String,
    /// What a failed gate does: `register-rejected` or `discard`.
    #[serde(rename = "GateFailure")]
    pub gate_failure: String,
    pub creation_time: DateTime<Utc>,
}

/// A version as it is registered.
#[derive(Debug, Clone, PartialEq)]
pub struct NewModelPackage {
    pub status: String,
    pub model_data_url: String,
    pub document: Value,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModelPackageRecord {
    #[serde(rename = "ModelPackageGroupName")]
    pub group: String,
    #[serde(rename = "ModelPackageVersion")]
    pub version: i64,
    #[serde(rename = "ModelApprovalStatus")]
    pub status: String,
    #[serde(rename = "ModelDataUrl")]
    pub model_data_url: String,
    #[serde(skip)]
    pub document: Value,
    pub created_by: String,
    pub creation_time: DateTime<Utc>,
    pub approval_description: String,
    pub last_modified_by: Option<String>,
    pub last_modified_time: Option<DateTime<Utc>>,
}

impl Store {
    delegate! {
        pub async fn create_model_group(&self, group: &ModelGroupRecord) -> Result<(), Error>;
        /// Writes a group's description, approval mode and gate failure.
        pub async fn update_model_group(&self, group: &ModelGroupRecord) -> Result<(), Error>;
        pub async fn list_model_groups(&self) -> Result<Vec<ModelGroupRecord>, Error>;
        pub async fn get_model_group(&self, name: &str) -> Result<ModelGroupRecord, Error>;
        /// Deletes a group; one with versions only when `force` (then its versions and aliases go too).
        pub async fn delete_model_group(&self, name: &str, force: bool) -> Result<(), Error>;
        /// Registers the group's next version.
        pub async fn register_model_package(&self, group: &str, package: &NewModelPackage, now: DateTime<Utc>) -> Result<ModelPackageRecord, Error>;
        pub async fn list_model_packages(&self, group: &str) -> Result<Vec<ModelPackageRecord>, Error>;
        pub async fn get_model_package(&self, group: &str, version: i64) -> Result<ModelPackageRecord, Error>;
        /// Changes a version's approval status; returns the record before and after.
        pub async fn set_model_package_status(&self, group: &str, version: i64, status: &str, description: &str, by: &str, now: DateTime<Utc>) -> Result<(ModelPackageRecord, ModelPackageRecord), Error>;
        /// Points `alias` at `version` (atomically replacing where it pointed).
        pub async fn set_model_alias(&self, group: &str, alias: &str, version: i64, now: DateTime<Utc>) -> Result<(), Error>;
        /// The group's aliases and the versions they point at.
        pub async fn list_model_aliases(&self, group: &str) -> Result<Vec<(String, i64)>, Error>;
    }
}

pub(crate) fn group_from(row: &impl Columns) -> ModelGroupRecord {
    ModelGroupRecord {
        name: row.get("name"),
        description: row.get("description"),
        approval_mode: row.get("approval_mode"),
        gate_failure: row.get("gate_failure"),
        creation_time: from_millis(row.get("created_at")),
    }
}

pub(crate) fn package_from(row: &impl Columns) -> Result<ModelPackageRecord, Error> {
    let text: String = row.get("document");
    let document = serde_json::from_str(&text)
        .map_err(|e| Error::Corrupt { context: "model package document".into(), message: e.to_string() })?;
    Ok(ModelPackageRecord {
        group: row.get("group_name"),
        version: row.get("version"),
        status: row.get("status"),
        model_data_url: row.get("model_data_url"),
        document,
        created_by: row.get("created_by"),
        creation_time: from_millis(row.get("created_at")),
        approval_description: row.get("approval_description"),
        last_modified_by: row.get("status_changed_by"),
        last_modified_time: row.get::<Option<i64>>("status_changed_at").map(from_millis),
    })
}

/// The columns `package_from` reads.
pub(crate) const PACKAGE_COLUMNS: &str =
    "group_name, version, status, model_data_url, document, created_by, created_at, \
                               approval_description, status_changed_by, status_changed_at";
