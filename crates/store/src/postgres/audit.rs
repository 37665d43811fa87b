//! audit: the PostgreSQL queries.
//!
//! Appends take a transaction-scoped advisory lock, so records commit in `seq` order and a
//! reader following the trail (`after`) never skips one that committed late.
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::PgStore;
use crate::audit::*;
use crate::{db, to_millis, Error};

/// The advisory lock key that orders audit appends (`seq`) by commit.
const AUDIT_APPEND_LOCK: &str = "trainyard:audit:append";

impl PgStore {
    pub async fn append_audit(&self, records: &[NewAuditRecord<'_>]) -> Result<(), Error> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db("begin audit"))?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(AUDIT_APPEND_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db("lock audit appends"))?;
        for record in records {
            sqlx::query(
                "INSERT INTO audit_records (event_id, time, principal_arn, event_name, denied, record)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(record.event_id)
            .bind(to_millis(record.time))
            .bind(record.principal_arn)
            .bind(record.event_name)
            .bind(record.denied)
            .bind(record.record)
            .execute(&mut *tx)
            .await
            .map_err(db("append audit"))?;
        }
        tx.commit().await.map_err(db("commit audit"))
    }

    pub async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, Error> {
        let limit = i64::from(query.limit.clamp(1, 10_000));
        let filter = "($1::TEXT IS NULL OR principal_arn = $1) AND (NOT $2 OR denied)";
        let rows = match query.after {
            Some(after) => {
                let sql =
                    format!("SELECT seq, record FROM audit_records WHERE seq > $3 AND {filter} ORDER BY seq LIMIT $4");
                sqlx::query(&sql)
                    .bind(&query.principal_arn)
                    .bind(query.denied_only)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                let sql = format!(
                    "SELECT seq, record FROM
                         (SELECT seq, record FROM audit_records WHERE {filter} ORDER BY seq DESC LIMIT $3) AS recent
                     ORDER BY seq"
                );
                sqlx::query(&sql)
                    .bind(&query.principal_arn)
                    .bind(query.denied_only)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(db("list audit"))?;
        Ok(rows.iter().map(|r| AuditRow { seq: r.get("seq"), record: r.get("record") }).collect())
    }

    pub async fn delete_audit_before(&self, before: DateTime<Utc>) -> Result<u64, Error> {
        let done = sqlx::query("DELETE FROM audit_records WHERE time < $1")
            .bind(to_millis(before))
            .execute(&self.pool)
            .await
            .map_err(db("expire audit"))?;
        Ok(done.rows_affected())
    }
}
