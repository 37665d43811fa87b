//! Pipelines, their runs and pending retraining requests.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::row::Columns;
use crate::{from_millis, Error, Store};

#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRecord {
    pub name: String,
    /// The trainyard.yaml text as applied.
    pub spec: String,
    pub created_at: DateTime<Utc>,
    pub applied_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: String,
    pub pipeline: String,
    pub trigger: Value,
    /// `Running`, `WaitingForApproval`, `Succeeded` or `Failed`.
    pub status: String,
    pub reason: Option<String>,
    /// `[{"Step", "Resource", "Status", "StartTime", "EndTime", ...}]`, in order.
    pub steps: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// New data waiting for a pipeline's retraining.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainingWindow {
    pub pipeline: String,
    /// When the first object of the window was noted.
    pub opened: DateTime<Utc>,
    pub objects: i64,
    /// The id of the first object noted: no other window has it.
    pub first: i64,
    /// The id of the last object noted: the window is the objects up to it.
    pub last: i64,
}

impl Store {
    delegate! {
        /// Creates or replaces a pipeline's spec.
        pub async fn put_pipeline(&self, name: &str, spec: &str, now: DateTime<Utc>) -> Result<(), Error>;
        pub async fn get_pipeline(&self, name: &str) -> Result<PipelineRecord, Error>;
        pub async fn list_pipelines(&self) -> Result<Vec<PipelineRecord>, Error>;
        pub async fn delete_pipeline(&self, name: &str) -> Result<(), Error>;
        /// Records a run; `AlreadyExists` if one has its id (a duplicate trigger).
        pub async fn create_run(&self, run: &RunRecord) -> Result<(), Error>;
        /// Writes a run's status, reason and steps.
        pub async fn update_run(&self, run: &RunRecord) -> Result<(), Error>;
        pub async fn get_run(&self, id: &str) -> Result<RunRecord, Error>;
        /// Runs of a pipeline, newest first.
        pub async fn list_runs(&self, pipeline: &str, limit: i64) -> Result<Vec<RunRecord>, Error>;
        /// Runs not yet ended (`Running` or `WaitingForApproval`), oldest first.
        pub async fn open_runs(&self) -> Result<Vec<RunRecord>, Error>;
        /// Notes a new object (`object`: its bucket, key and version) for a pipeline's
        /// retraining; the first open note opens a window. False when the object was noted
        /// before (a redelivered or replayed event), whether or not a run has taken it.
        pub async fn note_retraining(&self, pipeline: &str, object: &str, now: DateTime<Utc>) -> Result<bool, Error>;
        /// Open retraining windows, one per pipeline with objects no run has taken.
        pub async fn retraining_windows(&self) -> Result<Vec<RetrainingWindow>, Error>;
        /// Gives the objects of a pipeline noted up to `last` (a window's) and not yet taken to
        /// `run`; returns how many. Objects noted later stay for the next window.
        pub async fn close_retraining(&self, pipeline: &str, run: &str, last: i64) -> Result<u64, Error>;
        /// Forgets a deleted pipeline's open notes.
        pub async fn drop_retraining(&self, pipeline: &str) -> Result<(), Error>;
    }
}

pub(crate) fn pipeline_from(row: &impl Columns) -> PipelineRecord {
    PipelineRecord {
        name: row.get("name"),
        spec: row.get("spec"),
        created_at: from_millis(row.get("created_at")),
        applied_at: from_millis(row.get("applied_at")),
    }
}

pub(crate) fn run_from(row: &impl Columns) -> RunRecord {
    RunRecord {
        id: row.get("id"),
        pipeline: row.get("pipeline"),
        trigger: serde_json::from_str(row.get::<&str>("trigger")).unwrap_or(Value::Null),
        status: row.get("status"),
        reason: row.get("reason"),
        steps: serde_json::from_str(row.get::<&str>("steps")).unwrap_or(Value::Array(Vec::new())),
        created_at: from_millis(row.get("created_at")),
        updated_at: from_millis(row.get("updated_at")),
    }
}

pub(crate) fn window_from(row: &impl Columns) -> RetrainingWindow {
    RetrainingWindow {
        pipeline: row.get("pipeline"),
        opened: from_millis(row.get("opened")),
        objects: row.get("objects"),
        first: row.get("first"),
        last: row.get("last"),
    }
}
