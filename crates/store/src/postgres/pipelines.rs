//! pipelines: the PostgreSQL queries.
use chrono::{DateTime, Utc};

use super::jobs::without_nul;
use super::PgStore;
use crate::pipelines::*;
use crate::{db, to_millis, Error};

/// Serialises a pipeline's retraining notes (and the closing of its windows) across
/// replicas. Invariant: a note takes its id and commits while holding this lock, so a
/// pipeline's ids grow in commit order, as with SQLite's one writer: a window read up to
/// `last` has seen every note with a lower id, and `close_retraining(last)` takes exactly
/// those.
async fn lock_retraining(tx: &mut sqlx::PgConnection, pipeline: &str) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('retraining:' || $1, 0))")
        .bind(pipeline)
        .execute(tx)
        .await
        .map_err(db("lock retraining"))?;
    Ok(())
}

impl PgStore {
    pub async fn put_pipeline(&self, name: &str, spec: &str, now: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO pipelines (name, spec, created_at, applied_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, applied_at = excluded.applied_at",
        )
        .bind(name)
        .bind(spec)
        .bind(to_millis(now))
        .bind(to_millis(now))
        .execute(&self.pool)
        .await
        .map_err(db("put pipeline"))?;
        Ok(())
    }

    pub async fn get_pipeline(&self, name: &str) -> Result<PipelineRecord, Error> {
        let row = sqlx::query("SELECT * FROM pipelines WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get pipeline"))?;
        row.as_ref().map(pipeline_from).ok_or_else(|| Error::NotFound { kind: "pipeline", name: name.into() })
    }

    pub async fn list_pipelines(&self) -> Result<Vec<PipelineRecord>, Error> {
        let rows = sqlx::query("SELECT * FROM pipelines ORDER BY name COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list pipelines"))?;
        Ok(rows.iter().map(pipeline_from).collect())
    }

    pub async fn delete_pipeline(&self, name: &str) -> Result<(), Error> {
        let deleted = sqlx::query("DELETE FROM pipelines WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&run.id)
        .bind(&run.pipeline)
        .bind(run.trigger.to_string())
        .bind(&run.status)
        .bind(without_nul(run.reason.as_deref()))
        .bind(run.steps.to_string())
        .bind(to_millis(run.created_at))
        .bind(to_millis(run.updated_at))
        .execute(&self.pool)
        .await
        .map_err(Error::on_insert("pipeline run", &run.id))?;
        Ok(())
    }

    pub async fn update_run(&self, run: &RunRecord) -> Result<(), Error> {
        sqlx::query("UPDATE pipeline_runs SET status = $1, reason = $2, steps = $3, updated_at = $4 WHERE id = $5")
            .bind(&run.status)
            .bind(without_nul(run.reason.as_deref()))
            .bind(run.steps.to_string())
            .bind(to_millis(run.updated_at))
            .bind(&run.id)
            .execute(&self.pool)
            .await
            .map_err(db("update pipeline run"))?;
        Ok(())
    }

    pub async fn get_run(&self, id: &str) -> Result<RunRecord, Error> {
        let row = sqlx::query("SELECT * FROM pipeline_runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get pipeline run"))?;
        row.as_ref().map(run_from).ok_or_else(|| Error::NotFound { kind: "pipeline run", name: id.into() })
    }

    pub async fn list_runs(&self, pipeline: &str, limit: i64) -> Result<Vec<RunRecord>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM pipeline_runs WHERE pipeline = $1 ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $2",
        )
        .bind(pipeline)
        // A negative limit is no limit (as SQLite's LIMIT -1); PostgreSQL's is LIMIT NULL.
        .bind((limit >= 0).then_some(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db("list pipeline runs"))?;
        Ok(rows.iter().map(run_from).collect())
    }

    pub async fn open_runs(&self) -> Result<Vec<RunRecord>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM pipeline_runs WHERE status IN ('Running', 'WaitingForApproval') ORDER BY created_at, id COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("list open pipeline runs"))?;
        Ok(rows.iter().map(run_from).collect())
    }

    pub async fn note_retraining(&self, pipeline: &str, object: &str, now: DateTime<Utc>) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin note retraining"))?;
        lock_retraining(&mut tx, pipeline).await?;
        let noted = sqlx::query(
            "INSERT INTO pipeline_retraining_objects (pipeline, object, noted_at) VALUES ($1, $2, $3)
             ON CONFLICT (pipeline, object) DO NOTHING",
        )
        .bind(pipeline)
        .bind(object)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db("note retraining"))?;
        tx.commit().await.map_err(db("commit note retraining"))?;
        Ok(noted.rows_affected() == 1)
    }

    pub async fn retraining_windows(&self) -> Result<Vec<RetrainingWindow>, Error> {
        let rows = sqlx::query(
            "SELECT pipeline, MIN(noted_at) AS opened, COUNT(*) AS objects, MIN(id) AS first, MAX(id) AS last
             FROM pipeline_retraining_objects WHERE run IS NULL GROUP BY pipeline ORDER BY opened, pipeline COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("list retraining windows"))?;
        Ok(rows.iter().map(window_from).collect())
    }

    pub async fn close_retraining(&self, pipeline: &str, run: &str, last: i64) -> Result<u64, Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin close retraining"))?;
        lock_retraining(&mut tx, pipeline).await?;
        let taken = sqlx::query(
            "UPDATE pipeline_retraining_objects SET run = $1 WHERE pipeline = $2 AND run IS NULL AND id <= $3",
        )
        .bind(run)
        .bind(pipeline)
        .bind(last)
        .execute(&mut *tx)
        .await
        .map_err(db("close retraining"))?;
        tx.commit().await.map_err(db("commit close retraining"))?;
        Ok(taken.rows_affected())
    }

    pub async fn drop_retraining(&self, pipeline: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM pipeline_retraining_objects WHERE pipeline = $1 AND run IS NULL")
            .bind(pipeline)
            .execute(&self.pool)
            .await
            .map_err(db("drop retraining"))?;
        Ok(())
    }
}
