//! Deliveries that ran out of attempts (the dead-letter queue) with redrive, and the
//! event archives with their replays.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use serde::Deserialize;
use trainyard_api::ApiError;

use crate::session::{check_form, Viewer};
use crate::view::{html, time, Chrome};
use crate::{Ui, UiError};

struct Letter {
    id: i64,
    when: String,
    event: String,
    rule: String,
    target: String,
    attempts: i64,
    error_code: String,
    error: String,
}

#[derive(Template)]
#[template(path = "dlq.html")]
struct DlqPage {
    chrome: Chrome,
    notice: Option<String>,
    letters: Vec<Letter>,
    can_redrive: bool,
    /// (name, bus, pattern, events, retention)
    archives: Vec<(String, String, String, i64, String)>,
    /// (name, archive, state, replayed, window)
    replays: Vec<(String, String, String, i64, String)>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DlqQuery {
    redriven: Option<u64>,
}

pub async fn page(State(ui): State<Ui>, viewer: Viewer, Query(query): Query<DlqQuery>) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/dlq", &[]).await?;
    let store = ui.app.bus.store();
    let letters = store
        .list_dead_letters(200)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|d| Letter {
            id: d.id,
            when: time(Some(d.creation_time)),
            event: d.event_id,
            rule: d.rule,
            target: d.target_id,
            attempts: d.attempts,
            error_code: d.error_code,
            error: d.error_message,
        })
        .collect();
    let archives = match ui.could(&viewer, "get", "/archives", &[]).await {
        true => store.list_archives().await.map_err(ApiError::from)?,
        false => Vec::new(),
    };
    let replays = match ui.could(&viewer, "get", "/replays", &[]).await {
        true => store.list_replays().await.map_err(ApiError::from)?,
        false => Vec::new(),
    };
    let page = DlqPage {
        chrome: viewer.chrome("Dead letters and archives", "dlq"),
        notice: query.redriven.map(|n| format!("{n} dead letter(s) sent back for delivery.")),
        letters,
        can_redrive: ui.could(&viewer, "post", "/dlq/redrive", &[]).await,
        archives: archives
            .into_iter()
            .map(|a| {
                let retention =
                    if a.retention_days == 0 { "forever".into() } else { format!("{} days", a.retention_days) };
                (a.archive_name, a.event_bus_name, a.event_pattern.unwrap_or_default(), a.event_count, retention)
            })
            .collect(),
        replays: replays
            .into_iter()
            .map(|r| {
                let window = format!("{} – {}", time(Some(r.event_start_time)), time(Some(r.event_end_time)));
                (r.replay_name, r.archive_name, r.state, r.events_replayed, window)
            })
            .collect(),
    };
    html(&page)
}

#[derive(Deserialize)]
pub struct RedriveForm {
    #[serde(default)]
    csrf: String,
    id: Option<i64>,
    #[serde(default)]
    all: bool,
}

pub async fn redrive(
    State(ui): State<Ui>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<RedriveForm>,
) -> Result<Response, UiError> {
    check_form(&viewer, &headers, &form.csrf)?;
    let ids = match (form.id, form.all) {
        (Some(id), false) => vec![id],
        (None, true) => Vec::new(),
        _ => return Err(UiError::BadRequest("redrive one dead letter (id) or all of them (all=true)".into())),
    };
    let allowed = ui.may(&viewer, "post", "/dlq/redrive", &[]).await?;
    let chosen = (!ids.is_empty()).then_some(ids.as_slice());
    let result = ui.app.bus.redrive(chosen, Utc::now()).await.map_err(ApiError::from);
    allowed.finish(&ui.app, result.as_ref().err()).await;
    Ok(Redirect::to(&format!("/ui/dlq?redriven={}", result?)).into_response())
}
