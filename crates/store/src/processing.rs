//! Processing jobs (evaluation runs).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::{db, from_millis, to_millis, Error, Store};

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

fn json(row: &SqliteRow, column: &str) -> Value {
    serde_json::from_str(row.get::<&str, _>(column)).unwrap_or(Value::Null)
}

fn job_from(row: &SqliteRow) -> ProcessingJobRecord {
    ProcessingJobRecord {
        name: row.get("name"),
        arn: row.get("arn"),
        request: json(row, "request"),
        status: row.get("status"),
        failure_reason: row.get("failure_reason"),
        exit_message: row.get("exit_message"),
        dataset: json(row, "dataset"),
        stop_requested: row.get::<i64, _>("stop_requested") != 0,
        pid: row.get("pid"),
        created_at: from_millis(row.get("created_at")),
        processing_start: row.get::<Option<i64>, _>("processing_start").map(from_millis),
        processing_end: row.get::<Option<i64>, _>("processing_end").map(from_millis),
        updated_at: from_millis(row.get("updated_at")),
    }
}

impl Store {
    pub async fn create_processing_job(&self, job: &ProcessingJobRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO processing_jobs (name, arn, request, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&job.name)
        .bind(&job.arn)
        .bind(job.request.to_string())
        .bind(&job.status)
        .bind(to_millis(job.created_at))
        .bind(to_millis(job.updated_at))
        .execute(&self.writer)
        .await
        .map_err(Error::on_insert("processing job", &job.name))?;
        Ok(())
    }

    /// Writes every mutable field of a job. The process id is written only by
    /// `set_processing_pid` (the runner's copy may lag) and cleared when the job ends.
    pub async fn update_processing_job(&self, job: &ProcessingJobRecord) -> Result<(), Error> {
        sqlx::query(
            "UPDATE processing_jobs SET status = ?, failure_reason = ?, exit_message = ?, dataset = ?, pid = CASE WHEN ? THEN NULL ELSE pid END,
                 processing_start = ?, processing_end = ?, updated_at = ?
             WHERE name = ?",
        )
        .bind(&job.status)
        .bind(&job.failure_reason)
        .bind(&job.exit_message)
        .bind(job.dataset.to_string())
        .bind(job.processing_end.is_some())
        .bind(job.processing_start.map(to_millis))
        .bind(job.processing_end.map(to_millis))
        .bind(to_millis(job.updated_at))
        .bind(&job.name)
        .execute(&self.writer)
        .await
        .map_err(db("update processing job"))?;
        Ok(())
    }

    /// Records the process id of a job's process (for clean-up after a restart).
    pub async fn set_processing_pid(&self, name: &str, pid: Option<i64>) -> Result<(), Error> {
        sqlx::query("UPDATE processing_jobs SET pid = ? WHERE name = ?")
            .bind(pid)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db("set processing pid"))?;
        Ok(())
    }

    pub async fn request_processing_stop(&self, name: &str) -> Result<bool, Error> {
        let done = sqlx::query("UPDATE processing_jobs SET stop_requested = 1 WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db("request stop"))?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn get_processing_job(&self, name: &str) -> Result<ProcessingJobRecord, Error> {
        let row = sqlx::query("SELECT * FROM processing_jobs WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get processing job"))?;
        row.as_ref().map(job_from).ok_or_else(|| Error::NotFound { kind: "processing job", name: name.into() })
    }

    /// Jobs newest first, optionally with one status.
    pub async fn list_processing_jobs(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ProcessingJobRecord>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM processing_jobs WHERE (?1 IS NULL OR status = ?1) ORDER BY created_at DESC, name LIMIT ?2",
        )
        .bind(status)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await
        .map_err(db("list processing jobs"))?;
        Ok(rows.iter().map(job_from).collect())
    }
}
