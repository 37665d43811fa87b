//! Pipelines (trainyard.yaml applied) and their runs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::request::Body;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Apply {
    /// The trainyard.yaml text.
    spec: String,
    /// The absolute directory the file was read from; relative repository paths in the
    /// spec are resolved against it.
    #[serde(default)]
    base_directory: Option<std::path::PathBuf>,
    #[serde(default)]
    dry_run: bool,
}

pub async fn apply(State(state): State<AppState>, Body(request): Body<Apply>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.pipelines.apply(&request.spec, request.base_directory.as_deref(), request.dry_run).await?))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.pipelines.list().await?))
}

pub async fn describe(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.pipelines.describe(&name).await?))
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    state.pipelines.delete(&name).await?;
    Ok(Json(json!({})))
}

pub async fn runs(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.pipelines.runs(&name).await?))
}

pub async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.pipelines.start(&name).await?)))
}

pub async fn describe_run(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.pipelines.describe_run(&id).await?))
}
