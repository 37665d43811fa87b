use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use trainyard_bus::{ArchiveRequest, ReplayRequest};

use crate::request::Body;
use crate::{ApiError, AppState};

pub async fn create(
    State(state): State<AppState>,
    Body(request): Body<ArchiveRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(json!(state.bus.create_archive(&request).await?))))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"Archives": state.bus.store().list_archives().await?})))
}

pub async fn describe(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.bus.store().get_archive(&name).await?)))
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    state.bus.delete_archive(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `StartReplay`: 202, poll the replay for its state.
pub async fn start_replay(
    State(state): State<AppState>,
    Body(request): Body<ReplayRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(json!(state.bus.start_replay(&request).await?))))
}

pub async fn list_replays(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"Replays": state.bus.store().list_replays().await?})))
}

pub async fn describe_replay(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.bus.store().get_replay(&name).await?)))
}
