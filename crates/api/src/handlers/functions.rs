use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use trainyard_bus::FunctionRequest;

use crate::request::{self, Body};
use crate::{ApiError, AppState};

pub async fn create(
    State(state): State<AppState>,
    Body(request): Body<FunctionRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(json!(state.bus.create_function(&request).await?))))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"Functions": state.bus.store().list_functions().await?})))
}

pub async fn describe(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.bus.store().get_function(&name).await?)))
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    state.bus.delete_function(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Synchronous `Invoke`: the body is the event; the answer carries the function's
/// result or error and its logs.
pub async fn invoke(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Body(event): Body<Value>,
) -> Result<Json<Value>, ApiError> {
    let outcome = state.bus.invoke_function(&name, &event).await?;
    let mut answer = json!({"DurationMs": outcome.duration.as_millis() as u64, "Logs": outcome.logs});
    match outcome.result {
        Ok(payload) => answer["Payload"] = payload,
        Err(failure) => {
            answer["FunctionError"] = json!({
                "errorType": failure.code,
                "errorMessage": failure.message,
                "retriable": failure.retriable,
            })
        }
    }
    Ok(Json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    limit: Option<i64>,
}

pub async fn logs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let limit = request::query(query)?.limit.unwrap_or(20);
    state.bus.store().get_function(&name).await?;
    Ok(Json(json!({"Invocations": state.bus.list_invocations(&name, limit).await?})))
}
