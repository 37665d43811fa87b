//! Builds of followed commits, one per announced push.
//!
//! Invariant: `push_id` is unique, so a push is built at most once however many build
//! loops look at it.

use chrono::{DateTime, Utc};

use crate::row::Columns;
use crate::{from_millis, Error, Store};

#[derive(Debug, Clone, PartialEq)]
pub struct BuildRecord {
    pub id: String,
    pub push_id: Option<i64>,
    pub source: String,
    pub branch: String,
    pub commit: String,
    /// `IN_PROGRESS`, `SUCCEEDED`, `FAILED` or `SKIPPED` (no build section).
    pub status: String,
    pub reason: Option<String>,
    pub repository: Option<String>,
    pub image_digest: Option<String>,
    pub tags: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// An announced push with no build yet.
#[derive(Debug, Clone, PartialEq)]
pub struct UnbuiltPush {
    pub id: i64,
    pub source: String,
    pub url: String,
    pub branch: String,
    pub commit: String,
}

impl Store {
    delegate! {
        /// Announced pushes that have no build, oldest first.
        pub async fn unbuilt_pushes(&self) -> Result<Vec<UnbuiltPush>, Error>;
        /// Records a build; `AlreadyExists` when its push already has one.
        pub async fn create_build(&self, build: &BuildRecord) -> Result<(), Error>;
        /// Records a build's outcome.
        pub async fn finish_build(&self, build: &BuildRecord) -> Result<(), Error>;
        pub async fn get_build(&self, id: &str) -> Result<BuildRecord, Error>;
        /// Builds, newest first, of one source or all; optionally only those in `status`.
        pub async fn list_builds(&self, source: Option<&str>, status: Option<&str>, limit: i64) -> Result<Vec<BuildRecord>, Error>;
    }
}

pub(crate) fn build_from(row: &impl Columns) -> BuildRecord {
    BuildRecord {
        id: row.get("id"),
        push_id: row.get("push_id"),
        source: row.get("source"),
        branch: row.get("branch"),
        commit: row.get("commit_id"),
        status: row.get("status"),
        reason: row.get("reason"),
        repository: row.get("repository"),
        image_digest: row.get("image_digest"),
        tags: serde_json::from_str(row.get::<&str>("tags")).unwrap_or_default(),
        started_at: from_millis(row.get("started_at")),
        ended_at: row.get::<Option<i64>>("ended_at").map(from_millis),
    }
}

pub(crate) fn unbuilt_push_from(row: &impl Columns) -> UnbuiltPush {
    UnbuiltPush {
        id: row.get("id"),
        source: row.get("source"),
        url: row.get("url"),
        branch: row.get("branch"),
        commit: row.get("after"),
    }
}
