//! events: the SQLite queries.
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::SqliteStore;
use crate::events::{attempt_from, dead_letter_from, delivery_from, event_from, DELIVERY_COLUMNS};
use crate::{
    db, from_millis, to_millis, AfterAttempt, Attempt, Claimed, DeadLetter, Delivery, Error, EventFilter, NewEvent,
    StoredEvent,
};

impl SqliteStore {
    pub async fn put_events(&self, events: &[NewEvent]) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        for new in events {
            let body = serde_json::to_string(&new.event).unwrap_or_default();
            let ingested = to_millis(new.ingested_at);
            sqlx::query(
                "INSERT INTO events (id, bus, source, detail_type, time, ingested_at, replay_name, matched_rules, body)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&new.event.id)
            .bind(&new.bus)
            .bind(&new.event.source)
            .bind(&new.event.detail_type)
            .bind(to_millis(new.event.time))
            .bind(ingested)
            .bind(&new.event.replay_name)
            .bind(serde_json::to_string(&new.matched_rules).unwrap_or_default())
            .bind(&body)
            .execute(&mut *tx)
            .await
            .map_err(Error::on_insert("event", &new.event.id))?;
            for (rule, target) in &new.deliveries {
                sqlx::query(
                    "INSERT OR IGNORE INTO deliveries (event_id, bus, rule, target_id, state, next_attempt_at, created_at, age_from)
                     VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
                )
                .bind(&new.event.id)
                .bind(&new.bus)
                .bind(rule)
                .bind(target)
                .bind(ingested)
                .bind(ingested)
                .bind(ingested)
                .execute(&mut *tx)
                .await
                .map_err(db("insert delivery"))?;
            }
            for archive in &new.archives {
                sqlx::query(
                    "INSERT OR IGNORE INTO archived_events (archive, event_id, time, body) VALUES (?, ?, ?, ?)",
                )
                .bind(archive)
                .bind(&new.event.id)
                .bind(to_millis(new.event.time))
                .bind(&body)
                .execute(&mut *tx)
                .await
                .map_err(db("archive event"))?;
            }
        }
        tx.commit().await.map_err(db("commit events"))?;
        Ok(())
    }

    pub async fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, Error> {
        let mut query: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT seq, bus, ingested_at, matched_rules, body FROM events WHERE 1 = 1");
        if let Some(bus) = &filter.bus {
            query.push(" AND bus = ").push_bind(bus);
        }
        if let Some(source) = &filter.source {
            query.push(" AND source = ").push_bind(source);
        }
        if let Some(detail_type) = &filter.detail_type {
            query.push(" AND detail_type = ").push_bind(detail_type);
        }
        if let Some(since) = filter.since {
            query.push(" AND ingested_at >= ").push_bind(to_millis(since));
        }
        match filter.after_seq {
            Some(after) => query.push(" AND seq > ").push_bind(after).push(" ORDER BY seq ASC"),
            None => query.push(" ORDER BY seq DESC"),
        };
        query.push(" LIMIT ").push_bind(filter.limit.clamp(1, 10_000));
        let rows = query.build().fetch_all(&self.pool).await.map_err(db("list events"))?;
        rows.iter().map(event_from).collect()
    }

