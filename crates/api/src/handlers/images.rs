//! The registry's management API: repositories and images (ECR's shapes).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::request::{self, Body};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRepository {
    #[serde(rename = "RepositoryName")]
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryQuery {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesQuery {
    repository: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageQuery {
    image: String,
}

pub async fn create_repository(
    State(state): State<AppState>,
    Body(request): Body<CreateRepository>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.registry.create_repository_json(&request.name).await?)))
}

pub async fn list_repositories(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.registry.list_repositories_json().await?))
}

pub async fn delete_repository(
    State(state): State<AppState>,
    query: Result<Query<RepositoryQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    state.registry.delete_repository(&request::query(query)?.name).await?;
    Ok(Json(json!({})))
}

pub async fn list_images(
    State(state): State<AppState>,
    query: Result<Query<ImagesQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.registry.list_images_json(request::query(query)?.repository.as_deref()).await?))
}

pub async fn describe_image(
    State(state): State<AppState>,
    query: Result<Query<ImageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.registry.describe_image_json(&request::query(query)?.image).await?))
}

pub async fn delete_image(
    State(state): State<AppState>,
    query: Result<Query<ImageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    state.registry.delete_image(&request::query(query)?.image).await?;
    Ok(Json(json!({})))
}
