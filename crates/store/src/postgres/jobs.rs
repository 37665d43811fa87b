//! jobs: the PostgreSQL queries.

use super::PgStore;
use crate::jobs::*;
use crate::{db, to_millis, Error};

/// `text` without NUL characters, which PostgreSQL's TEXT cannot hold (SQLite's can): a
/// process's output ends up in failure reasons and exit messages, and one NUL must not
/// fail the whole write.
pub(super) fn without_nul(text: Option<&str>) -> Option<String> {
    text.map(|t| t.replace('\0', ""))
}

impl PgStore {
    pub async fn create_training_job(&self, job: &TrainingJobRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO training_jobs (name, arn, request, status, secondary_status, transitions, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&job.name)
        .bind(&job.arn)
        .bind(job.request.to_string())
        .bind(&job.status)
        .bind(&job.secondary_status)
        .bind(job.transitions.to_string())
        .bind(to_millis(job.created_at))
        .bind(to_millis(job.updated_at))
        .execute(&self.pool)
        .await
        .map_err(Error::on_insert("training job", &job.name))?;
        Ok(())
    }

    pub async fn update_training_job(&self, job: &TrainingJobRecord) -> Result<(), Error> {
        sqlx::query(
            "UPDATE training_jobs SET status = $1, secondary_status = $2, transitions = $3, failure_reason = $4,
                 model_artifacts = $5, final_metrics = $6, dataset = $7, pid = CASE WHEN $8 THEN NULL ELSE pid END, attempts = $9, training_start = $10,
                 training_end = $11, updated_at = $12
             WHERE name = $13",
        )
        .bind(&job.status)
        .bind(&job.secondary_status)
        .bind(job.transitions.to_string())
        .bind(without_nul(job.failure_reason.as_deref()))
        .bind(&job.model_artifacts)
        .bind(job.final_metrics.to_string())
        .bind(job.dataset.to_string())
        .bind(job.training_end.is_some())
        .bind(job.attempts)
        .bind(job.training_start.map(to_millis))
        .bind(job.training_end.map(to_millis))
        .bind(to_millis(job.updated_at))
        .bind(&job.name)
        .execute(&self.pool)
        .await
        .map_err(db("update training job"))?;
        Ok(())
    }

    pub async fn set_training_pid(&self, name: &str, pid: Option<i64>) -> Result<(), Error> {
        sqlx::query("UPDATE training_jobs SET pid = $1 WHERE name = $2")
            .bind(pid)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("set training pid"))?;
        Ok(())
    }

    pub async fn request_training_stop(&self, name: &str) -> Result<bool, Error> {
        let done = sqlx::query("UPDATE training_jobs SET stop_requested = 1 WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("request stop"))?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn get_training_job(&self, name: &str) -> Result<TrainingJobRecord, Error> {
        let row = sqlx::query("SELECT * FROM training_jobs WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get training job"))?;
        row.as_ref().map(job_from).ok_or_else(|| Error::NotFound { kind: "training job", name: name.into() })
    }

    pub async fn training_job_by_artifacts(&self, url: &str) -> Result<Option<TrainingJobRecord>, Error> {
        let row = sqlx::query(
            "SELECT * FROM training_jobs WHERE model_artifacts = $1 AND status = 'Completed' ORDER BY created_at DESC LIMIT 1",
        )
        .bind(url)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("training job by artifacts"))?;
        Ok(row.as_ref().map(job_from))
    }

    pub async fn list_training_jobs(&self, status: Option<&str>, limit: i64) -> Result<Vec<TrainingJobRecord>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM training_jobs WHERE ($1::text IS NULL OR status = $1)
             ORDER BY created_at DESC, name COLLATE \"C\" LIMIT $2",
        )
        .bind(status)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await
        .map_err(db("list training jobs"))?;
        Ok(rows.iter().map(job_from).collect())
    }

    pub async fn page_training_jobs(&self, page: &JobPage<'_>) -> Result<(Vec<TrainingJobRecord>, i64), Error> {
        // A part of the name is matched literally and case-sensitively (as SQLite's `instr`).
        let filter = "($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR strpos(name, $2) > 0)";
        let direction = if page.descending { "DESC" } else { "ASC" };
        // Invariant: the ORDER BY is made only of these fixed words, never of input.
        let order = match page.sort {
            // Names and statuses sort bytewise (`COLLATE "C"`), as SQLite's BINARY does.
            JobSort::Created => format!("created_at {direction}, name COLLATE \"C\" {direction}"),
            JobSort::Name => format!("name COLLATE \"C\" {direction}"),
            JobSort::Status => format!("status COLLATE \"C\" {direction}, created_at DESC, name COLLATE \"C\""),
        };
        let rows =
            sqlx::query(&format!("SELECT * FROM training_jobs WHERE {filter} ORDER BY {order} LIMIT $3 OFFSET $4"))
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
        if points.is_empty() {
            return Ok(());
        }
        // One statement for the batch: a re-sent point (same seq) replaces the stored one.
        let seqs: Vec<i64> = (0..points.len() as i64).map(|i| first_seq + i).collect();
        let names: Vec<&str> = points.iter().map(|p| p.metric_name.as_str()).collect();
        let values: Vec<f64> = points.iter().map(|p| p.value).collect();
        let times: Vec<i64> = points.iter().map(|p| to_millis(p.timestamp)).collect();
        sqlx::query(
            "INSERT INTO training_metrics (job, seq, name, value, timestamp)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::float8[], $5::bigint[])
             ON CONFLICT (job, seq) DO UPDATE
                 SET name = excluded.name, value = excluded.value, timestamp = excluded.timestamp",
        )
        .bind(job)
        .bind(seqs)
        .bind(names)
        .bind(values)
        .bind(times)
        .execute(&self.pool)
        .await
        .map_err(db("add metric"))?;
        Ok(())
    }

    pub async fn training_metrics(&self, job: &str) -> Result<Vec<MetricPoint>, Error> {
        let rows = sqlx::query("SELECT name, value, timestamp FROM training_metrics WHERE job = $1 ORDER BY seq")
            .bind(job)
            .fetch_all(&self.pool)
            .await
            .map_err(db("training metrics"))?;
        Ok(rows.iter().map(metric_from).collect())
    }
}
