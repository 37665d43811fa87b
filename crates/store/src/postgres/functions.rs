//! functions: the PostgreSQL queries.
//!
//! As SQLite's, but: PostgreSQL TEXT cannot hold NUL, which process output may contain, so
//! invocation results and logs have each NUL replaced by U+FFFD before they are kept; and
//! `delete_function` checks for targets and deletes in one transaction under the function's
//! advisory lock, which `put_target` takes for a function target.
use std::borrow::Cow;

use super::rules::FUNCTION_LOCK;
use super::PgStore;
use crate::functions::*;
use crate::{db, to_millis, Error, Function, Invocation};

/// Process output as PostgreSQL TEXT can keep it: NUL replaced, then the tail.
fn text_of_output(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(tail(&text.replace('\0', "\u{FFFD}"), MAX_LOG_BYTES).to_string())
    } else {
        Cow::Borrowed(tail(text, MAX_LOG_BYTES))
    }
}

impl PgStore {
    pub async fn create_function(&self, function: &Function) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO functions (name, arn, command, environment, timeout_secs, description, created_at, role, lambda)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&function.function_name)
        .bind(&function.function_arn)
        .bind(&function.command)
        .bind(serde_json::to_string(&function.environment).unwrap_or_default())
        .bind(i64::from(function.timeout))
        .bind(&function.description)
        .bind(to_millis(function.creation_time))
        .bind(&function.role)
        .bind(function.lambda.as_ref().map(|l| serde_json::to_string(l).unwrap_or_default()))
        .execute(&self.pool)
        .await
        .map_err(Error::on_insert("function", &function.function_name))?;
        Ok(())
    }

    pub async fn update_function(&self, function: &Function) -> Result<(), Error> {
        let done = sqlx::query(
            "UPDATE functions SET command = $1, environment = $2, timeout_secs = $3, description = $4, role = $5,
             lambda = $6 WHERE name = $7",
        )
        .bind(&function.command)
        .bind(serde_json::to_string(&function.environment).unwrap_or_default())
        .bind(i64::from(function.timeout))
        .bind(&function.description)
        .bind(&function.role)
        .bind(function.lambda.as_ref().map(|l| serde_json::to_string(l).unwrap_or_default()))
        .bind(&function.function_name)
        .execute(&self.pool)
        .await
        .map_err(db("update function"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "function", name: function.function_name.clone() });
        }
        Ok(())
    }

    pub async fn get_function(&self, name: &str) -> Result<Function, Error> {
        let row = sqlx::query("SELECT * FROM functions WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get function"))?;
        row.as_ref()
            .map(function_from)
            .transpose()?
            .ok_or_else(|| Error::NotFound { kind: "function", name: name.into() })
    }

    pub async fn list_functions(&self) -> Result<Vec<Function>, Error> {
        let rows = sqlx::query("SELECT * FROM functions ORDER BY name COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list functions"))?;
        rows.iter().map(function_from).collect()
    }

    pub async fn delete_function(&self, name: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // Invariant: no target is added for this function between the check and the delete.
        sqlx::query(FUNCTION_LOCK).bind(name).execute(&mut *tx).await.map_err(db("lock function"))?;
        let users: Vec<String> =
            sqlx::query_scalar("SELECT rule FROM targets WHERE kind = 'function' AND address = $1")
                .bind(name)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("function users"))?;
        if !users.is_empty() {
            return Err(Error::InUse {
                kind: "function",
                name: name.into(),
                reason: format!("rules {users:?} target it"),
            });
        }
        let done = sqlx::query("DELETE FROM functions WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("delete function"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "function", name: name.into() });
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn record_invocations(&self, invocations: &[NewInvocation]) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("record invocations"))?;
        for invocation in invocations {
            sqlx::query(
                "INSERT INTO invocations (function, event_id, started_at, duration_ms, outcome, result, logs)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&invocation.function)
            .bind(&invocation.event_id)
            .bind(to_millis(invocation.started))
            .bind(invocation.duration_ms)
            .bind(&invocation.outcome)
            .bind(invocation.result.as_deref().map(text_of_output))
            .bind(text_of_output(&invocation.logs))
            .execute(&mut *tx)
            .await
            .map_err(db("record invocation"))?;
        }
        tx.commit().await.map_err(db("record invocations"))
    }

    pub async fn list_invocations(&self, function: &str, limit: i64) -> Result<Vec<Invocation>, Error> {
        let rows = sqlx::query("SELECT * FROM invocations WHERE function = $1 ORDER BY id DESC LIMIT $2")
            .bind(function)
            .bind(limit.clamp(1, 10_000))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list invocations"))?;
        let mut list: Vec<Invocation> = rows.iter().map(invocation_from).collect();
        list.reverse();
        Ok(list)
    }
}
