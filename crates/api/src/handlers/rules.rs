use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use trainyard_bus::{RuleRequest, TargetRequest};

use super::BusQuery;
use crate::request::{self, Body};
use crate::{ApiError, AppState};

type BusParam = Result<Query<BusQuery>, QueryRejection>;

/// `PutRule` (create).
pub async fn create(
    State(state): State<AppState>,
    Body(request): Body<RuleRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let rule = state.bus.create_rule(&request).await?;
    Ok((StatusCode::CREATED, Json(json!(rule))))
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<BusQueryAll>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let bus = request::query(query)?.bus;
    Ok(Json(json!({"Rules": state.bus.store().list_rules(bus.as_deref()).await?})))
}

/// `?bus=` for listing: absent means every bus.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusQueryAll {
    bus: Option<String>,
}

pub async fn describe(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bus: BusParam,
) -> Result<Json<Value>, ApiError> {
    let bus = BusQuery::parse(bus)?;
    let rule = state.bus.store().get_rule(&bus, &name).await?;
    let targets = state.bus.store().list_targets(&bus, &name).await?;
    let mut value = json!(rule);
    value["Targets"] = json!(targets);
    Ok(Json(value))
}

pub async fn enable(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bus: BusParam,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.bus.set_rule_state(&BusQuery::parse(bus)?, &name, true).await?)))
}

pub async fn disable(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bus: BusParam,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.bus.set_rule_state(&BusQuery::parse(bus)?, &name, false).await?)))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bus: BusParam,
) -> Result<StatusCode, ApiError> {
    state.bus.delete_rule(&BusQuery::parse(bus)?, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_targets(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bus: BusParam,
) -> Result<Json<Value>, ApiError> {
    let bus = BusQuery::parse(bus)?;
    state.bus.store().get_rule(&bus, &name).await?;
    Ok(Json(json!({"Targets": state.bus.store().list_targets(&bus, &name).await?})))
}

/// `PutTargets` for one target.
pub async fn put_target(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bus: BusParam,
    Body(request): Body<TargetRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let target = state.bus.put_target(&BusQuery::parse(bus)?, &name, &request).await?;
    Ok((StatusCode::CREATED, Json(json!(target))))
}

pub async fn remove_target(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    bus: BusParam,
) -> Result<StatusCode, ApiError> {
    state.bus.remove_target(&BusQuery::parse(bus)?, &name, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