    pub async fn get_event(&self, id: &str) -> Result<StoredEvent, Error> {
        let row = sqlx::query("SELECT seq, bus, ingested_at, matched_rules, body FROM events WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get event"))?;
        row.as_ref().map(event_from).transpose()?.ok_or_else(|| Error::NotFound { kind: "event", name: id.into() })
    }

    pub async fn deliveries_of(&self, event_id: &str) -> Result<Vec<(Delivery, Vec<Attempt>)>, Error> {
        let rows =
            sqlx::query(&format!("SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE d.event_id = ? ORDER BY d.id"))
                .bind(event_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db("deliveries of event"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let delivery = delivery_from(row);
            let attempts = sqlx::query("SELECT * FROM attempts WHERE delivery_id = ? ORDER BY id")
                .bind(delivery.id)
                .fetch_all(&self.pool)
                .await
                .map_err(db("attempts"))?
                .iter()
                .map(attempt_from)
                .collect();
            out.push((delivery, attempts));
        }
        Ok(out)
    }

    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
        claimer: &str,
    ) -> Result<Vec<Claimed>, Error> {
        let now = to_millis(now);
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let rows = sqlx::query(
            "UPDATE deliveries SET state = 'in_progress', lease_until = ?1, attempts = attempts + 1, claimed_by = ?4,
                 first_attempt_at = COALESCE(first_attempt_at, ?2), last_attempt_at = ?2
             WHERE id IN (SELECT id FROM deliveries
                          WHERE (state = 'pending' AND next_attempt_at <= ?2)
                             OR (state = 'in_progress' AND lease_until < ?2)
                          ORDER BY next_attempt_at LIMIT ?3)
             RETURNING id, event_id, bus, rule, target_id, state, attempts,
                       next_attempt_at, first_attempt_at, last_attempt_at, age_from",
        )
        .bind(to_millis(lease_until))
        .bind(now)
        .bind(limit)
        .bind(claimer)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("claim deliveries"))?;
        let deliveries: Vec<Delivery> = rows.iter().map(delivery_from).collect();
        let mut bodies = std::collections::HashMap::new();
        if !deliveries.is_empty() {
            let mut select: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT id, body FROM events WHERE id IN (");
            let mut list = select.separated(", ");
            for delivery in &deliveries {
                list.push_bind(&delivery.event_id);
            }
            select.push(")");
            for row in select.build().fetch_all(&mut *tx).await.map_err(db("claimed event bodies"))? {
                bodies.insert(row.get::<String, _>("id"), row.get::<String, _>("body"));
            }
        }
        let mut claimed = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let body = bodies.get(&delivery.event_id).ok_or_else(|| Error::Corrupt {
                context: "claimed delivery".into(),
                message: format!("event {} is missing", delivery.event_id),
            })?;
            let event: Value = serde_json::from_str(body)
                .map_err(|e| Error::Corrupt { context: "event body".into(), message: e.to_string() })?;
            claimed.push(Claimed { delivery, event });
        }
        tx.commit().await.map_err(db("commit claim"))?;
        Ok(claimed)
    }

    pub async fn finish_attempts(&self, finished: &[(Delivery, Attempt, AfterAttempt)]) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        for (delivery, attempt, after) in finished {
            sqlx::query(
                "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, error_code, message)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(delivery.id)
            .bind(attempt.attempt)
            .bind(to_millis(attempt.start_time))
            .bind(attempt.duration_ms)
            .bind(&attempt.outcome)
            .bind(&attempt.error_code)
            .bind(&attempt.message)
            .execute(&mut *tx)
            .await
            .map_err(db("insert attempt"))?;
            let (state, next) = match after {
                AfterAttempt::Succeeded => ("succeeded", None),
                AfterAttempt::RetryAt(at) => ("pending", Some(to_millis(*at))),
                AfterAttempt::Dead { .. } => ("dead", None),
            };
            let moved = sqlx::query(
                "UPDATE deliveries SET state = ?, lease_until = NULL, claimed_by = NULL,
                     next_attempt_at = COALESCE(?, next_attempt_at)
                 WHERE id = ? AND state = 'in_progress' AND attempts = ?",
            )
            .bind(state)
            .bind(next)
            .bind(delivery.id)
            .bind(delivery.attempts)
            .execute(&mut *tx)
            .await
            .map_err(db("update delivery"))?;
            if moved.rows_affected() == 0 {
                continue;
            }
            if let AfterAttempt::Dead { error_code, error_message } = after {
                sqlx::query(
                    "INSERT OR REPLACE INTO dead_letters (delivery_id, error_code, error_message, created_at) VALUES (?, ?, ?, ?)",
                )
                .bind(delivery.id)
                .bind(error_code)
                .bind(error_message)
                .bind(to_millis(attempt.start_time) + attempt.duration_ms)
                .execute(&mut *tx)
                .await
                .map_err(db("insert dead letter"))?;
            }
        }
        tx.commit().await.map_err(db("commit attempts"))?;
        Ok(())
    }

    pub async fn delivery_counts(&self) -> Result<Vec<(String, i64)>, Error> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state ORDER BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(db("count deliveries"))?;
        Ok(rows.iter().map(|r| (r.get("state"), r.get("n"))).collect())
    }

    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let next: Option<i64> =
            sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await
                .map_err(db("next due"))?;
        Ok(next.map(from_millis))
    }

    pub async fn list_dead_letters(&self, limit: i64) -> Result<Vec<DeadLetter>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT l.id AS letter_id, l.error_code, l.error_message, l.created_at AS letter_created, {DELIVERY_COLUMNS}
             FROM dead_letters l JOIN deliveries d ON d.id = l.delivery_id ORDER BY l.id DESC LIMIT ?"
        ))
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await
        .map_err(db("list dead letters"))?;
        Ok(rows.iter().map(dead_letter_from).collect())
    }

    pub async fn redrive(&self, ids: Option<&[i64]>, now: DateTime<Utc>) -> Result<u64, Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let mut select: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT id, delivery_id FROM dead_letters");
        if let Some(ids) = ids {
            select.push(" WHERE id IN (");
            let mut list = select.separated(", ");
            for id in ids {
                list.push_bind(id);
            }
            select.push(")");
        }
        let rows = select.build().fetch_all(&mut *tx).await.map_err(db("select dead letters"))?;
        if let Some(ids) = ids {
            if let Some(missing) = ids.iter().find(|id| !rows.iter().any(|r| r.get::<i64, _>("id") == **id)) {
                return Err(Error::NotFound { kind: "dead letter", name: missing.to_string() });
            }
        }
        for row in &rows {
            let delivery: i64 = row.get("delivery_id");
            sqlx::query(
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?1, age_from = ?1 WHERE id = ?2",
            )
            .bind(to_millis(now))
            .bind(delivery)
            .execute(&mut *tx)
            .await
            .map_err(db("redrive delivery"))?;
            sqlx::query("DELETE FROM dead_letters WHERE id = ?")
                .bind(row.get::<i64, _>("id"))
                .execute(&mut *tx)
                .await
                .map_err(db("delete dead letter"))?;
        }
        tx.commit().await.map_err(db("commit redrive"))?;
        Ok(rows.len() as u64)
    }

    pub async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let cutoff = to_millis(before);
        let doomed = "SELECT id FROM events e WHERE ingested_at < ?1 AND NOT EXISTS
             (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.state IN ('pending', 'in_progress', 'dead'))";
        sqlx::query(&format!("DELETE FROM deliveries WHERE event_id IN ({doomed})"))
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(db("prune deliveries"))?;
        let done = sqlx::query(&format!("DELETE FROM events WHERE id IN ({doomed})"))
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(db("prune events"))?;
        tx.commit().await.map_err(db("commit prune"))?;
        Ok(done.rows_affected())
    }
}
