//! The loop on one page: each pipeline's latest run as stage lights, failures first, and
//! the newest events, live.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use trainyard_store::EventFilter;

use crate::live::{self, Fragment, Frame};
use crate::pages::pipelines::{run_doc, Stages};
use crate::session::Viewer;
use crate::view::{html, stage_status, time, Chrome};
use crate::{Ui, UiError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PipelinesDoc {
    pipelines: Vec<PipelineDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PipelineDoc {
    name: String,
    last_run: Option<String>,
    last_run_status: Option<String>,
}

struct LatestRun {
    id: String,
    status: String,
    status_class: &'static str,
    reason: Option<String>,
    stages_html: String,
}

struct PipelineRow {
    name: String,
    run: Option<LatestRun>,
}

#[derive(Template)]
#[template(path = "overview_pipelines.html")]
struct Pipelines {
    pipelines: Vec<PipelineRow>,
}

pub struct EventRow {
    pub id: String,
    pub time: String,
    pub source: String,
    pub detail_type: String,
    pub rules: String,
}

#[derive(Template)]
#[template(path = "timeline.html")]
pub struct Timeline {
    pub events: Vec<EventRow>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    pipelines_html: String,
    timeline_html: String,
}

/// The pipelines with their latest runs (failures first), and whether any run is moving.
/// A run's stages are shown only with `runs` (the caller may describe any run); without
/// it, what listing pipelines says: the last run's id and status.
async fn pipelines_html(ui: &Ui, runs: bool) -> Result<(String, bool), UiError> {
    let value = ui.app.pipelines.list().await.map_err(trainyard_api::ApiError::from)?;
    let doc: PipelinesDoc = serde_json::from_value(value).map_err(|e| UiError::BadRequest(e.to_string()))?;
    let mut rows = Vec::with_capacity(doc.pipelines.len());
    let mut busy = false;
    for pipeline in doc.pipelines {
        let run = match &pipeline.last_run {
            Some(id) if !runs => {
                let status = pipeline.last_run_status.clone().unwrap_or_default();
                Some(LatestRun {
                    status_class: stage_status(&status),
                    id: id.clone(),
                    status,
                    reason: None,
                    stages_html: String::new(),
                })
            }
            Some(id) => match run_doc(ui, id).await {
                Ok(run) => {
                    busy |= !run.finished();
                    let stages_html = Stages { run_id: &run.run_id, stages: run.stages() }.render()?;
                    Some(LatestRun {
                        status_class: stage_status(&run.status),
                        id: run.run_id,
                        status: run.status,
                        reason: run.reason,
                        stages_html,
                    })
                }
                Err(_) => None,
            },
            None => None,
        };
        rows.push(PipelineRow { name: pipeline.name, run });
    }
    // Failures first, then by name.
    rows.sort_by_key(|r| (r.run.as_ref().is_none_or(|run| run.status_class != "Failed"), r.name.clone()));
    Ok((Pipelines { pipelines: rows }.render()?, busy))
}

/// The newest `limit` events of the default bus (what the pages authorize: listing the
/// default bus's events).
pub async fn event_rows(ui: &Ui, limit: i64) -> Result<Vec<EventRow>, UiError> {
    let filter = EventFilter {
        bus: Some("default".into()),
        source: None,
        detail_type: None,
        since: None,
        after_seq: None,
        limit,
    };
    let events = ui.app.bus.store().list_events(&filter).await.map_err(trainyard_api::ApiError::from)?;
    Ok(events
        .into_iter()
        .map(|e| EventRow {
            id: e.event["id"].as_str().unwrap_or_default().to_string(),
            time: time(Some(e.ingested_at)),
            source: e.event["source"].as_str().unwrap_or_default().to_string(),
            detail_type: e.event["detail-type"].as_str().unwrap_or_default().to_string(),
            rules: e.matched_rules.join(", "),
        })
        .collect())
}

/// Whether the caller may describe every pipeline run (`*`): what showing each pipeline's
/// latest run in one shared render needs.
async fn may_describe_runs(ui: &Ui, viewer: &Viewer) -> bool {
    ui.could(viewer, "get", "/pipeline-runs/{id}", &[("id", "*")]).await
}

pub async fn page(State(ui): State<Ui>, viewer: Viewer) -> Result<Response, UiError> {
    // The landing page: what the caller may not see is said, not refused.
    let pipelines_html = match ui.could(&viewer, "get", "/pipelines", &[]).await {
        true => pipelines_html(&ui, may_describe_runs(&ui, &viewer).await).await?.0,
        false => "<p>Your policies do not allow listing pipelines.</p>".to_string(),
    };
    let timeline_html = match ui.could(&viewer, "get", "/events", &[("bus", "default")]).await {
        true => Timeline { events: event_rows(&ui, 15).await? }.render()?,
        false => "<p>Your policies do not allow listing events.</p>".to_string(),
    };
    html(&OverviewPage { chrome: viewer.chrome("The loop", "overview"), pipelines_html, timeline_html })
}

pub async fn live(State(ui): State<Ui>, viewer: Viewer) -> Result<Response, UiError> {
    let pipelines = ui.could(&viewer, "get", "/pipelines", &[]).await;
    let runs = may_describe_runs(&ui, &viewer).await;
    let events = ui.could(&viewer, "get", "/events", &[("bus", "default")]).await;
    if !pipelines && !events {
        return Err(UiError::Forbidden("your policies allow neither listing pipelines nor events".into()));
    }
    Ok(axum::response::IntoResponse::into_response(live::stream(
        &ui.clone(),
        Some(format!("overview:{pipelines}:{runs}:{events}")),
        move || {
            let ui = ui.clone();
            async move {
                let mut fragments = Vec::new();
                let mut busy = false;
                if pipelines {
                    let (html, moving) = pipelines_html(&ui, runs).await?;
                    fragments.push(Fragment::replace("pipelines", html));
                    busy = moving;
                }
                if events {
                    fragments
                        .push(Fragment::replace("timeline", Timeline { events: event_rows(&ui, 15).await? }.render()?));
                }
                Ok(Frame { busy, fragments })
            }
        },
    )))
}
