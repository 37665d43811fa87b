//! audit: the PostgreSQL queries.
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::PgStore;
use crate::audit::*;
use crate::{db, to_millis, Error};

impl PgStore {
    pub async fn append_audit(&self, records: &[NewAuditRecord<'_>]) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin audit"))?;
        for record in records {
            sqlx::query(
                "INSERT OR IGNORE INTO audit_records (event_id, time, principal_arn, event_name, denied, record)
                 VALUES ($1, $2, $3, $4, $5, $6)",
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
        let filter = "($11 IS NULL OR principal_arn = $21) AND ($32 = 0 OR denied = 1)";
        let rows = match query.after {
            Some(after) => {
                let sql = format!(
                    "SELECT seq, record FROM audit_records WHERE seq > $13 AND {filter} ORDER BY seq LIMIT $24"
                );
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
                    "SELECT * FROM (SELECT seq, record FROM audit_records WHERE {filter} ORDER BY seq DESC LIMIT $13)
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
        Ok(rows.iter().map(|r| AuditRow { seq: r.get(0), record: r.get(1) }).collect())
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
