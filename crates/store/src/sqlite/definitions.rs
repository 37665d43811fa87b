//! definitions: the SQLite queries.
use sqlx::Row;

use super::SqliteStore;
use crate::definitions::*;
use crate::{db, to_millis, Error};

impl SqliteStore {
    pub async fn create_definition(&self, record: &DefinitionRecord) -> Result<(), Error> {
        sqlx::query("INSERT INTO sagemaker_definitions (kind, name, arn, spec, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(record.kind)
            .bind(&record.name)
            .bind(&record.arn)
            .bind(record.spec.to_string())
            .bind(to_millis(record.created_at))
            .execute(&self.writer)
            .await
            .map_err(Error::on_insert(record.kind, &record.name))?;
        Ok(())
    }

    pub async fn get_definition(&self, kind: &'static str, name: &str) -> Result<DefinitionRecord, Error> {
        let row = sqlx::query("SELECT * FROM sagemaker_definitions WHERE kind = ? AND name = ?")
            .bind(kind)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db(format!("get {kind}")))?;
        match row {
            Some(row) => definition_from(kind, &row),
            None => Err(Error::NotFound { kind, name: name.into() }),
        }
    }

    pub async fn list_definitions(
        &self,
        kind: &'static str,
        name_contains: &str,
    ) -> Result<Vec<DefinitionRecord>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM sagemaker_definitions WHERE kind = ? AND instr(lower(name), lower(?)) > 0 ORDER BY name",
        )
        .bind(kind)
        .bind(name_contains)
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("list {kind}")))?;
        rows.iter().map(|row| definition_from(kind, row)).collect()
    }

    pub async fn delete_definition(&self, kind: &'static str, name: &str) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let arn: Option<String> =
            sqlx::query_scalar("DELETE FROM sagemaker_definitions WHERE kind = ? AND name = ? RETURNING arn")
                .bind(kind)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(format!("delete {kind}")))?;
        let Some(arn) = arn else { return Err(Error::NotFound { kind, name: name.into() }) };
        sqlx::query("DELETE FROM resource_tags WHERE arn = ?")
            .bind(arn)
            .execute(&mut *tx)
            .await
            .map_err(db("delete tags"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn put_resource_tags(&self, arn: &str, tags: &[(String, String)]) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        for (key, value) in tags {
            sqlx::query("INSERT INTO resource_tags (arn, key, value) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value")
                .bind(arn)
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await
                .map_err(db("put tag"))?;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn list_resource_tags(&self, arn: &str) -> Result<Vec<(String, String)>, Error> {
        let rows = sqlx::query("SELECT key, value FROM resource_tags WHERE arn = ? ORDER BY key")
            .bind(arn)
            .fetch_all(&self.pool)
            .await
            .map_err(db("list tags"))?;
        Ok(rows.iter().map(|r| (r.get("key"), r.get("value"))).collect())
    }

    pub async fn delete_resource_tags(&self, arn: &str, keys: &[String]) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        for key in keys {
            sqlx::query("DELETE FROM resource_tags WHERE arn = ? AND key = ?")
                .bind(arn)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db("delete tag"))?;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }
}
