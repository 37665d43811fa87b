//! The endpoints control plane: deploy, describe, list, delete, roll back, reweight.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use trainyard_endpoints::Deploy;
use trainyard_identity::Identity;

use crate::request::Body;
use crate::{ApiError, AppState};

/// Creates the endpoint or starts a deployment to it: 202, follow `DescribeEndpoint`.
pub async fn deploy(
    State(state): State<AppState>,
    Extension(principal): Extension<Identity>,
    Path(name): Path<String>,
    Body(request): Body<Deploy>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.endpoints.deploy(&name, request, &principal.arn).await?)))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.endpoints.list().await?))
}

pub async fn describe(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.endpoints.describe(&name).await?))
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    state.endpoints.delete(&name).await?;
    Ok(Json(json!({})))
}

pub async fn rollback(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.endpoints.rollback(&name).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct WeightsRequest {
    desired_weights_and_capacities: Vec<DesiredWeight>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DesiredWeight {
    variant_name: String,
    desired_weight: f64,
}

/// `UpdateEndpointWeightsAndCapacities`.
pub async fn update_weights(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Body(request): Body<WeightsRequest>,
) -> Result<Json<Value>, ApiError> {
    let weights: Vec<(String, f64)> =
        request.desired_weights_and_capacities.into_iter().map(|w| (w.variant_name, w.desired_weight)).collect();
    Ok(Json(state.endpoints.update_weights(&name, &weights).await?))
}
