use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use trainyard_jobs::CreateTrainingJob;

use crate::request::{self, Body};
use crate::{ApiError, AppState};

/// `CreateTrainingJob`: 202, poll `DescribeTrainingJob`.
pub async fn create(
    State(state): State<AppState>,
    Body(request): Body<CreateTrainingJob>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.jobs.create(request).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = request::query(query)?;
    Ok(Json(state.jobs.list(q.status.as_deref(), q.limit.unwrap_or(100)).await?))
}

pub async fn describe(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.jobs.describe(&name).await?))
}

pub async fn stop(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    state.jobs.stop(&name).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    offset: Option<u64>,
}

/// The job's log from a byte offset; `NextOffset` continues, `Complete` says the end.
pub async fn logs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let offset = request::query(query)?.offset.unwrap_or(0);
    Ok(Json(json!(state.jobs.logs(&name, offset).await?)))
}

/// Every metric value the job reported (the time series behind `FinalMetricDataList`).
pub async fn metrics(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"MetricData": state.jobs.metrics(&name).await?})))
}
