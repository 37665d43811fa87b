//! events: the PostgreSQL queries.
//!
//! Differences from SQLite, where its single writer made things safe:
//! * `put_events` takes a transaction-scoped advisory lock first, so that events commit in
//!   `seq` order and a tailer reading `seq > n` never misses one that commits late.
//! * `claim_due` locks the rows it claims with `FOR UPDATE SKIP LOCKED`: concurrent claimers
//!   (in this or another replica) never get the same delivery.
//! * `redrive` locks the dead letters it sends back (`FOR UPDATE`).
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder, Row};

use super::PgStore;
use crate::events::{attempt_from, dead_letter_from, delivery_from, event_from, DELIVERY_COLUMNS};
use crate::{
    db, from_millis, to_millis, AfterAttempt, Attempt, Claimed, DeadLetter, Delivery, Error, EventFilter, NewEvent,
    StoredEvent,
};

/// The advisory lock key that orders event appends (`seq`) by commit.
const EVENTS_APPEND_LOCK: &str = "trainyard:events:append";

/// A `LIMIT` bind: SQLite reads a negative limit as "no limit", PostgreSQL as an error;
/// `LIMIT NULL` is PostgreSQL's "no limit".
fn sql_limit(limit: i64) -> Option<i64> {
    (limit >= 0).then_some(limit)
}

