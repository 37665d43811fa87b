//! Followed git branches, and GitHub's push webhook.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use trainyard_source::{AddSource, Webhook};

use crate::request::Body;
use crate::{ApiError, AppState};

pub async fn add(
    State(state): State<AppState>,
    Body(request): Body<AddSource>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.sources.add(request).await?)))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.sources.list().await?))
}

pub async fn describe(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.sources.describe(&name).await?))
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    state.sources.delete(&name).await?;
    Ok(Json(json!({})))
}

/// Fetches the branch now.
pub async fn poll(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.sources.poll(&name).await?))
}

/// `POST /hooks/github`: authenticated by its `X-Hub-Signature-256`, not by a token.
pub async fn github(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let hook = Webhook {
        event: header("x-github-event"),
        delivery: header("x-github-delivery"),
        signature: header("x-hub-signature-256"),
        body: &body,
    };
    Ok(Json(state.sources.github(hook).await?))
}
