//! Endpoints: variants and their share of traffic (the live routing itself, so a canary's
//! split moves on screen as it moves in the data plane), per-variant requests, errors and
//! latency, and the deployment in progress or the last one with its outcome.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use trainyard_api::ApiError;

use crate::live::{self, Fragment, Frame};
use crate::session::Viewer;
use crate::view::{html, json_time, stage_status, time, Chrome};
use crate::{Ui, UiError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointDoc {
    endpoint_name: String,
    endpoint_status: String,
    endpoint_config_name: Option<String>,
    last_modified_time: Option<String>,
    failure_reason: Option<String>,
    #[serde(default)]
    last_deployment: Value,
    #[serde(default)]
    pending_deployment_summary: Value,
    #[serde(default)]
    deployment_config: Value,
}

struct EndpointRow {
    name: String,
    status: String,
    status_class: &'static str,
    config: String,
    changed: String,
}

#[derive(Template)]
#[template(path = "endpoints.html")]
struct EndpointsPage {
    chrome: Chrome,
    endpoints: Vec<EndpointRow>,
}

pub async fn list(State(ui): State<Ui>, viewer: Viewer) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/endpoints", &[]).await?;
    let value = ui.app.endpoints.list().await.map_err(ApiError::from)?;
    let endpoints = value["Endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| serde_json::from_value::<EndpointDoc>(e.clone()).ok())
        .map(|e| EndpointRow {
            status_class: stage_status(&e.endpoint_status),
            changed: time(e.last_modified_time.as_deref().and_then(|t| json_time(&Value::from(t)))),
            config: e.endpoint_config_name.unwrap_or_default(),
            status: e.endpoint_status,
            name: e.endpoint_name,
        })
        .collect();
    html(&EndpointsPage { chrome: viewer.chrome("Endpoints", "endpoints"), endpoints })
}

struct Share {
    variant: String,
    model: String,
    /// Percent of traffic, rounded.
    weight: i64,
    new: bool,
}

#[derive(Template)]
#[template(path = "endpoint_state.html")]
struct EndpointState {
    status: String,
    status_class: &'static str,
    config: String,
    failure: Option<String>,
    split: Vec<Share>,
    deployment: String,
    /// The deployment's policy while one runs: traffic steps, bake, rollback alarms.
    policy: String,
    /// (variant, requests, errors, p50 ms, p99 ms)
    stats: Vec<(String, u64, u64, String, String)>,
    /// Since the last sample: (variant, req/s, error %, p50 ms, p99 ms), at `sampled` (ms).
    rates: Vec<(String, String, String, String, String)>,
    sampled: i64,
    history: Vec<HistoryRow>,
}

struct HistoryRow {
    time: String,
    stage: String,
    stage_class: &'static str,
    config: String,
    message: String,
}

/// The endpoint's deployment events, newest first (the deployment history).
async fn history(ui: &Ui, name: &str) -> Result<Vec<HistoryRow>, UiError> {
    let filter = trainyard_store::EventFilter {
        bus: None,
        source: Some("aws.sagemaker".into()),
        detail_type: Some("SageMaker Endpoint Deployment State Change".into()),
        since: None,
        after_seq: None,
        limit: 1000,
    };
    let events = ui.app.bus.store().list_events(&filter).await.map_err(ApiError::from)?;
    Ok(events
        .into_iter()
        .filter(|e| e.event["detail"]["EndpointName"] == name)
        .take(30)
        .map(|e| {
            let detail = &e.event["detail"];
            let pending = &detail["PendingDeploymentSummary"];
            let stage = detail["Stage"].as_str().unwrap_or_default().to_string();
            HistoryRow {
                time: time(Some(e.ingested_at)),
                stage_class: match stage.as_str() {
                    "Completed" => "Succeeded",
                    "Failed" | "RolledBack" | "RollingBack" => "Failed",
                    _ => "InProgress",
                },
                config: pending["EndpointConfigName"].as_str().unwrap_or_default().to_string(),
                message: pending["ProductionVariants"][0]["VariantStatus"][0]["StatusMessage"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                stage,
            }
        })
        .collect())
}

/// What a running deployment's configuration says, in words.
fn policy_words(config: &Value, started: Option<chrono::DateTime<chrono::Utc>>) -> String {
    let routing = &config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"];
    let step = routing["CanarySize"]["Value"].as_f64().or(routing["LinearStepSize"]["Value"].as_f64());
    let mut words = match (routing["Type"].as_str(), step) {
        (Some(kind), Some(step)) => format!("{} {step:.0} %", kind.to_lowercase()),
        (Some(kind), None) => kind.to_lowercase().replace('_', "-"),
        _ => "all at once".to_string(),
    };
    if let Some(wait) = routing["WaitIntervalInSeconds"].as_f64() {
        words.push_str(&format!(", bake {wait:.0} s per step"));
    }
    if let Some(started) = started {
        let elapsed = (chrono::Utc::now() - started).num_milliseconds() as f64 / 1000.0;
        words.push_str(&format!(", started {elapsed:.1} s ago"));
    }
    let alarms: Vec<&str> = config["AutoRollbackConfiguration"]["Alarms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["AlarmName"].as_str())
        .collect();
    if !alarms.is_empty() {
        words.push_str(&format!("; rolls back if {}", alarms.join(" or ")));
    }
    words
}

#[derive(Template)]
#[template(path = "endpoint.html")]
struct EndpointPage {
    chrome: Chrome,
    name: String,
    state_html: String,
}

/// The endpoint's state fragment, and whether a deployment is moving.
async fn state_html(ui: &Ui, name: &str) -> Result<(String, bool), UiError> {
    let value = ui.app.endpoints.describe(name).await.map_err(ApiError::from)?;
    let doc: EndpointDoc = serde_json::from_value(value).map_err(|e| UiError::BadRequest(e.to_string()))?;
    let mut split = Vec::new();
    let mut stats = Vec::new();
    let mut windows = Vec::new();
    if let Some(endpoint) = ui.app.endpoints.data().get(name) {
        let routing = endpoint.routing();
        let fleets =
            [(Some(&routing.live), 1.0 - routing.new_share, false), (routing.new.as_ref(), routing.new_share, true)];
        for (fleet, share, new) in fleets {
            let Some(fleet) = fleet else { continue };
            let total: f64 = fleet.variants.iter().map(|v| v.weight).sum::<f64>().max(f64::MIN_POSITIVE);
            for v in &fleet.variants {
                split.push(Share {
                    variant: v.name.clone(),
                    model: v.model_name.clone(),
                    weight: (100.0 * share * v.weight / total).round() as i64,
                    new,
                });
                let w = v.stats.snapshot();
                let ms = |q: f64| format!("{:.2}", 1000.0 * w.latency_quantile(q));
                let label = format!("{} ({})", v.name, v.model_name);
                stats.push((label.clone(), w.requests, w.errors, ms(0.5), ms(0.99)));
                windows.push((label, w));
            }
        }
    }
    let pending = !doc.pending_deployment_summary.is_null();
    let deployment = if pending {
        let started = doc.pending_deployment_summary["StartTime"].as_str().and_then(|t| json_time(&Value::from(t)));
        format!(
            "InProgress: {} since {}, new fleet at {:.0}%",
            doc.pending_deployment_summary["EndpointConfigName"].as_str().unwrap_or_default(),
            time(started),
            100.0 * doc.pending_deployment_summary["NewFleetShare"].as_f64().unwrap_or(0.0)
        )
    } else if let Some(outcome) = doc.last_deployment["Outcome"].as_str() {
        let reason = doc.last_deployment["Reason"].as_str().or(doc.last_deployment["FailureReason"].as_str());
        let ended = doc.last_deployment["EndTime"].as_str().and_then(|t| json_time(&Value::from(t)));
        format!(
            "Last deployment: {outcome} at {}{}",
            time(ended),
            reason.map(|r| format!(" — {r}")).unwrap_or_default()
        )
    } else {
        "No deployment yet.".to_string()
    };
    let policy = if pending {
        let started = doc.pending_deployment_summary["StartTime"].as_str().and_then(|t| json_time(&Value::from(t)));
        policy_words(&doc.deployment_config, started)
    } else {
        String::new()
    };
    let (sampled, rates) = ui.rates(name, windows);
    let state = EndpointState {
        status_class: stage_status(&doc.endpoint_status),
        status: doc.endpoint_status,
        config: doc.endpoint_config_name.unwrap_or_default(),
        failure: doc.failure_reason,
        split,
        deployment,
        policy,
        stats,
        rates,
        sampled,
        history: history(ui, name).await?,
    };
    Ok((state.render()?, pending))
}

pub async fn endpoint(State(ui): State<Ui>, viewer: Viewer, Path(name): Path<String>) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/endpoints/{name}", &[("name", &name)]).await?;
    let (state_html, _) = state_html(&ui, &name).await?;
    html(&EndpointPage { chrome: viewer.chrome(format!("Endpoint {name}"), "endpoints"), name, state_html })
}

pub async fn endpoint_live(
    State(ui): State<Ui>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/endpoints/{name}", &[("name", &name)]).await?;
    Ok(live::stream(&ui.clone(), Some(format!("endpoint:{name}")), move || {
        let (ui, name) = (ui.clone(), name.clone());
        async move {
            let (state, busy) = state_html(&ui, &name).await?;
            Ok(Frame { busy, fragments: vec![Fragment::replace("state", state)] })
        }
    })
    .into_response())
}

/// The last counters seen per endpoint, to turn counters into rates between renders.
#[derive(Default)]
pub struct Samples(std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Vec<(String, Window)>)>>);

use trainyard_endpoints::stats::Window;

impl Ui {
    /// Each variant's request rate, error share and latency since the previous sample of
    /// this endpoint, and when (ms since the epoch).
    fn rates(&self, name: &str, now: Vec<(String, Window)>) -> (i64, Vec<(String, String, String, String, String)>) {
        let mut samples = self.samples.0.lock().unwrap_or_else(|p| p.into_inner());
        let at = std::time::Instant::now();
        let previous = samples.insert(name.to_string(), (at, now.clone()));
        let Some((then, before)) = previous else { return (chrono::Utc::now().timestamp_millis(), Vec::new()) };
        let seconds = at.duration_since(then).as_secs_f64().max(0.001);
        let rates = now
            .iter()
            .map(|(label, w)| {
                let delta = before.iter().find(|(l, _)| l == label).map_or(w.clone(), |(_, b)| w.since(b));
                let errors =
                    if delta.requests == 0 { 0.0 } else { 100.0 * delta.errors as f64 / delta.requests as f64 };
                (
                    label.clone(),
                    format!("{:.1}", delta.requests as f64 / seconds),
                    format!("{errors:.2}"),
                    format!("{:.3}", 1000.0 * delta.latency_quantile(0.5)),
                    format!("{:.3}", 1000.0 * delta.latency_quantile(0.99)),
                )
            })
            .collect();
        (chrono::Utc::now().timestamp_millis(), rates)
    }
}
