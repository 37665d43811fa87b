//! definitions: the PostgreSQL queries.
use std::collections::BTreeMap;

use sqlx::Row;

use super::PgStore;
use crate::definitions::*;
use crate::{db, to_millis, Error};

impl PgStore {
    pub async fn create_definition(&self, record: &DefinitionRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO sagemaker_definitions (kind, name, arn, spec, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(record.kind)
        .bind(&record.name)
        .bind(&record.arn)
        .bind(record.spec.to_string())
        .bind(to_millis(record.created_at))
        .execute(&self.pool)
        .await
        .map_err(Error::on_insert(record.kind, &record.name))?;
        Ok(())
    }

    pub async fn get_definition(&self, kind: &'static str, name: &str) -> Result<DefinitionRecord, Error> {
        let row = sqlx::query("SELECT * FROM sagemaker_definitions WHERE kind = $1 AND name = $2")
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
            // `strpos`, not LIKE: the caller's text is literal (no % or _ wildcards). Names sort
            // bytewise, as on SQLite, whatever the database's collation.
            "SELECT * FROM sagemaker_definitions WHERE kind = $1 AND strpos(lower(name), lower($2)) > 0
             ORDER BY name COLLATE \"C\"",
        )
        .bind(kind)
        .bind(name_contains)
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("list {kind}")))?;
        rows.iter().map(|row| definition_from(kind, row)).collect()
    }

    pub async fn delete_definition(&self, kind: &'static str, name: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        let arn: Option<String> =
            sqlx::query_scalar("DELETE FROM sagemaker_definitions WHERE kind = $1 AND name = $2 RETURNING arn")
                .bind(kind)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(format!("delete {kind}")))?;
        let Some(arn) = arn else { return Err(Error::NotFound { kind, name: name.into() }) };
        sqlx::query("DELETE FROM resource_tags WHERE arn = $1")
            .bind(arn)
            .execute(&mut *tx)
            .await
            .map_err(db("delete tags"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn put_resource_tags(&self, arn: &str, tags: &[(String, String)]) -> Result<(), Error> {
        // One statement, so all or nothing. A key given twice keeps its last value, as the
        // upserts one by one do; keys in order, so concurrent puts lock rows in one order.
        let tags: BTreeMap<&str, &str> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (keys, values): (Vec<&str>, Vec<&str>) = tags.into_iter().unzip();
        sqlx::query(
            "INSERT INTO resource_tags (arn, key, value) SELECT $1, k, v FROM unnest($2::TEXT[], $3::TEXT[]) AS t(k, v)
             ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
        )
        .bind(arn)
        .bind(keys)
        .bind(values)
        .execute(&self.pool)
        .await
        .map_err(db("put tags"))?;
        Ok(())
    }

    pub async fn list_resource_tags(&self, arn: &str) -> Result<Vec<(String, String)>, Error> {
        let rows = sqlx::query("SELECT key, value FROM resource_tags WHERE arn = $1 ORDER BY key COLLATE \"C\"")
            .bind(arn)
            .fetch_all(&self.pool)
            .await
            .map_err(db("list tags"))?;
        Ok(rows.iter().map(|r| (r.get("key"), r.get("value"))).collect())
    }

    pub async fn delete_resource_tags(&self, arn: &str, keys: &[String]) -> Result<(), Error> {
        sqlx::query("DELETE FROM resource_tags WHERE arn = $1 AND key = ANY($2)")
            .bind(arn)
            .bind(keys)
            .execute(&self.pool)
            .await
            .map_err(db("delete tags"))?;
        Ok(())
    }
}
