//! endpoints: the SQLite queries.

use super::SqliteStore;
use crate::endpoints::*;
use crate::{db, to_millis, Error};

impl SqliteStore {
    pub async fn create_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO endpoints (name, arn, status, config, previous_config, pending, last_deployment, failure_reason,
                                    created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&endpoint.name)
        .bind(&endpoint.arn)
        .bind(&endpoint.status)
        .bind(json_text(&endpoint.config))
        .bind(json_text(&endpoint.previous_config))
        .bind(json_text(&endpoint.pending))
        .bind(json_text(&endpoint.last_deployment))
        .bind(&endpoint.failure_reason)
        .bind(to_millis(endpoint.created_at))
        .bind(to_millis(endpoint.updated_at))
        .execute(&self.writer)
        .await
        .map_err(Error::on_insert("endpoint", &endpoint.name))?;
        Ok(())
    }

    pub async fn update_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), Error> {
        let done = sqlx::query(
            "UPDATE endpoints SET status = ?, config = ?, previous_config = ?, pending = ?, last_deployment = ?,
                 failure_reason = ?, updated_at = ?
             WHERE name = ?",
        )
        .bind(&endpoint.status)
        .bind(json_text(&endpoint.config))
        .bind(json_text(&endpoint.previous_config))
        .bind(json_text(&endpoint.pending))
        .bind(json_text(&endpoint.last_deployment))
        .bind(&endpoint.failure_reason)
        .bind(to_millis(endpoint.updated_at))
        .bind(&endpoint.name)
        .execute(&self.writer)
        .await
        .map_err(db("update endpoint"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "endpoint", name: endpoint.name.clone() });
        }
        Ok(())
    }

    pub async fn get_endpoint(&self, name: &str) -> Result<EndpointRecord, Error> {
        let row = sqlx::query("SELECT * FROM endpoints WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get endpoint"))?;
        row.as_ref().map(endpoint_from).ok_or_else(|| Error::NotFound { kind: "endpoint", name: name.into() })
    }

    pub async fn list_endpoints(&self) -> Result<Vec<EndpointRecord>, Error> {
        let rows = sqlx::query("SELECT * FROM endpoints ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list endpoints"))?;
        Ok(rows.iter().map(endpoint_from).collect())
    }

    pub async fn delete_endpoint(&self, name: &str) -> Result<(), Error> {
        let done = sqlx::query("DELETE FROM endpoints WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db("delete endpoint"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "endpoint", name: name.into() });
        }
        Ok(())
    }
}
