//! Training jobs and their metric time series.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::row::{json, Columns};
use crate::{from_millis, Error, Store};

/// A training job as stored; the jobs crate turns it into SageMaker's shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingJobRecord {
    pub name: String,
    pub arn: String,
    pub request: Value,
    pub status: String,
    pub secondary_status: String,
    pub transitions: Value,
    pub failure_reason: Option<String>,
    pub model_artifacts: Option<String>,
    pub final_metrics: Value,
    pub dataset: Value,
    pub stop_requested: bool,
    pub pid: Option<i64>,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    pub training_start: Option<DateTime<Utc>>,
    pub training_end: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// How a page of training jobs is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobSort {
    #[default]
    Created,
    Name,
    Status,
}

/// What page of training jobs to read.
#[derive(Debug, Clone, Default)]
pub struct JobPage<'a> {
    pub status: Option<&'a str>,
    pub name_contains: Option<&'a str>,
    pub sort: JobSort,
    pub descending: bool,
    pub offset: i64,
    pub limit: i64,
}

/// One metric observation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricPoint {
    pub metric_name: String,
    pub value: f64,
    pub timestamp: DateTime<Utc>,
}

impl Store {
    delegate! {
        pub async fn create_training_job(&self, job: &TrainingJobRecord) -> Result<(), Error>;
        /// Writes every mutable field of a job. The process id is written only by
        /// `set_training_pid` (the runner's copy may lag) and cleared when the job ends.
        pub async fn update_training_job(&self, job: &TrainingJobRecord) -> Result<(), Error>;
        /// Records the process id of a job's training process (for clean-up after a restart).
        pub async fn set_training_pid(&self, name: &str, pid: Option<i64>) -> Result<(), Error>;
        /// Marks a stop request; returns false when the job does not exist.
        pub async fn request_training_stop(&self, name: &str) -> Result<bool, Error>;
        pub async fn get_training_job(&self, name: &str) -> Result<TrainingJobRecord, Error>;
        /// The (newest) completed job whose `ModelArtifacts` is `url`, if any.
        pub async fn training_job_by_artifacts(&self, url: &str) -> Result<Option<TrainingJobRecord>, Error>;
        /// Jobs newest first, optionally with one status.
        pub async fn list_training_jobs(&self, status: Option<&str>, limit: i64) -> Result<Vec<TrainingJobRecord>, Error>;
        /// One page of training jobs for a list view (filtered by status and a part of the
        /// name, sorted), and how many jobs the filter matches in all.
        pub async fn page_training_jobs(&self, page: &JobPage<'_>) -> Result<(Vec<TrainingJobRecord>, i64), Error>;
        pub async fn add_training_metrics(&self, job: &str, first_seq: i64, points: &[MetricPoint]) -> Result<(), Error>;
        pub async fn training_metrics(&self, job: &str) -> Result<Vec<MetricPoint>, Error>;
    }
}

pub(crate) fn job_from(row: &impl Columns) -> TrainingJobRecord {
    TrainingJobRecord {
        name: row.get("name"),
        arn: row.get("arn"),
        request: json(row, "request"),
        status: row.get("status"),
        secondary_status: row.get("secondary_status"),
        transitions: json(row, "transitions"),
        failure_reason: row.get("failure_reason"),
        model_artifacts: row.get("model_artifacts"),
        final_metrics: json(row, "final_metrics"),
        dataset: json(row, "dataset"),
        stop_requested: row.get::<i64>("stop_requested") != 0,
        pid: row.get("pid"),
        attempts: row.get("attempts"),
        created_at: from_millis(row.get("created_at")),
        training_start: row.get::<Option<i64>>("training_start").map(from_millis),
        training_end: row.get::<Option<i64>>("training_end").map(from_millis),
        updated_at: from_millis(row.get("updated_at")),
    }
}

pub(crate) fn metric_from(row: &impl Columns) -> MetricPoint {
    MetricPoint { metric_name: row.get("name"), value: row.get("value"), timestamp: from_millis(row.get("timestamp")) }
}
