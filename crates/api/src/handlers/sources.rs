//! Followed git branches, and GitHub's push webhook.

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use trainyard_source::{AddSource, Webhook};

use crate::request::{read_within_budget, Body};
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

/// The largest webhook body (GitHub's push payloads are far smaller).
pub const MAX_HOOK_BODY_BYTES: usize = 6 * 1024 * 1024;
/// The most bytes of webhook bodies read before their signature is checked, across every
/// request in flight; past it a delivery gets 503 and GitHub's redelivery tries again.
pub const HOOK_BUDGET_BYTES: usize = 16 * 1024 * 1024;

/// The budget of unauthenticated webhook bytes in flight.
#[derive(Clone)]
pub struct HookBudget(pub std::sync::Arc<tokio::sync::Semaphore>);

/// `POST /hooks/github`: authenticated by its `X-Hub-Signature-256`, not by a token.
pub async fn github(
    State(state): State<AppState>,
    Extension(budget): Extension<HookBudget>,
    request: axum::extract::Request,
) -> Result<Json<Value>, ApiError> {
    let headers = request.headers().clone();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Invariant: nothing is read of a request that carries no signature at all.
    if !trainyard_source::signature::well_formed(header("x-hub-signature-256")) {
        return Err(trainyard_source::Error::BadSignature.into());
    }
    let (body, _in_flight) = read_within_budget(request, &budget.0, MAX_HOOK_BODY_BYTES).await?;
    let hook = Webhook {
        event: header("x-github-event"),
        delivery: header("x-github-delivery"),
        signature: header("x-hub-signature-256"),
        body: &body,
    };
    Ok(Json(state.sources.github(hook).await?))
}
