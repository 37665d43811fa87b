//! The model registry: package groups, versions, approval, aliases.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use trainyard_identity::Identity;
use trainyard_models::registry::{CreateGroup, RegisterVersion, UpdateStatus};

use crate::request::{self, Body};
use crate::{ApiError, AppState};

pub async fn create_group(
    State(state): State<AppState>,
    Body(request): Body<CreateGroup>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.models.create_group(request).await?)))
}

pub async fn list_groups(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.models.list_groups().await?))
}

pub async fn describe_group(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.models.describe_group(&name).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    force: Option<bool>,
}

/// Refused (409) while the group has versions, unless `?force=true`.
pub async fn delete_group(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let force = request::query(query)?.force.unwrap_or(false);
    state.models.delete_group(&name, force).await?;
    Ok(Json(json!({})))
}

pub async fn register(
    State(state): State<AppState>,
    Extension(principal): Extension<Identity>,
    Body(request): Body<RegisterVersion>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.models.register(request, &principal.arn).await?)))
}

pub async fn list_versions(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.models.list_versions(&name).await?))
}

/// A version by number or alias (`/versions/champion`).
pub async fn describe_version(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.models.describe_version(&name, &version).await?))
}

pub async fn update_status(
    State(state): State<AppState>,
    Extension(principal): Extension<Identity>,
    Path((name, version)): Path<(String, String)>,
    Body(request): Body<UpdateStatus>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.models.update_status(&name, &version, request, &principal.arn).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SetAlias {
    model_package_version: i64,
}

pub async fn set_alias(
    State(state): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
    Body(request): Body<SetAlias>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.models.set_alias(&name, &alias, request.model_package_version).await?))
}
