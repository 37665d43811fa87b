//! sources: the SQLite queries.
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::SqliteStore;
use crate::sources::*;
use crate::{db, to_millis, Error};

impl SqliteStore {
    pub async fn create_source(&self, source: &SourceRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO sources (name, url, branch, poll_seconds, webhook_secret, head, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&source.name)
        .bind(&source.url)
        .bind(&source.branch)
        .bind(source.poll_seconds)
        .bind(&source.webhook_secret)
        .bind(&source.head)
        .bind(to_millis(source.created_at))
        .bind(to_millis(source.updated_at))
        .execute(&self.writer)
        .await
        .map_err(Error::on_insert("source", &source.name))?;
        Ok(())
    }

    pub async fn update_source(&self, source: &SourceRecord, new_head: Option<&str>) -> Result<(), Error> {
        let updated = sqlx::query(
            "UPDATE sources SET url = ?, branch = ?, poll_seconds = ?, webhook_secret = ?, head = COALESCE(?, head),
             updated_at = ? WHERE name = ?",
        )
        .bind(&source.url)
        .bind(&source.branch)
        .bind(source.poll_seconds)
        .bind(&source.webhook_secret)
        .bind(new_head)
        .bind(to_millis(source.updated_at))
        .bind(&source.name)
        .execute(&self.writer)
        .await
        .map_err(db("update source"))?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "source", name: source.name.clone() });
        }
        Ok(())
    }

    pub async fn get_source(&self, name: &str) -> Result<SourceRecord, Error> {
        let row = sqlx::query("SELECT * FROM sources WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get source"))?;
        row.as_ref().map(source_from).ok_or_else(|| Error::NotFound { kind: "source", name: name.into() })
    }

    pub async fn list_sources(&self) -> Result<Vec<SourceRecord>, Error> {
        let rows = sqlx::query("SELECT * FROM sources ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list sources"))?;
        Ok(rows.iter().map(source_from).collect())
    }

    pub async fn delete_source(&self, name: &str) -> Result<(), Error> {
        let done = sqlx::query("DELETE FROM sources WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db("delete source"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "source", name: name.into() });
        }
        Ok(())
    }

    pub async fn record_push(
        &self,
        source: &str,
        before: Option<&str>,
        after: &str,
        detail: &Value,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let moved = sqlx::query("UPDATE sources SET head = ?, updated_at = ? WHERE name = ? AND head IS ?")
            .bind(after)
            .bind(to_millis(now))
            .bind(source)
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(db("move source head"))?;
        if moved.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO source_pushes (source, after, before, detail, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(source)
            .bind(after)
            .bind(before)
            .bind(detail.to_string())
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await
            .map_err(db("record push"))?;
        tx.commit().await.map_err(db("commit push"))?;
        Ok(true)
    }

    pub async fn unannounced_pushes(&self) -> Result<Vec<PushRecord>, Error> {
        let rows = sqlx::query(
            "SELECT id, source, after, detail, created_at FROM source_pushes WHERE emitted = 0 ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("unannounced pushes"))?;
        Ok(rows.iter().map(push_from).collect())
    }

    pub async fn mark_push_announced(&self, id: i64) -> Result<(), Error> {
        sqlx::query("UPDATE source_pushes SET emitted = 1 WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db("mark push"))?;
        Ok(())
    }

    pub async fn forget_delivery(&self, delivery: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM webhook_deliveries WHERE delivery = ?")
            .bind(delivery)
            .execute(&self.writer)
            .await
            .map_err(db("forget delivery"))?;
        Ok(())
    }

    pub async fn record_delivery(&self, delivery: &str, now: DateTime<Utc>) -> Result<bool, Error> {
        let done = sqlx::query("INSERT OR IGNORE INTO webhook_deliveries (delivery, received_at) VALUES (?, ?)")
            .bind(delivery)
            .bind(to_millis(now))
            .execute(&self.writer)
            .await
            .map_err(db("record delivery"))?;
        Ok(done.rows_affected() > 0)
    }
}
