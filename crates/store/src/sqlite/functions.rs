//! functions: the SQLite queries.

use super::SqliteStore;
use crate::functions::*;
use crate::{db, to_millis, Error, Function, Invocation};

impl SqliteStore {
    pub async fn create_function(&self, function: &Function) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO functions (name, arn, command, environment, timeout_secs, description, created_at, role, lambda)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(&self.writer)
        .await
        .map_err(Error::on_insert("function", &function.function_name))?;
        Ok(())
    }

    pub async fn update_function(&self, function: &Function) -> Result<(), Error> {
        let done = sqlx::query(
            "UPDATE functions SET command = ?, environment = ?, timeout_secs = ?, description = ?, role = ?, lambda = ?
             WHERE name = ?",
        )
        .bind(&function.command)
        .bind(serde_json::to_string(&function.environment).unwrap_or_default())
        .bind(i64::from(function.timeout))
        .bind(&function.description)
        .bind(&function.role)
        .bind(function.lambda.as_ref().map(|l| serde_json::to_string(l).unwrap_or_default()))
        .bind(&function.function_name)
        .execute(&self.writer)
        .await
        .map_err(db("update function"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "function", name: function.function_name.clone() });
        }
        Ok(())
    }

    pub async fn get_function(&self, name: &str) -> Result<Function, Error> {
        let row = sqlx::query("SELECT * FROM functions WHERE name = ?")
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
        let rows = sqlx::query("SELECT * FROM functions ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list functions"))?;
        rows.iter().map(function_from).collect()
    }

    pub async fn delete_function(&self, name: &str) -> Result<(), Error> {
        // Invariant: the check and the delete share the writer's transaction, so a rule
        // cannot start targeting the function in between.
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let users: Vec<String> = sqlx::query_scalar("SELECT rule FROM targets WHERE kind = 'function' AND address = ?")
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
        let done = sqlx::query("DELETE FROM functions WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("delete function"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "function", name: name.into() });
        }
        tx.commit().await.map_err(db("commit"))
    }

    pub async fn record_invocations(&self, invocations: &[NewInvocation]) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("record invocations"))?;
        for invocation in invocations {
            sqlx::query(
                "INSERT INTO invocations (function, event_id, started_at, duration_ms, outcome, result, logs)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&invocation.function)
            .bind(&invocation.event_id)
            .bind(to_millis(invocation.started))
            .bind(invocation.duration_ms)
            .bind(&invocation.outcome)
            .bind(invocation.result.as_deref().map(|r| tail(r, MAX_LOG_BYTES)))
            .bind(tail(&invocation.logs, MAX_LOG_BYTES))
            .execute(&mut *tx)
            .await
            .map_err(db("record invocation"))?;
        }
        tx.commit().await.map_err(db("record invocations"))
    }

    pub async fn list_invocations(&self, function: &str, limit: i64) -> Result<Vec<Invocation>, Error> {
        let rows = sqlx::query("SELECT * FROM invocations WHERE function = ? ORDER BY id DESC LIMIT ?")
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
