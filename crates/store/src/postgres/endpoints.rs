//! endpoints: the PostgreSQL queries.

use super::PgStore;
use crate::endpoints::*;
use crate::{db, to_millis, Error};

impl PgStore {
    pub async fn create_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO endpoints (name, arn, status, config, previous_config, pending, last_deployment, failure_reason,
                                    created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        .execute(&self.pool)
        .await
        .map_err(Error::on_insert("endpoint", &endpoint.name))?;
        Ok(())
    }

    pub async fn update_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), Error> {
        let done = sqlx::query(
            "UPDATE endpoints SET status = $1, config = $2, previous_config = $3, pending = $4, last_deployment = $5,
                 failure_reason = $6, updated_at = $7
             WHERE name = $8",
        )
        .bind(&endpoint.status)
        .bind(json_text(&endpoint.config))
        .bind(json_text(&endpoint.previous_config))
        .bind(json_text(&endpoint.pending))
        .bind(json_text(&endpoint.last_deployment))
        .bind(&endpoint.failure_reason)
        .bind(to_millis(endpoint.updated_at))
        .bind(&endpoint.name)
        .execute(&self.pool)
        .await
        .map_err(db("update endpoint"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "endpoint", name: endpoint.name.clone() });
        }
        Ok(())
    }

    pub async fn get_endpoint(&self, name: &str) -> Result<EndpointRecord, Error> {
        let row = sqlx::query("SELECT * FROM endpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get endpoint"))?;
        row.as_ref().map(endpoint_from).ok_or_else(|| Error::NotFound { kind: "endpoint", name: name.into() })
    }

    pub async fn list_endpoints(&self) -> Result<Vec<EndpointRecord>, Error> {
        let rows = sqlx::query("SELECT * FROM endpoints ORDER BY name COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list endpoints"))?;
        Ok(rows.iter().map(endpoint_from).collect())
    }

    pub async fn delete_endpoint(&self, name: &str) -> Result<(), Error> {
        let done = sqlx::query("DELETE FROM endpoints WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("delete endpoint"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "endpoint", name: name.into() });
        }
        Ok(())
    }
}
