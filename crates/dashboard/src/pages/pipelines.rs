//! Pipelines, their runs, and a run's stages (build → image → training → evaluation and
//! gate → registration → deployment), live.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use crate::live::{self, Fragment, Frame};
use crate::session::Viewer;
use crate::view::{duration, html, json_time, stage_status, time, url_encode, Chrome};
use crate::{Ui, UiError};

/// The stages of every run, in order.
const STAGES: &[&str] = &["Build", "Image", "Training", "Evaluation", "Registration", "Deployment"];

/// A run as `Pipelines::describe_run` answers it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunDoc {
    pub run_id: String,
    pub pipeline: String,
    pub status: String,
    pub reason: Option<String>,
    pub trigger_type: Option<String>,
    pub start_time: Option<String>,
    pub last_modified_time: Option<String>,
    #[serde(default)]
    pub steps: Vec<StepDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepDoc {
    pub step: String,
    pub resource: Option<String>,
    pub status: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
}

pub struct StageView {
    pub name: &'static str,
    pub status: &'static str,
    pub detail: String,
    pub duration: String,
    pub href: Option<String>,
}

impl RunDoc {
    pub fn finished(&self) -> bool {
        matches!(self.status.as_str(), "Succeeded" | "Failed")
    }

    /// Every stage, each with its step's status; a stage the run has not reached is
    /// `Pending` while it runs and `Skipped` once it has ended.
    pub fn stages(&self) -> Vec<StageView> {
        STAGES
            .iter()
            .map(|name| match self.steps.iter().rev().find(|s| s.step == *name) {
                Some(step) => StageView {
                    name,
                    status: stage_status(&step.status),
                    detail: step.resource.as_deref().map(short).unwrap_or_default(),
                    duration: duration(
                        step.start_time.as_ref().and_then(|t| json_time(&Value::from(t.as_str()))),
                        step.end_time.as_ref().and_then(|t| json_time(&Value::from(t.as_str()))),
                    ),
                    href: step.resource.as_deref().and_then(|r| link(name, r)),
                },
                None => StageView {
                    name,
                    status: if self.finished() { "Skipped" } else { "Pending" },
                    detail: String::new(),
                    duration: String::new(),
                    href: None,
                },
            })
            .collect()
    }
}

/// A resource as a stage shows it: an image digest cut to 12 hex digits.
fn short(resource: &str) -> String {
    match resource.split_once("@sha256:") {
        Some((repository, digest)) => format!("{repository}@sha256:{}", &digest[..digest.len().min(12)]),
        None => resource.to_string(),
    }
}

/// Where a stage's resource has its page.
fn link(stage: &str, resource: &str) -> Option<String> {
    match stage {
        "Training" => Some(format!("/ui/training-jobs/{}", url_encode(resource))),
        "Registration" => resource
            .split_once('/')
            .map(|(group, version)| format!("/ui/models/{}#v{}", url_encode(group), url_encode(version))),
        "Deployment" => Some(format!("/ui/endpoints/{}", url_encode(resource))),
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "stages.html")]
pub struct Stages<'a> {
    pub run_id: &'a str,
    pub stages: Vec<StageView>,
}

#[derive(Template)]
#[template(path = "run_status.html")]
struct RunStatus<'a> {
    status: &'a str,
    status_class: &'static str,
    reason: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    chrome: Chrome,
    id: String,
    pipeline: String,
    trigger: String,
    status_html: String,
    stages_html: String,
}

pub async fn run_doc(ui: &Ui, id: &str) -> Result<RunDoc, UiError> {
    let value = ui.app.pipelines.describe_run(id).await.map_err(trainyard_api::ApiError::from)?;
    serde_json::from_value(value).map_err(|e| UiError::BadRequest(format!("run {id}: {e}")))
}

fn run_fragments(run: &RunDoc) -> Result<(String, String), UiError> {
    let status =
        RunStatus { status: &run.status, status_class: stage_status(&run.status), reason: run.reason.as_deref() };
    Ok((status.render()?, Stages { run_id: &run.run_id, stages: run.stages() }.render()?))
}

pub async fn run(State(ui): State<Ui>, viewer: Viewer, Path(id): Path<String>) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/pipeline-runs/{id}", &[("id", &id)]).await?;
    let run = run_doc(&ui, &id).await?;
    let (status_html, stages_html) = run_fragments(&run)?;
    let trigger = run.trigger_type.clone().unwrap_or_default();
    let page = RunPage {
        chrome: viewer.chrome(format!("Run {id}"), "overview"),
        id,
        pipeline: run.pipeline,
        trigger,
        status_html,
        stages_html,
    };
    html(&page)
}

