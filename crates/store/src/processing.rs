//! Processing jobs (evaluation runs).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::row::{json, Columns};
use crate::{from_millis, Error, Store};

/// A processing job as stored; the jobs crate turns it into SageMaker's shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessingJobRecord {
    pub name: String,
    pub arn: String,
    pub request: Value,
    /// `InProgress`, `Stopping`, `Completed`, `Failed` or `Stopped`.
    pub status: String,
    pub failure_reason: Option<String>,
    pub exit_message: Option<String>,
    /// The objects the job read: `[{"Uri", "ETag", "Size"}]`.
    pub dataset: Value,
    pub stop_requested: bool,
    pub pid: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub processing_start: Option<DateTime<Utc>>,
    pub processing_end: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl Store {
    delegate! {
        pub async fn create_processing_job(&self, job: &ProcessingJobRecord) -> Result<(), Error>;
        /// Writes every mutable field of a job. The process id is written only by
        /// `set_processing_pid` (the runner's copy may lag) and cleared when the job ends.
        pub async fn update_processing_job(&self, job: &ProcessingJobRecord) -> Result<(), Error>;
        /// Records the process id of a job's process (for clean-up after a restart).
        pub async fn set_processing_pid(&self, name: &str, pid: Option<i64>) -> Result<(), Error>;
        pub async fn request_processing_stop(&self, name: &str) -> Result<bool, Error>;
        pub async fn get_processing_job(&self, name: &str) -> Result<ProcessingJobRecord, Error>;
        /// Jobs newest first, optionally with one status.
        pub async fn list_processing_jobs(&self, status: Option<&str>, limit: i64) -> Result<Vec<ProcessingJobRecord>, Error>;
    }
}

pub(crate) fn job_from(row: &impl Columns) -> ProcessingJobRecord {
    ProcessingJobRecord {
        name: row.get("name"),
        arn: row.get("arn"),
        request: json(row, "request"),
        status: row.get("status"),
        failure_reason: row.get("failure_reason"),
        exit_message: row.get("exit_message"),
        dataset: json(row, "dataset"),
        stop_requested: row.get::<i64>("stop_requested") != 0,
        pid: row.get("pid"),
        created_at: from_millis(row.get("created_at")),
        processing_start: row.get::<Option<i64>>("processing_start").map(from_millis),
        processing_end: row.get::<Option<i64>>("processing_end").map(from_millis),
        updated_at: from_millis(row.get("updated_at")),
    }
}
