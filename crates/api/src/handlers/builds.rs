//! Builds of followed commits and their logs.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::{request, ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    source: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.builds.list(request::query(query)?.source.as_deref()).await?))
}

pub async fn describe(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.builds.describe(&id).await?))
}

/// The build's log: `{"Log": "..."}`.
pub async fn logs(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(serde_json::json!({"Log": state.builds.logs(&id).await?})))
}
