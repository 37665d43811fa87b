//! Route handlers, one module per resource.

pub mod archives;
pub mod builds;
pub mod buses;
pub mod dlq;
pub mod endpoints;
pub mod events;
pub mod functions;
pub mod iam;
pub mod images;
pub mod models;
pub mod objects;
pub mod pipelines;
pub mod processing;
pub mod registry;
pub mod rules;
pub mod serving;
pub mod sources;
pub mod training;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use serde::Deserialize;

/// `?bus=NAME`, the event bus a rule lives on (default: `default`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusQuery {
    #[serde(default)]
    pub bus: Option<String>,
}

impl BusQuery {
    pub fn parse(query: Result<Query<BusQuery>, QueryRejection>) -> Result<String, crate::ApiError> {
        Ok(crate::request::query(query)?.bus.unwrap_or_else(|| "default".into()))
    }
}
