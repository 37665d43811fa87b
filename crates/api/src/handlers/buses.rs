use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::request::Body;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateBus {
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    Body(request): Body<CreateBus>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bus = state.bus.create_bus(&request.name).await?;
    Ok((StatusCode::CREATED, Json(json!(bus))))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"EventBuses": state.bus.store().list_buses().await?})))
}

pub async fn describe(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.bus.store().get_bus(&name).await?)))
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    state.bus.delete_bus(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
