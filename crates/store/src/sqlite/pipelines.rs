//! pipelines: the SQLite queries.
use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::pipelines::*;
use crate::{db, to_millis, Error};

impl SqliteStore {
    pub async fn put_pipeline(&self, name: &str, spec: &str, now: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO pipelines (name, spec, created_at, applied_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, applied_at = excluded.applied_at",
        )
        .bind(name)
        .bind(spec)
        .bind(to_millis(now))
        .bind(to_millis(now))
        .execute(&self.writer)
        .await
        .map_err(db("put pipeline"))?;
        Ok(())
    }

    pub async fn get_pipeline(&self, name: &str) -> Result<PipelineRecord, Error> {
        let row = sqlx::query("SELECT * FROM pipelines WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get pipeline"))?;
        row.as_ref().map(pipeline_from).ok_or_else(|| Error::NotFound { kind: "pipeline", name: name.into() })
    }

    pub async fn list_pipelines(&self) -> Result<Vec<PipelineRecord>, Error> {
        let rows = sqlx::query("SELECT * FROM pipelines ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list pipelines"))?;
        Ok(rows.iter().map(pipeline_from).collect())
    }

    pub async fn delete_pipeline(&self, name: &str) -> Result<(), Error> {
        let deleted = sqlx::query("DELETE FROM pipelines WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db("delete pipeline"))?;
        if deleted.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "pipeline", name: name.into() });
        }
        Ok(())
    }

    pub async fn create_run(&self, run: &RunRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO pipeline_runs (id, pipeline, trigger, status, reason, steps, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&run.id)
        .bind(&run.pipeline)
        .bind(run.trigger.to_string())
        .bind(&run.status)
        .bind(&run.reason)
        .bind(run.steps.to_string())
        .bind(to_millis(run.created_at))
        .bind(to_millis(run.updated_at))
        .execute(&self.writer)
        .await
        .map_err(Error::on_insert("pipeline run", &run.id))?;
        Ok(())
    }

    pub async fn update_run(&self, run: &RunRecord) -> Result<(), Error> {
        sqlx::query("UPDATE pipeline_runs SET status = ?, reason = ?, steps = ?, updated_at = ? WHERE id = ?")
            .bind(&run.status)
            .bind(&run.reason)
            .bind(run.steps.to_string())
            .bind(to_millis(run.updated_at))
            .bind(&run.id)
            .execute(&self.writer)
            .await
            .map_err(db("update pipeline run"))?;
        Ok(())
    }

    pub async fn get_run(&self, id: &str) -> Result<RunRecord, Error> {
        let row = sqlx::query("SELECT * FROM pipeline_runs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get pipeline run"))?;
        row.as_ref().map(run_from).ok_or_else(|| Error::NotFound { kind: "pipeline run", name: id.into() })
    }

    pub async fn list_runs(&self, pipeline: &str, limit: i64) -> Result<Vec<RunRecord>, Error> {
        let rows =
            sqlx::query("SELECT * FROM pipeline_runs WHERE pipeline = ? ORDER BY created_at DESC, id DESC LIMIT ?")
                .bind(pipeline)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db("list pipeline runs"))?;
        Ok(rows.iter().map(run_from).collect())
    }

    pub async fn open_runs(&self) -> Result<Vec<RunRecord>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM pipeline_runs WHERE status IN ('Running', 'WaitingForApproval') ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("list open pipeline runs"))?;
        Ok(rows.iter().map(run_from).collect())
    }

    pub async fn note_retraining(&self, pipeline: &str, object: &str, now: DateTime<Utc>) -> Result<bool, Error> {
        let noted = sqlx::query(
            "INSERT INTO pipeline_retraining_objects (pipeline, object, noted_at) VALUES (?, ?, ?)
             ON CONFLICT (pipeline, object) DO NOTHING",
        )
        .bind(pipeline)
        .bind(object)
        .bind(to_millis(now))
        .execute(&self.writer)
        .await
        .map_err(db("note retraining"))?;
        Ok(noted.rows_affected() == 1)
    }

    pub async fn retraining_windows(&self) -> Result<Vec<RetrainingWindow>, Error> {
        let rows = sqlx::query(
            "SELECT pipeline, MIN(noted_at) AS opened, COUNT(*) AS objects, MIN(id) AS first, MAX(id) AS last
             FROM pipeline_retraining_objects WHERE run IS NULL GROUP BY pipeline ORDER BY opened",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("list retraining windows"))?;
        Ok(rows.iter().map(window_from).collect())
    }

    pub async fn close_retraining(&self, pipeline: &str, run: &str, last: i64) -> Result<u64, Error> {
        let taken = sqlx::query(
            "UPDATE pipeline_retraining_objects SET run = ? WHERE pipeline = ? AND run IS NULL AND id <= ?",
        )
        .bind(run)
        .bind(pipeline)
        .bind(last)
        .execute(&self.writer)
        .await
        .map_err(db("close retraining"))?;
        Ok(taken.rows_affected())
    }

    pub async fn drop_retraining(&self, pipeline: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM pipeline_retraining_objects WHERE pipeline = ? AND run IS NULL")
            .bind(pipeline)
            .execute(&self.writer)
            .await
            .map_err(db("drop retraining"))?;
        Ok(())
    }
}
