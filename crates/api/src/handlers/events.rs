use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use trainyard_events::{Pattern, PutEntry};
use trainyard_store::{EventFilter, StoredEvent};

use crate::request::{self, Body};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutEventsRequest {
    entries: Vec<PutEntry>,
}

/// `PutEvents`.
pub async fn put(
    State(state): State<AppState>,
    Body(request): Body<PutEventsRequest>,
) -> Result<Json<Value>, ApiError> {
    let results = state.bus.put_events(&request.entries, false).await?;
    let failed = results.iter().filter(|r| r.error_code.is_some()).count();
    Ok(Json(json!({"FailedEntryCount": failed, "Entries": results})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    bus: Option<String>,
    source: Option<String>,
    detail_type: Option<String>,
    since: Option<DateTime<Utc>>,
    /// Only events after this sequence number, oldest first.
    after: Option<i64>,
    /// With `after`: wait up to this many seconds (≤ 30) for new events.
    wait: Option<u64>,
    limit: Option<i64>,
}

fn listed(event: StoredEvent) -> Value {
    json!({"Seq": event.seq, "EventBusName": event.bus, "IngestionTime": event.ingested_at, "Event": event.event})
}

/// Lists events, newest first; or, with `after`, follows them (long poll with `wait`).
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = request::query(query)?;
    let filter = EventFilter {
        bus: q.bus,
        source: q.source,
        detail_type: q.detail_type,
        since: q.since,
        after_seq: q.after,
        limit: q.limit.unwrap_or(100),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(q.wait.unwrap_or(0).min(30));
    loop {
        let events = state.bus.store().list_events(&filter).await?;
        if !events.is_empty() || filter.after_seq.is_none() || tokio::time::Instant::now() >= deadline {
            return Ok(Json(json!({"Events": events.into_iter().map(listed).collect::<Vec<_>>()})));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One event: the envelope, the rules it matched and every delivery attempt.
pub async fn describe(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let stored = state.bus.store().get_event(&id).await?;
    let deliveries = state.bus.store().deliveries_of(&id).await?;
    let deliveries: Vec<Value> = deliveries
        .into_iter()
        .map(|(delivery, attempts)| {
            let mut value = serde_json::to_value(&delivery).unwrap_or_default();
            value["Attempts"] = serde_json::to_value(attempts).unwrap_or_default();
            value
        })
        .collect();
    Ok(Json(json!({
        "Event": stored.event,
        "EventBusName": stored.bus,
        "IngestionTime": stored.ingested_at,
        "MatchedRules": stored.matched_rules,
        "Deliveries": deliveries,
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TestPatternRequest {
    event_pattern: Value,
    event: Value,
}

/// `TestEventPattern`: does this event match this pattern?
pub async fn test_pattern(Body(request): Body<TestPatternRequest>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"Result": test_event_pattern(&request.event_pattern, &request.event)?})))
}

/// Pattern and event may each be JSON text or inline JSON.
pub fn test_event_pattern(pattern: &Value, event: &Value) -> Result<bool, ApiError> {
    let pattern = match pattern {
        Value::String(text) => Pattern::parse_str(text)?,
        other => Pattern::parse(other)?,
    };
    let event = match event {
        Value::String(text) => {
            serde_json::from_str(text).map_err(|e| ApiError::BadRequest(format!("Event is not valid JSON: {e}")))?
        }
        other => other.clone(),
    };
    if !event.is_object() {
        return Err(ApiError::BadRequest("Event must be a JSON object".into()));
    }
    Ok(pattern.matches(&event))
}
