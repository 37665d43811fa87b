//! objects: the PostgreSQL queries.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use super::PgStore;
use crate::objects::*;
use crate::{db, to_millis, Error};

impl PgStore {
    pub async fn create_bucket(&self, name: &str, now: DateTime<Utc>) -> Result<Bucket, Error> {
        sqlx::query("INSERT INTO buckets (name, created_at) VALUES ($1, $2)")
            .bind(name)
            .bind(to_millis(now))
            .execute(&self.pool)
            .await
            .map_err(Error::on_insert("bucket", name))?;
        Ok(Bucket { name: name.into(), creation_date: now })
    }

    pub async fn list_buckets(&self) -> Result<Vec<Bucket>, Error> {
        let rows = sqlx::query("SELECT name, created_at FROM buckets ORDER BY name COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list buckets"))?;
        Ok(rows.iter().map(bucket_from).collect())
    }

    pub async fn get_bucket(&self, name: &str) -> Result<Bucket, Error> {
        let row = sqlx::query("SELECT name, created_at FROM buckets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get bucket"))?;
        row.as_ref().map(bucket_from).ok_or_else(|| Error::NotFound { kind: "bucket", name: name.into() })
    }

    pub async fn delete_bucket(&self, name: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // Lock the bucket first: a concurrent put_object's foreign-key check (KEY SHARE)
        // waits for this transaction, then fails with NotFound, so no object is stored in a
        // bucket counted empty.
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM buckets WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("lock bucket"))?;
        if exists.is_none() {
            return Err(Error::NotFound { kind: "bucket", name: name.into() });
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM objects WHERE bucket = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("count objects"))?;
        if count > 0 {
            return Err(Error::InUse {
                kind: "bucket",
                name: name.into(),
                reason: format!("it holds {count} objects"),
            });
        }
        sqlx::query("DELETE FROM buckets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("delete bucket"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn put_object(&self, object: &ObjectRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO objects (bucket, key, size, etag, content_type, last_modified, metadata, tags)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (bucket, key) DO UPDATE SET size = excluded.size, etag = excluded.etag,
                 content_type = excluded.content_type, last_modified = excluded.last_modified,
                 metadata = excluded.metadata, tags = excluded.tags",
        )
        .bind(&object.bucket)
        .bind(&object.key)
        .bind(object.size)
        .bind(&object.etag)
        .bind(&object.content_type)
        .bind(to_millis(object.last_modified))
        .bind(serde_json::to_string(&object.metadata).unwrap_or_else(|_| "{}".into()))
        .bind(serde_json::to_string(&object.tags).unwrap_or_else(|_| "{}".into()))
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                Error::NotFound { kind: "bucket", name: object.bucket.clone() }
            }
            _ => Error::Database { context: "put object".into(), source: e },
        })?;
        Ok(())
    }

    pub async fn set_object_tags(&self, bucket: &str, key: &str, tags: &BTreeMap<String, String>) -> Result<(), Error> {
        let done = sqlx::query("UPDATE objects SET tags = $1 WHERE bucket = $2 AND key = $3")
            .bind(serde_json::to_string(tags).unwrap_or_else(|_| "{}".into()))
            .bind(bucket)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db("set object tags"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "object", name: format!("s3://{bucket}/{key}") });
        }
        Ok(())
    }

    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<ObjectRecord, Error> {
        let row = sqlx::query("SELECT * FROM objects WHERE bucket = $1 AND key = $2")
            .bind(bucket)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get object"))?;
        row.as_ref()
            .map(object_from)
            .ok_or_else(|| Error::NotFound { kind: "object", name: format!("s3://{bucket}/{key}") })
    }

    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, Error> {
        let row = sqlx::query("DELETE FROM objects WHERE bucket = $1 AND key = $2 RETURNING *")
            .bind(bucket)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("delete object"))?;
        Ok(row.as_ref().map(object_from))
    }

    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ObjectRecord>, Error> {
        let mut query: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM objects WHERE bucket = ");
        query.push_bind(bucket);
        if !prefix.is_empty() {
            // Invariant: keys >= prefix that start with it, i.e. a range scan on the primary
            // key (bytewise, COLLATE "C") rather than LIKE (which would treat % and _
            // specially).
            query.push(" AND key >= ").push_bind(prefix.to_string());
            query.push(" AND starts_with(key, ").push_bind(prefix.to_string()).push(")");
        }
        if let Some(after) = start_after {
            query.push(" AND key > ").push_bind(after.to_string());
        }
        query.push(" ORDER BY key LIMIT ").push_bind(limit.clamp(1, 100_000));
        let rows = query.build().fetch_all(&self.pool).await.map_err(db("list objects"))?;
        Ok(rows.iter().map(object_from).collect())
    }
}
