//! Events: a live tail of the newest, and an event with the rules it matched and every
//! delivery attempt.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use trainyard_api::ApiError;

use crate::live::{self, Fragment, Frame};
use crate::pages::overview::{event_rows, Timeline};
use crate::session::Viewer;
use crate::view::{html, time, Chrome};
use crate::{Ui, UiError};

/// Events the tail shows.
const TAIL: i64 = 50;

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    chrome: Chrome,
    shown: i64,
    tail_html: String,
}

pub async fn tail(State(ui): State<Ui>, viewer: Viewer) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/events", &[("bus", "default")]).await?;
    let tail_html = Timeline { events: event_rows(&ui, TAIL).await? }.render()?;
    html(&EventsPage { chrome: viewer.chrome("Events", "events"), shown: TAIL, tail_html })
}

pub async fn tail_live(State(ui): State<Ui>, viewer: Viewer) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/events", &[("bus", "default")]).await?;
    Ok(live::stream(&ui.clone(), Some("events".to_string()), move || {
        let ui = ui.clone();
        async move {
            let tail = Timeline { events: event_rows(&ui, TAIL).await? }.render()?;
            Ok(Frame { busy: false, fragments: vec![Fragment::replace("tail", tail)] })
        }
    })
    .into_response())
}

struct DeliveryRow {
    rule: String,
    target: String,
    state: String,
    state_class: &'static str,
    attempts: String,
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    chrome: Chrome,
    id: String,
    source: String,
    detail_type: String,
    bus: String,
    ingested: String,
    rules: Vec<String>,
    deliveries: Vec<DeliveryRow>,
    body: String,
}

pub async fn event(State(ui): State<Ui>, viewer: Viewer, Path(id): Path<String>) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/events/{id}", &[("id", &id)]).await?;
    let store = ui.app.bus.store();
    let stored = store.get_event(&id).await.map_err(ApiError::from)?;
    let deliveries = store.deliveries_of(&id).await.map_err(ApiError::from)?;
    let deliveries = deliveries
        .into_iter()
        .map(|(d, attempts)| DeliveryRow {
            rule: d.rule,
            target: d.target_id,
            state_class: match d.state.as_str() {
                "succeeded" => "Succeeded",
                "dead" => "Failed",
                "in_progress" => "InProgress",
                _ => "Pending",
            },
            state: d.state,
            attempts: attempts
                .iter()
                .map(|a| {
                    format!(
                        "#{} {} in {} ms{}",
                        a.attempt,
                        a.outcome,
                        a.duration_ms,
                        a.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        })
        .collect();
    let text = |key: &str| stored.event[key].as_str().unwrap_or_default().to_string();
    let page = EventPage {
        chrome: viewer.chrome(format!("Event {id}"), "events"),
        source: text("source"),
        detail_type: text("detail-type"),
        bus: stored.bus.clone(),
        ingested: time(Some(stored.ingested_at)),
        rules: stored.matched_rules.clone(),
        deliveries,
        body: serde_json::to_string_pretty(&stored.event).unwrap_or_default(),
        id,
    };
    html(&page)
}
