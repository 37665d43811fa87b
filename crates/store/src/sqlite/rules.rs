//! rules: the SQLite queries.

use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::rules::{bus_from, destination_columns, rule_from, target_from, RULE_COLUMNS};
use crate::{db, to_millis, Bus, Error, Rule, Target};

impl SqliteStore {
    pub async fn create_bus(&self, bus: &Bus) -> Result<(), Error> {
        sqlx::query("INSERT INTO buses (name, arn, created_at) VALUES (?, ?, ?)")
            .bind(&bus.name)
            .bind(&bus.arn)
            .bind(to_millis(bus.creation_time))
            .execute(&self.writer)
            .await
            .map_err(Error::on_insert("event bus", &bus.name))?;
        Ok(())
    }

    pub async fn ensure_bus(&self, bus: &Bus) -> Result<(), Error> {
        sqlx::query("INSERT OR IGNORE INTO buses (name, arn, created_at) VALUES (?, ?, ?)")
            .bind(&bus.name)
            .bind(&bus.arn)
            .bind(to_millis(bus.creation_time))
            .execute(&self.writer)
            .await
            .map_err(db("ensure bus"))?;
        Ok(())
    }

    pub async fn list_buses(&self) -> Result<Vec<Bus>, Error> {
        let rows = sqlx::query("SELECT name, arn, created_at FROM buses ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list buses"))?;
        Ok(rows.iter().map(bus_from).collect())
    }

    pub async fn get_bus(&self, name: &str) -> Result<Bus, Error> {
        self.list_buses()
            .await?
            .into_iter()
            .find(|b| b.name == name)
            .ok_or_else(|| Error::NotFound { kind: "event bus", name: name.into() })
    }

    pub async fn delete_bus(&self, name: &str) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let rules: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rules WHERE bus = ?")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("count rules"))?;
        if rules > 0 {
            return Err(Error::InUse { kind: "event bus", name: name.into(), reason: format!("it has {rules} rules") });
        }
        let done =
            sqlx::query("DELETE FROM buses WHERE name = ?").bind(name).execute(&mut *tx).await.map_err(
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .bind(to_millis(rule.creation_time))
        .execute(&self.writer)
        .await
        .map_err(Error::on_insert("rule", &rule.name))?;
        Ok(())
    }

    pub async fn update_rule(&self, rule: &Rule, now: DateTime<Utc>) -> Result<(), Error> {
        let updated = sqlx::query(
            "UPDATE rules SET event_pattern = ?, schedule = ?, state = ?, description = ?, next_fire_at = ?,
             updated_at = ? WHERE bus = ? AND name = ?",
        )
        .bind(&rule.event_pattern)
        .bind(&rule.schedule_expression)
        .bind(&rule.state)
        .bind(&rule.description)
        .bind(rule.next_fire_time.map(to_millis))
        .bind(to_millis(now))
        .bind(&rule.event_bus_name)
        .bind(&rule.name)
        .execute(&self.writer)
        .await
        .map_err(db("update rule"))?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "rule", name: rule.name.clone() });
        }
        Ok(())
    }

    pub async fn get_rule(&self, bus: &str, name: &str) -> Result<Rule, Error> {
        let row = sqlx::query(&format!("SELECT {RULE_COLUMNS} FROM rules WHERE bus = ? AND name = ?"))
            .bind(bus)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get rule"))?;
        row.as_ref().map(rule_from).ok_or_else(|| Error::NotFound { kind: "rule", name: name.into() })
    }

    pub async fn list_rules(&self, bus: Option<&str>) -> Result<Vec<Rule>, Error> {
        let rows =
            sqlx::query(&format!("SELECT {RULE_COLUMNS} FROM rules WHERE (?1 IS NULL OR bus = ?1) ORDER BY bus, name"))
                .bind(bus)
                .fetch_all(&self.pool)
                .await
                .map_err(db("list rules"))?;
        Ok(rows.iter().map(rule_from).collect())
    }

    pub async fn set_rule_state(&self, bus: &str, name: &str, state: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let done = sqlx::query("UPDATE rules SET state = ?, updated_at = ? WHERE bus = ? AND name = ?")
            .bind(state)
            .bind(to_millis(now))
            .bind(bus)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db("set rule state"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "rule", name: name.into() });
        }
        Ok(())
    }

    pub async fn set_next_fire(&self, bus: &str, name: &str, next: Option<DateTime<Utc>>) -> Result<(), Error> {
        sqlx::query("UPDATE rules SET next_fire_at = ? WHERE bus = ? AND name = ?")
            .bind(next.map(to_millis))
            .bind(bus)
            .bind(name)
            .execute(&self.writer)
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
        let moved = sqlx::query("UPDATE rules SET next_fire_at = ? WHERE bus = ? AND name = ? AND next_fire_at = ?")
            .bind(next.map(to_millis))
            .bind(bus)
            .bind(name)
            .bind(to_millis(due))
            .execute(&self.writer)
            .await
            .map_err(db("advance schedule"))?;
        Ok(moved.rows_affected() == 1)
    }

    pub async fn delete_rule(&self, bus: &str, name: &str) -> Result<(), Error> {
        // Invariant: the count and the delete share the writer's transaction, so a target
        // put in between is either counted or put after the rule is gone (NotFound).
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let targets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM targets WHERE bus = ? AND rule = ?")
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
        let done = sqlx::query("DELETE FROM rules WHERE bus = ? AND name = ?")
            .bind(bus)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("delete rule"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "rule", name: name.into() });
        }
        tx.commit().await.map_err(db("commit"))
    }

    pub async fn put_target(&self, target: &Target, limit: usize, now: DateTime<Utc>) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM targets WHERE bus = ? AND rule = ? AND id <> ?")
            .bind(&target.event_bus_name)
            .bind(&target.rule)
            .bind(&target.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("count targets"))?;
        if count as usize >= limit {
            return Err(Error::InUse {
                kind: "rule",
                name: target.rule.clone(),
                reason: format!("it already has {limit} targets, the maximum"),
            });
        }
        let (kind, address, headers) = destination_columns(&target.destination);
        sqlx::query(
            "INSERT OR REPLACE INTO targets (bus, rule, id, kind, address, http_headers, input_shape, max_attempts, max_age_secs, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        let rows = sqlx::query("SELECT * FROM targets WHERE bus = ? AND rule = ? ORDER BY id")
            .bind(bus)
            .bind(rule)
            .fetch_all(&self.pool)
            .await
            .map_err(db("list targets"))?;
        rows.iter().map(target_from).collect()
    }

    pub async fn all_targets(&self) -> Result<Vec<Target>, Error> {
        let rows = sqlx::query("SELECT * FROM targets ORDER BY bus, rule, id")
            .fetch_all(&self.pool)
            .await
            .map_err(db("all targets"))?;
        rows.iter().map(target_from).collect()
    }

    pub async fn remove_target(&self, bus: &str, rule: &str, id: &str) -> Result<(), Error> {
        let done = sqlx::query("DELETE FROM targets WHERE bus = ? AND rule = ? AND id = ?")
            .bind(bus)
            .bind(rule)
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db("remove target"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "target", name: id.into() });
        }
        Ok(())
    }
}
