//! rules: the PostgreSQL queries.
//!
//! Where SQLite's single writer made check-then-act safe, these take row locks: `delete_bus`
//! locks the bus, `delete_rule` and `put_target` lock the rule (so the target count and the
//! limit hold across replicas), and `put_target` of a function target takes the function's
//! advisory lock, as `delete_function` does.

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::rules::{bus_from, destination_columns, rule_from, target_from, RULE_COLUMNS};
use crate::{db, to_millis, Bus, Destination, Error, Rule, Target};

/// The advisory lock that serialises `put_target` (of a function target) with
/// `delete_function` for one function name.
pub(super) const FUNCTION_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended('trainyard:function:' || $1, 0))";

/// Maps an insert's errors: a duplicate key to `AlreadyExists`, a missing bus (the
/// foreign key, when the bus went away since it was looked up) to `NotFound`.
pub(super) fn on_insert_into_bus(kind: &'static str, name: &str, bus: &str) -> impl FnOnce(sqlx::Error) -> Error {
    let (name, bus) = (name.to_string(), bus.to_string());
    move |source| match &source {
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::AlreadyExists { kind, name },
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => Error::NotFound { kind: "event bus", name: bus },
        _ => Error::Database { context: format!("insert {kind} {name}"), source },
    }
}

impl PgStore {
    pub async fn create_bus(&self, bus: &Bus) -> Result<(), Error> {
        sqlx::query("INSERT INTO buses (name, arn, created_at) VALUES ($1, $2, $3)")
            .bind(&bus.name)
            .bind(&bus.arn)
            .bind(to_millis(bus.creation_time))
            .execute(&self.pool)
            .await
            .map_err(Error::on_insert("event bus", &bus.name))?;
        Ok(())
    }

    pub async fn ensure_bus(&self, bus: &Bus) -> Result<(), Error> {
        sqlx::query("INSERT INTO buses (name, arn, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(&bus.name)
            .bind(&bus.arn)
            .bind(to_millis(bus.creation_time))
            .execute(&self.pool)
            .await
            .map_err(db("ensure bus"))?;
        Ok(())
    }

    pub async fn list_buses(&self) -> Result<Vec<Bus>, Error> {
        let rows = sqlx::query("SELECT name, arn, created_at FROM buses ORDER BY name COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list buses"))?;
        Ok(rows.iter().map(bus_from).collect())
    }

