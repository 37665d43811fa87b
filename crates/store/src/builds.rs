//! Builds of followed commits, one per announced push.
//!
//! Invariant: `push_id` is unique, so a push is built at most once however many build
//! loops look at it.

use chrono::{DateTime, Utc};

use crate::{Error, Store};

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
