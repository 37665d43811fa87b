use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::request::{self, Body};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let limit = request::query(query)?.limit.unwrap_or(100);
    Ok(Json(json!({"DeadLetters": state.bus.store().list_dead_letters(limit).await?})))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RedriveRequest {
    #[serde(default)]
    ids: Option<Vec<i64>>,
    #[serde(default)]
    all: bool,
}

/// Sends dead letters back for delivery: `{"Ids": [...]}` or `{"All": true}`.
pub async fn redrive(
    State(state): State<AppState>,
    Body(request): Body<RedriveRequest>,
) -> Result<Json<Value>, ApiError> {
    let ids = match (&request.ids, request.all) {
        (Some(ids), false) if !ids.is_empty() => Some(ids.as_slice()),
        (None, true) => None,
        _ => return Err(ApiError::BadRequest("give either a non-empty Ids list or All: true".into())),
    };
    let count = state.bus.redrive(ids, Utc::now()).await?;
    Ok(Json(json!({"Redriven": count})))
}

/// Deliveries by state.
pub async fn counts(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let counts: serde_json::Map<String, Value> =
        state.bus.store().delivery_counts().await?.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(Json(Value::Object(counts)))
}