impl PgStore {
    pub async fn put_events(&self, events: &[NewEvent]) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // Invariant: seq values commit in order (a tailer after `seq` n sees every later event).
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(EVENTS_APPEND_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db("lock event appends"))?;
        for new in events {
            let body = serde_json::to_string(&new.event).unwrap_or_default();
            let ingested = to_millis(new.ingested_at);
            sqlx::query(
                "INSERT INTO events (id, bus, source, detail_type, time, ingested_at, replay_name, matched_rules, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
                    "INSERT INTO deliveries (event_id, bus, rule, target_id, state, next_attempt_at, created_at, age_from)
                     VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5)
                     ON CONFLICT (event_id, bus, rule, target_id) DO NOTHING",
                )
                .bind(&new.event.id)
                .bind(&new.bus)
                .bind(rule)
                .bind(target)
                .bind(ingested)
                .execute(&mut *tx)
                .await
                .map_err(db("insert delivery"))?;
            }
            for archive in &new.archives {
                sqlx::query(
                    "INSERT INTO archived_events (archive, event_id, time, body) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (archive, event_id) DO NOTHING",
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
        let mut query: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT seq, bus, ingested_at, matched_rules, body FROM events WHERE TRUE");
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
        let row = sqlx::query("SELECT seq, bus, ingested_at, matched_rules, body FROM events WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get event"))?;
        row.as_ref().map(event_from).transpose()?.ok_or_else(|| Error::NotFound { kind: "event", name: id.into() })
    }

    pub async fn deliveries_of(&self, event_id: &str) -> Result<Vec<(Delivery, Vec<Attempt>)>, Error> {
        let rows =
            sqlx::query(&format!("SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE d.event_id = $1 ORDER BY d.id"))
                .bind(event_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db("deliveries of event"))?;
        let deliveries: Vec<Delivery> = rows.iter().map(delivery_from).collect();
        let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
        // Every delivery's attempts in one query (not one per delivery).
        let mut attempts: HashMap<i64, Vec<Attempt>> = HashMap::new();
        if !ids.is_empty() {
            let rows = sqlx::query(
                "SELECT delivery_id, attempt, started_at, duration_ms, outcome, error_code, message
                 FROM attempts WHERE delivery_id = ANY($1) ORDER BY id",
            )
            .bind(&ids)
            .fetch_all(&self.pool)
            .await
            .map_err(db("attempts"))?;
            for row in &rows {
                attempts.entry(row.get("delivery_id")).or_default().push(attempt_from(row));
            }
        }
        Ok(deliveries
            .into_iter()
            .map(|d| {
                let list = attempts.remove(&d.id).unwrap_or_default();
                (d, list)
            })
            .collect())
    }

    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
        claimer: &str,
    ) -> Result<Vec<Claimed>, Error> {
        let now = to_millis(now);
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // Invariant: SKIP LOCKED, and FOR UPDATE's re-check of the WHERE on the newest row
        // version, make each delivery go to exactly one claimer.
        let rows = sqlx::query(
            "UPDATE deliveries SET state = 'in_progress', lease_until = $1, attempts = attempts + 1, claimed_by = $4,
                 first_attempt_at = COALESCE(first_attempt_at, $2), last_attempt_at = $2
             WHERE id IN (SELECT id FROM deliveries
                          WHERE (state = 'pending' AND next_attempt_at <= $2)
                             OR (state = 'in_progress' AND lease_until < $2)
                          ORDER BY next_attempt_at LIMIT $3
                          FOR UPDATE SKIP LOCKED)
             RETURNING id, event_id, bus, rule, target_id, state, attempts,
                       next_attempt_at, first_attempt_at, last_attempt_at, age_from",
        )
        .bind(to_millis(lease_until))
        .bind(now)
        .bind(sql_limit(limit))
        .bind(claimer)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("claim deliveries"))?;
        let deliveries: Vec<Delivery> = rows.iter().map(delivery_from).collect();
        let mut bodies = HashMap::new();
        if !deliveries.is_empty() {
            let ids: Vec<&str> = deliveries.iter().map(|d| d.event_id.as_str()).collect();
            let rows = sqlx::query("SELECT id, body FROM events WHERE id = ANY($1)")
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("claimed event bodies"))?;
            for row in rows {
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
        // Rows are locked in id order, so two batches (of two replicas) cannot deadlock.
        let mut ordered: Vec<&(Delivery, Attempt, AfterAttempt)> = finished.iter().collect();
        ordered.sort_by_key(|(delivery, ..)| delivery.id);
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        for (delivery, attempt, after) in ordered {
            sqlx::query(
                "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, error_code, message)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
                "UPDATE deliveries SET state = $1, lease_until = NULL, claimed_by = NULL,
                     next_attempt_at = COALESCE($2, next_attempt_at)
                 WHERE id = $3 AND state = 'in_progress' AND attempts = $4",
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
                // As SQLite's INSERT OR REPLACE: a replaced letter gets a new id (it is the newest).
                sqlx::query(
                    "INSERT INTO dead_letters (delivery_id, error_code, error_message, created_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (delivery_id) DO UPDATE SET id = DEFAULT, error_code = excluded.error_code,
                         error_message = excluded.error_message, created_at = excluded.created_at",
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
        let rows =
            sqlx::query("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state ORDER BY state COLLATE \"C\"")
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
             FROM dead_letters l JOIN deliveries d ON d.id = l.delivery_id ORDER BY l.id DESC LIMIT $1"
        ))
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await
        .map_err(db("list dead letters"))?;
        Ok(rows.iter().map(dead_letter_from).collect())
    }

    pub async fn redrive(&self, ids: Option<&[i64]>, now: DateTime<Utc>) -> Result<u64, Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // Locked, so that two redrives (or a redrive and a new dead letter) serialise.
        let rows = match ids {
            Some(ids) => {
                sqlx::query("SELECT id, delivery_id FROM dead_letters WHERE id = ANY($1) FOR UPDATE")
                    .bind(ids)
                    .fetch_all(&mut *tx)
                    .await
            }
            None => sqlx::query("SELECT id, delivery_id FROM dead_letters FOR UPDATE").fetch_all(&mut *tx).await,
        }
        .map_err(db("select dead letters"))?;
        let letters: Vec<i64> = rows.iter().map(|r| r.get("id")).collect();
        let deliveries: Vec<i64> = rows.iter().map(|r| r.get("delivery_id")).collect();
        if let Some(ids) = ids {
            if let Some(missing) = ids.iter().find(|id| !letters.contains(id)) {
                return Err(Error::NotFound { kind: "dead letter", name: missing.to_string() });
            }
        }
        if !letters.is_empty() {
            sqlx::query(
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, age_from = $1
                 WHERE id = ANY($2)",
            )
            .bind(to_millis(now))
            .bind(&deliveries)
            .execute(&mut *tx)
            .await
            .map_err(db("redrive deliveries"))?;
            sqlx::query("DELETE FROM dead_letters WHERE id = ANY($1)")
                .bind(&letters)
                .execute(&mut *tx)
                .await
                .map_err(db("delete dead letters"))?;
        }
        tx.commit().await.map_err(db("commit redrive"))?;
        Ok(letters.len() as u64)
    }

    pub async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, Error> {
        // One statement, so one snapshot decides which events go and removes their
        // deliveries with them (two statements could leave a delivery whose event is gone).
        let done = sqlx::query(
            "WITH doomed AS (
                 SELECT id FROM events e WHERE ingested_at < $1 AND NOT EXISTS
                     (SELECT 1 FROM deliveries d
                      WHERE d.event_id = e.id AND d.state IN ('pending', 'in_progress', 'dead'))),
             gone AS (DELETE FROM deliveries WHERE event_id IN (SELECT id FROM doomed))
             DELETE FROM events WHERE id IN (SELECT id FROM doomed)",
        )
        .bind(to_millis(before))
        .execute(&self.pool)
        .await
        .map_err(db("prune events"))?;
        Ok(done.rows_affected())
    }
}