pub async fn run_live(State(ui): State<Ui>, viewer: Viewer, Path(id): Path<String>) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/pipeline-runs/{id}", &[("id", &id)]).await?;
    Ok(axum::response::IntoResponse::into_response(live::stream(&ui.clone(), Some(format!("run:{id}")), move || {
        let (ui, id) = (ui.clone(), id.clone());
        async move {
            let run = run_doc(&ui, &id).await?;
            let (status, stages) = run_fragments(&run)?;
            Ok(Frame {
                busy: !run.finished(),
                fragments: vec![Fragment::replace("status", status), Fragment::replace("stages", stages)],
            })
        }
    })))
}

/// A run as the runs table lists it.
pub struct RunRow {
    pub id: String,
    pub status: String,
    pub status_class: &'static str,
    pub trigger: String,
    pub started: String,
    pub took: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunsDoc {
    runs: Vec<RunDoc>,
}

#[derive(Template)]
#[template(path = "runs.html")]
struct Runs {
    runs: Vec<RunRow>,
}

#[derive(Template)]
#[template(path = "pipeline.html")]
struct PipelinePage {
    chrome: Chrome,
    name: String,
    runs_html: String,
}

async fn runs_html(ui: &Ui, name: &str) -> Result<(String, bool), UiError> {
    let value = ui.app.pipelines.runs(name).await.map_err(trainyard_api::ApiError::from)?;
    let doc: RunsDoc =
        serde_json::from_value(value).map_err(|e| UiError::BadRequest(format!("runs of {name}: {e}")))?;
    let busy = doc.runs.iter().any(|r| !r.finished());
    let runs = doc
        .runs
        .into_iter()
        .take(100)
        .map(|r| {
            let (start, end) = (
                r.start_time.as_deref().and_then(|t| json_time(&Value::from(t))),
                r.last_modified_time.as_deref().and_then(|t| json_time(&Value::from(t))),
            );
            RunRow {
                status_class: stage_status(&r.status),
                took: if r.finished() { duration(start, end) } else { String::new() },
                started: time(start),
                trigger: r.trigger_type.unwrap_or_default(),
                status: r.status,
                id: r.run_id,
            }
        })
        .collect();
    Ok((Runs { runs }.render()?, busy))
}

pub async fn pipeline(State(ui): State<Ui>, viewer: Viewer, Path(name): Path<String>) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/pipelines/{name}/runs", &[("name", &name)]).await?;
    let (runs_html, _) = runs_html(&ui, &name).await?;
    html(&PipelinePage { chrome: viewer.chrome(format!("Pipeline {name}"), "overview"), name, runs_html })
}

pub async fn pipeline_live(
    State(ui): State<Ui>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/pipelines/{name}/runs", &[("name", &name)]).await?;
    Ok(axum::response::IntoResponse::into_response(live::stream(
        &ui.clone(),
        Some(format!("pipeline:{name}")),
        move || {
            let (ui, name) = (ui.clone(), name.clone());
            async move {
                let (runs, busy) = runs_html(&ui, &name).await?;
                Ok(Frame { busy, fragments: vec![Fragment::replace("runs", runs)] })
            }
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: &str, steps: serde_json::Value) -> RunDoc {
        serde_json::from_value(serde_json::json!({"RunId": "r", "Pipeline": "p", "Status": status, "Steps": steps}))
            .unwrap()
    }

    #[test]
    fn stages_not_reached_are_pending_then_skipped() {
        let steps = serde_json::json!([{"Step": "Training", "Resource": "job-1", "Status": "InProgress"}]);
        let running = run("Running", steps.clone());
        let stages = running.stages();
        assert_eq!(
            stages.iter().map(|s| s.status).collect::<Vec<_>>(),
            ["Pending", "Pending", "InProgress", "Pending", "Pending", "Pending"]
        );
        assert_eq!(stages[2].href.as_deref(), Some("/ui/training-jobs/job-1"));
        let failed = run("Failed", steps);
        assert_eq!(failed.stages()[0].status, "Skipped");
    }

    #[test]
    fn stage_markup_escapes_what_users_named() {
        let steps =
            serde_json::json!([{"Step": "Deployment", "Resource": "<script>x</script>", "Status": "Completed"}]);
        let html = Stages { run_id: "r", stages: run("Succeeded", steps).stages() }.render().unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("data-stage=\"Deployment\" data-status=\"Succeeded\""));
    }
}
