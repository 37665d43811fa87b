//! processing: the SQLite queries.

use super::SqliteStore;
use crate::processing::*;
use crate::{db, to_millis, Error};

impl SqliteStore {
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
