//! definitions: the PostgreSQL queries.
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PgStore;
use crate::definitions::*;
use crate::{db, from_millis, to_millis, Error};

fn definition_from(kind: &'static str, row: &PgRow) -> Result<DefinitionRecord, Error> {
    let name: String = row.get("name");
    let spec: String = row.get("spec");
    let spec = serde_json::from_str(&spec)
        .map_err(|e| Error::Corrupt { context: format!("{kind} {name}"), message: e.to_string() })?;
    Ok(DefinitionRecord { kind, name, arn: row.get("arn"), spec, created_at: from_millis(row.get("created_at")) })
}

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
            "SELECT * FROM sagemaker_definitions WHERE kind = $1 AND instr(lower(name), lower($2)) > 0 ORDER BY name",
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
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        for (key, value) in tags {
            sqlx::query("INSERT INTO resource_tags (arn, key, value) VALUES ($1, $2, $3) ON CONFLICT DO UPDATE SET value = excluded.value")
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
        let rows = sqlx::query("SELECT key, value FROM resource_tags WHERE arn = $1 ORDER BY key")
            .bind(arn)
            .fetch_all(&self.pool)
            .await
            .map_err(db("list tags"))?;
        Ok(rows.iter().map(|r| (r.get("key"), r.get("value"))).collect())
    }

    pub async fn delete_resource_tags(&self, arn: &str, keys: &[String]) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        for key in keys {
            sqlx::query("DELETE FROM resource_tags WHERE arn = $1 AND key = $2")
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

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use crate::{DefinitionRecord, Error, Store};

    #[tokio::test]
    async fn definitions_are_unique_per_kind_and_take_their_tags_when_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
        let model = DefinitionRecord {
            kind: "model",
            name: "m1".into(),
            arn: "arn:aws:sagemaker:us-east-1:000000000000:model/m1".into(),
            spec: json!({"ModelName": "m1"}),
            created_at: Utc::now(),
        };
        store.create_definition(&model).await.unwrap();
        assert!(matches!(store.create_definition(&model).await, Err(Error::AlreadyExists { .. })));
        let config = DefinitionRecord { kind: "endpoint-config", ..model.clone() };
        store.create_definition(&config).await.unwrap();
        assert_eq!(store.get_definition("model", "m1").await.unwrap().spec, json!({"ModelName": "m1"}));
        assert_eq!(store.list_definitions("model", "M").await.unwrap().len(), 1);
        assert!(store.list_definitions("model", "x").await.unwrap().is_empty());
        store
            .put_resource_tags(&model.arn, &[("team".into(), "a".into()), ("env".into(), "dev".into())])
            .await
            .unwrap();
        store.put_resource_tags(&model.arn, &[("team".into(), "b".into())]).await.unwrap();
        let tags = store.list_resource_tags(&model.arn).await.unwrap();
        assert_eq!(tags, vec![("env".into(), "dev".into()), ("team".into(), "b".into())]);
        store.delete_definition("model", "m1").await.unwrap();
        assert!(matches!(store.get_definition("model", "m1").await, Err(Error::NotFound { .. })));
        assert!(matches!(store.delete_definition("model", "m1").await, Err(Error::NotFound { .. })));
        // The configuration shares the ARN in this test; its tags went with the model.
        assert!(store.list_resource_tags(&model.arn).await.unwrap().is_empty());
    }
}
