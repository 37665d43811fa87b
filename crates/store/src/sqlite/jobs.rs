//! jobs: the SQLite queries.

use super::SqliteStore;
use crate::jobs::*;
use crate::{db, to_millis, Error};

impl SqliteStore {
    pub async fn create_training_job(&self, job: &TrainingJobRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO training_jobs (name, arn, request, status, secondary_status, transitions, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&job.name)
        .bind(&job.arn)
        .bind(job.request.to_string())
        .bind(&job.status)
        .bind(&job.secondary_status)
        .bind(job.transitions.to_string())
        .bind(to_millis(job.created_at))
        .bind(to_millis(job.updated_at))
        .execute(&self.writer)
        .await
        .map_err(Error::on_insert("training job", &job.name))?;
        Ok(())
    }

    pub async fn update_training_job(&self, job: &TrainingJobRecord) -> Result<(), Error> {
        sqlx::query(
            "UPDATE training_jobs SET status = ?, secondary_status = ?, transitions = ?, failure_reason = ?,
                 model_artifacts = ?, final_metrics = ?, dataset = ?, pid = CASE WHEN ? THEN NULL ELSE pid END, attempts = ?, training_start = ?,
                 training_end = ?, updated_at = ?
             WHERE name = ?",
        )
        .bind(&job.status)
        .bind(&job.secondary_status)
        .bind(job.transitions.to_string())
        .bind(&job.failure_reason)
        .bind(&job.model_artifacts)
        .bind(job.final_metrics.to_string())
        .bind(job.dataset.to_string())
        .bind(job.training_end.is_some())
        .bind(job.attempts)
        .bind(job.training_start.map(to_millis))
        .bind(job.training_end.map(to_millis))
        .bind(to_millis(job.updated_at))
        .bind(&job.name)
        .execute(&self.writer)
        .await
        .map_err(db("update training job"))?;
        Ok(())
    }

    pub async fn set_training_pid(&self, name: &str, pid: Option<i64>) -> Result<(), Error> {
        sqlx::query("UPDATE training_jobs SET pid = ? WHERE name = ?")
            .bind(pid)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db("set training pid"))?;
        Ok(())
    }

    pub async fn request_training_stop(&self, name: &str) -> Result<bool, Error> {
        let done = sqlx::query("UPDATE training_jobs SET stop_requested = 1 WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db("request stop"))?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn get_training_job(&self, name: &str) -> Result<TrainingJobRecord, Error> {
        let row = sqlx::query("SELECT * FROM training_jobs WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get training job"))?;
        row.as_ref().map(job_from).ok_or_else(|| Error::NotFound { kind: "training job", name: name.into() })
    }

    pub async fn training_job_by_artifacts(&self, url: &str) -> Result<Option<TrainingJobRecord>, Error> {
        let row = sqlx::query(
            "SELECT * FROM training_jobs WHERE model_artifacts = ? AND status = 'Completed' ORDER BY created_at DESC LIMIT 1",
        )
        .bind(url)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("training job by artifacts"))?;
        Ok(row.as_ref().map(job_from))
    }

    pub async fn list_training_jobs(&self, status: Option<&str>, limit: i64) -> Result<Vec<TrainingJobRecord>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM training_jobs WHERE (?1 IS NULL OR status = ?1) ORDER BY created_at DESC, name LIMIT ?2",
        )
        .bind(status)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await
        .map_err(db("list training jobs"))?;
        Ok(rows.iter().map(job_from).collect())
    }

    pub async fn page_training_jobs(&self, page: &JobPage<'_>) -> Result<(Vec<TrainingJobRecord>, i64), Error> {
        let filter = "(?1 IS NULL OR status = ?1) AND (?2 IS NULL OR instr(name, ?2) > 0)";
        let direction = if page.descending { "DESC" } else { "ASC" };
        // Invariant: the ORDER BY is made only of these fixed words, never of input.
        let order = match page.sort {
            JobSort::Created => format!("created_at {direction}, name {direction}"),
            JobSort::Name => format!("name {direction}"),
            JobSort::Status => format!("status {direction}, created_at DESC, name"),
        };
        let rows =
            sqlx::query(&format!("SELECT * FROM training_jobs WHERE {filter} ORDER BY {order} LIMIT ?3 OFFSET ?4"))
                .bind(page.status)
                .bind(page.name_contains)
                .bind(page.limit.clamp(1, 1000))
                .bind(page.offset.max(0))
                .fetch_all(&self.pool)
                .await
                .map_err(db("page training jobs"))?;
        let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM training_jobs WHERE {filter}"))
            .bind(page.status)
            .bind(page.name_contains)
            .fetch_one(&self.pool)
            .await
            .map_err(db("count training jobs"))?;
        Ok((rows.iter().map(job_from).collect(), total))
    }

    pub async fn add_training_metrics(&self, job: &str, first_seq: i64, points: &[MetricPoint]) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        for (i, point) in points.iter().enumerate() {
            sqlx::query(
                "INSERT OR REPLACE INTO training_metrics (job, seq, name, value, timestamp) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(job)
            .bind(first_seq + i as i64)
            .bind(&point.metric_name)
            .bind(point.value)
            .bind(to_millis(point.timestamp))
            .execute(&mut *tx)
            .await
            .map_err(db("add metric"))?;
        }
        tx.commit().await.map_err(db("commit metrics"))?;
        Ok(())
    }

    pub async fn training_metrics(&self, job: &str) -> Result<Vec<MetricPoint>, Error> {
        let rows = sqlx::query("SELECT name, value, timestamp FROM training_metrics WHERE job = ? ORDER BY seq")
            .bind(job)
            .fetch_all(&self.pool)
            .await
            .map_err(db("training metrics"))?;
        Ok(rows.iter().map(metric_from).collect())
    }
}