    pub async fn get_bus(&self, name: &str) -> Result<Bus, Error> {
        let row = sqlx::query("SELECT name, arn, created_at FROM buses WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get bus"))?;
        row.as_ref().map(bus_from).ok_or_else(|| Error::NotFound { kind: "event bus", name: name.into() })
    }

    pub async fn delete_bus(&self, name: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // Locked first: a concurrent create_rule (whose foreign key check shares the row)
        // waits, so the count below stays true until the delete.
        sqlx::query("SELECT 1 FROM buses WHERE name = $1 FOR UPDATE")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("lock bus"))?;
        let rules: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rules WHERE bus = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("count rules"))?;
        if rules > 0 {
            return Err(Error::InUse { kind: "event bus", name: name.into(), reason: format!("it has {rules} rules") });
        }
        let done = sqlx::query("DELETE FROM buses WHERE name = $1").bind(name).execute(&mut *tx).await.map_err(
            |e| match &e {
                sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                    Error::InUse { kind: "event bus", name: name.into(), reason: "an archive refers to it".into() }
                }
                _ => Error::Database { context: "delete bus".into(), source: e },
            },
        )?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "event bus", name: name.into() });
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn create_rule(&self, rule: &Rule) -> Result<(), Error> {
        self.get_bus(&rule.event_bus_name).await?;
        sqlx::query(
            "INSERT INTO rules (bus, name, arn, event_pattern, schedule, state, description, next_fire_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&rule.event_bus_name)
        .bind(&rule.name)
        .bind(&rule.arn)
        .bind(&rule.event_pattern)
        .bind(&rule.schedule_expression)
        .bind(&rule.state)
        .bind(&rule.description)
        .bind(rule.next_fire_time.map(to_millis))
        .bind(to_millis(rule.creation_time))
        .execute(&self.pool)
        .await
        .map_err(on_insert_into_bus("rule", &rule.name, &rule.event_bus_name))?;
        Ok(())
    }

    pub async fn update_rule(&self, rule: &Rule, now: DateTime<Utc>) -> Result<(), Error> {
        let updated = sqlx::query(
            "UPDATE rules SET event_pattern = $1, schedule = $2, state = $3, description = $4, next_fire_at = $5,
             updated_at = $6 WHERE bus = $7 AND name = $8",
        )
        .bind(&rule.event_pattern)
        .bind(&rule.schedule_expression)
        .bind(&rule.state)
        .bind(&rule.description)
        .bind(rule.next_fire_time.map(to_millis))
        .bind(to_millis(now))
        .bind(&rule.event_bus_name)
        .bind(&rule.name)
        .execute(&self.pool)
        .await
        .map_err(db("update rule"))?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "rule", name: rule.name.clone() });
        }
        Ok(())
    }

    pub async fn get_rule(&self, bus: &str, name: &str) -> Result<Rule, Error> {
        let row = sqlx::query(&format!("SELECT {RULE_COLUMNS} FROM rules WHERE bus = $1 AND name = $2"))
            .bind(bus)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get rule"))?;
        row.as_ref().map(rule_from).ok_or_else(|| Error::NotFound { kind: "rule", name: name.into() })
    }

    pub async fn list_rules(&self, bus: Option<&str>) -> Result<Vec<Rule>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM rules WHERE ($1::TEXT IS NULL OR bus = $1)
             ORDER BY bus COLLATE \"C\", name COLLATE \"C\""
        ))
        .bind(bus)
        .fetch_all(&self.pool)
        .await
        .map_err(db("list rules"))?;
        Ok(rows.iter().map(rule_from).collect())
    }

    pub async fn set_rule_state(&self, bus: &str, name: &str, state: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let done = sqlx::query("UPDATE rules SET state = $1, updated_at = $2 WHERE bus = $3 AND name = $4")
            .bind(state)
            .bind(to_millis(now))
            .bind(bus)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("set rule state"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "rule", name: name.into() });
        }
        Ok(())
    }

    pub async fn set_next_fire(&self, bus: &str, name: &str, next: Option<DateTime<Utc>>) -> Result<(), Error> {
        sqlx::query("UPDATE rules SET next_fire_at = $1 WHERE bus = $2 AND name = $3")
            .bind(next.map(to_millis))
            .bind(bus)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("set next fire"))?;
        Ok(())
    }

    pub async fn advance_schedule(
        &self,
        bus: &str,
        name: &str,
        due: DateTime<Utc>,
        next: Option<DateTime<Utc>>,
    ) -> Result<bool, Error> {
        let moved =
            sqlx::query("UPDATE rules SET next_fire_at = $1 WHERE bus = $2 AND name = $3 AND next_fire_at = $4")
                .bind(next.map(to_millis))
                .bind(bus)
                .bind(name)
                .bind(to_millis(due))
                .execute(&self.pool)
                .await
                .map_err(db("advance schedule"))?;
        Ok(moved.rows_affected() == 1)
    }

    pub async fn delete_rule(&self, bus: &str, name: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // Locked first: put_target locks the rule too, so no target can be added between
        // the count and the delete (the cascade would drop it silently).
        sqlx::query("SELECT 1 FROM rules WHERE bus = $1 AND name = $2 FOR UPDATE")
            .bind(bus)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("lock rule"))?;
        let targets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM targets WHERE bus = $1 AND rule = $2")
            .bind(bus)
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("count targets"))?;
        if targets > 0 {
            return Err(Error::InUse {
                kind: "rule",
                name: name.into(),
                reason: format!("it has {targets} targets; remove them first"),
            });
        }
        let done = sqlx::query("DELETE FROM rules WHERE bus = $1 AND name = $2")
            .bind(bus)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("delete rule"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "rule", name: name.into() });
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn put_target(&self, target: &Target, limit: usize, now: DateTime<Utc>) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        if let Destination::Function { name } = &target.destination {
            sqlx::query(FUNCTION_LOCK).bind(name).execute(&mut *tx).await.map_err(db("lock function"))?;
        }
        // Locked first: concurrent puts on one rule serialise, so the limit holds.
        sqlx::query("SELECT 1 FROM rules WHERE bus = $1 AND name = $2 FOR UPDATE")
            .bind(&target.event_bus_name)
            .bind(&target.rule)
            .execute(&mut *tx)
            .await
            .map_err(db("lock rule"))?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM targets WHERE bus = $1 AND rule = $2 AND id <> $3")
            .bind(&target.event_bus_name)
            .bind(&target.rule)
            .bind(&target.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("count targets"))?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= limit {
            return Err(Error::InUse {
                kind: "rule",
                name: target.rule.clone(),
                reason: format!("it already has {limit} targets, the maximum"),
            });
        }
        let (kind, address, headers) = destination_columns(&target.destination);
        // As SQLite's INSERT OR REPLACE: every column, created_at included, is the new one.
        sqlx::query(
            "INSERT INTO targets (bus, rule, id, kind, address, http_headers, input_shape, max_attempts, max_age_secs, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (bus, rule, id) DO UPDATE SET kind = excluded.kind, address = excluded.address,
                 http_headers = excluded.http_headers, input_shape = excluded.input_shape,
                 max_attempts = excluded.max_attempts, max_age_secs = excluded.max_age_secs,
                 created_at = excluded.created_at",
        )
        .bind(&target.event_bus_name)
        .bind(&target.rule)
        .bind(&target.id)
        .bind(kind)
        .bind(address)
        .bind(headers)
        .bind(serde_json::to_string(&target.input).unwrap_or_default())
        .bind(i64::from(target.retry_policy.maximum_retry_attempts))
        .bind(i64::from(target.retry_policy.maximum_event_age_in_seconds))
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                Error::NotFound { kind: "rule", name: target.rule.clone() }
            }
            _ => Error::Database { context: "put target".into(), source: e },
        })?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn list_targets(&self, bus: &str, rule: &str) -> Result<Vec<Target>, Error> {
        let rows = sqlx::query("SELECT * FROM targets WHERE bus = $1 AND rule = $2 ORDER BY id COLLATE \"C\"")
            .bind(bus)
            .bind(rule)
            .fetch_all(&self.pool)
            .await
            .map_err(db("list targets"))?;
        rows.iter().map(target_from).collect()
    }

    pub async fn all_targets(&self) -> Result<Vec<Target>, Error> {
        let rows =
            sqlx::query("SELECT * FROM targets ORDER BY bus COLLATE \"C\", rule COLLATE \"C\", id COLLATE \"C\"")
                .fetch_all(&self.pool)
                .await
                .map_err(db("all targets"))?;
        rows.iter().map(target_from).collect()
    }

    pub async fn remove_target(&self, bus: &str, rule: &str, id: &str) -> Result<(), Error> {
        let done = sqlx::query("DELETE FROM targets WHERE bus = $1 AND rule = $2 AND id = $3")
            .bind(bus)
            .bind(rule)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db("remove target"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "target", name: id.into() });
        }
        Ok(())
    }
}
