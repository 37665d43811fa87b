//! processing: the PostgreSQL queries.

use super::jobs::without_nul;
use super::PgStore;
use crate::processing::*;
use crate::{db, to_millis, Error};

impl PgStore {
    pub async fn create_processing_job(&self, job: &ProcessingJobRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO processing_jobs (name, arn, request, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&job.name)
        .bind(&job.arn)
        .bind(job.request.to_string())
        .bind(&job.status)
        .bind(to_millis(job.created_at))
        .bind(to_millis(job.updated_at))
        .execute(&self.pool)
        .await
        .map_err(Error::on_insert("processing job", &job.name))?;
        Ok(())
    }

    pub async fn update_processing_job(&self, job: &ProcessingJobRecord) -> Result<(), Error> {
        sqlx::query(
            "UPDATE processing_jobs SET status = $1, failure_reason = $2, exit_message = $3, dataset = $4, pid = CASE WHEN $5 THEN NULL ELSE pid END,
                 processing_start = $6, processing_end = $7, updated_at = $8
             WHERE name = $9",
        )
        .bind(&job.status)
        .bind(without_nul(job.failure_reason.as_deref()))
        .bind(without_nul(job.exit_message.as_deref()))
        .bind(job.dataset.to_string())
        .bind(job.processing_end.is_some())
        .bind(job.processing_start.map(to_millis))
        .bind(job.processing_end.map(to_millis))
        .bind(to_millis(job.updated_at))
        .bind(&job.name)
        .execute(&self.pool)
        .await
        .map_err(db("update processing job"))?;
        Ok(())
    }

    pub async fn set_processing_pid(&self, name: &str, pid: Option<i64>) -> Result<(), Error> {
        sqlx::query("UPDATE processing_jobs SET pid = $1 WHERE name = $2")
            .bind(pid)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("set processing pid"))?;
        Ok(())
    }

    pub async fn request_processing_stop(&self, name: &str) -> Result<bool, Error> {
        let done = sqlx::query("UPDATE processing_jobs SET stop_requested = 1 WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("request stop"))?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn get_processing_job(&self, name: &str) -> Result<ProcessingJobRecord, Error> {
        let row = sqlx::query("SELECT * FROM processing_jobs WHERE name = $1")
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
            "SELECT * FROM processing_jobs WHERE ($1::text IS NULL OR status = $1)
             ORDER BY created_at DESC, name COLLATE \"C\" LIMIT $2",
        )
        .bind(status)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await
        .map_err(db("list processing jobs"))?;
        Ok(rows.iter().map(job_from).collect())
    }
}
