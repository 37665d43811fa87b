//! Processing jobs (SageMaker's `CreateProcessingJob`), and evaluations: runs of the
//! built-in evaluator started for a candidate model.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use trainyard_jobs::processing::CreateProcessingJob;
use trainyard_models::evaluation::StartEvaluation;

use crate::request::{self, Body};
use crate::{ApiError, AppState};

/// `CreateProcessingJob`: 202, poll `DescribeProcessingJob`.
pub async fn create(
    State(state): State<AppState>,
    Body(request): Body<CreateProcessingJob>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.jobs.create_processing(request).await?)))
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
    Ok(Json(state.jobs.list_processing(q.status.as_deref(), q.limit.unwrap_or(100)).await?))
}

pub async fn describe(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.jobs.describe_processing(&name).await?))
}

pub async fn stop(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    state.jobs.stop_processing(&name).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    offset: Option<u64>,
}

pub async fn logs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let offset = request::query(query)?.offset.unwrap_or(0);
    Ok(Json(json!(state.jobs.processing_logs(&name, offset).await?)))
}

/// Starts the built-in evaluator on a candidate (and the group's champion): 202.
pub async fn start_evaluation(
    State(state): State<AppState>,
    Body(request): Body<StartEvaluation>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.models.start_evaluation(request).await?)))
}

/// The evaluation's status, then its report, the champion's and the decision.
pub async fn evaluation(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.models.evaluation(&name).await?))
}
