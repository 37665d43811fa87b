//! Training jobs: a server-side paged, filtered and sorted list (its state in the URL),
//! and a job's page — status, hyperparameters, a chart per metric and the log — live
//! while the job runs, kept (and downloadable) after it ends.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use trainyard_api::ApiError;
use trainyard_store::{JobPage, JobSort};

use crate::live::{self, Fragment, Frame};
use crate::session::Viewer;
use crate::view::{duration, html, json_time, stage_status, time, url_encode, Chrome};
use crate::{Ui, UiError};

/// Rows on a page of the list.
const PAGE_SIZE: i64 = 50;
/// The most of a log a page shows (its end); the download has all of it.
const LOG_SHOWN: u64 = 64 * 1024;
/// The most points per metric the data table (and so the chart) carries.
const POINTS_SHOWN: usize = 2000;

const STATUSES: &[&str] = &["", "InProgress", "Completed", "Failed", "Stopping", "Stopped"];

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    name: String,
    status: String,
    sort: String,
    page: i64,
}

impl ListQuery {
    fn sort(&self) -> (JobSort, bool, &'static str) {
        match self.sort.as_str() {
            "name" => (JobSort::Name, false, "name"),
            "-name" => (JobSort::Name, true, "-name"),
            "status" => (JobSort::Status, false, "status"),
            "-status" => (JobSort::Status, true, "-status"),
            "created" => (JobSort::Created, false, "created"),
            _ => (JobSort::Created, true, "-created"),
        }
    }

    fn link(&self, sort: &str, page: i64) -> String {
        format!(
            "/ui/training-jobs?name={}&status={}&sort={}&page={page}",
            url_encode(&self.name),
            url_encode(&self.status),
            url_encode(sort)
        )
    }
}

struct JobRow {
    name: String,
    status: String,
    status_class: &'static str,
    created: String,
    took: String,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage<'a> {
    chrome: Chrome,
    statuses: &'a [&'a str],
    filter_name: &'a str,
    filter_status: &'a str,
    sort: &'a str,
    total: i64,
    first: i64,
    last: i64,
    jobs: Vec<JobRow>,
    prev: Option<String>,
    next: Option<String>,
    query: &'a ListQuery,
}

impl JobsPage<'_> {
    fn sort_link(&self, column: &str) -> String {
        let next = if self.sort == column { format!("-{column}") } else { column.to_string() };
        self.query.link(&next, 0)
    }

    fn aria_sort(&self, column: &str) -> &'static str {
        match self.sort.strip_prefix('-') {
            Some(c) if c == column => "descending",
            None if self.sort == column => "ascending",
            _ => "none",
        }
    }
}

pub async fn list(State(ui): State<Ui>, viewer: Viewer, Query(query): Query<ListQuery>) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/training-jobs", &[]).await?;
    if !STATUSES.contains(&query.status.as_str()) {
        return Err(UiError::BadRequest(format!(
            "status {:?} is not one of {}",
            query.status,
            STATUSES[1..].join(", ")
        )));
    }
    let (sort, descending, sort_word) = query.sort();
    let page = query.page.max(0);
    let request = JobPage {
        status: Some(query.status.as_str()).filter(|s| !s.is_empty()),
        name_contains: Some(query.name.as_str()).filter(|s| !s.is_empty()),
        sort,
        descending,
        offset: page * PAGE_SIZE,
        limit: PAGE_SIZE,
    };
    let (records, total) = ui.app.jobs.page(&request).await.map_err(ApiError::from)?;
    let shown = records.len() as i64;
    let jobs = records
        .into_iter()
        .map(|j| JobRow {
            status_class: stage_status(&j.status),
            created: time(Some(j.created_at)),
            took: duration(j.training_start.or(Some(j.created_at)), j.training_end),
            status: j.status,
            name: j.name,
        })
        .collect();
    let next = (page * PAGE_SIZE + shown < total).then(|| query.link(sort_word, page + 1));
    let prev = (page > 0).then(|| query.link(sort_word, page - 1));
    html(&JobsPage {
        chrome: viewer.chrome("Training jobs", "jobs"),
        statuses: STATUSES,
        filter_name: &query.name,
        filter_status: &query.status,
        sort: sort_word,
        total,
        first: page * PAGE_SIZE + 1,
        last: page * PAGE_SIZE + shown,
        jobs,
        prev,
        next,
        query: &query,
    })
}

/// A job as `DescribeTrainingJob` answers it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JobDoc {
    training_job_status: String,
    secondary_status: String,
    failure_reason: Option<String>,
    creation_time: Option<String>,
    training_start_time: Option<String>,
    training_end_time: Option<String>,
    #[serde(default)]
    hyper_parameters: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    algorithm_specification: Value,
    #[serde(default)]
    model_artifacts: Value,
    #[serde(default)]
    input_data_config: Vec<Value>,
}

/// Where a job's inputs came from and what it led to, each a link.
pub struct Lineage {
    data: Vec<(String, String)>,
    build: Option<(String, String)>,
    run: Option<String>,
    version: Option<(String, String)>,
    endpoint: Option<String>,
}

async fn lineage(ui: &Ui, viewer: &Viewer, name: &str, job: &JobDoc) -> Lineage {
    let data = job
        .input_data_config
        .iter()
        .map(|c| {
            let uri = c["DataSource"]["S3DataSource"]["S3Uri"].as_str().unwrap_or_default();
            (c["ChannelName"].as_str().unwrap_or_default().to_string(), uri.to_string())
        })
        .collect();
    let digest = job.algorithm_specification["TrainingImage"]
        .as_str()
        .and_then(|i| i.split_once('@'))
        .map(|(_, d)| d.to_string());
    let mut build = None;
    if let Some(digest) = digest {
        if ui.could(viewer, "get", "/builds", &[]).await {
            if let Ok(builds) = ui.app.builds.list(None).await {
                build = builds["Builds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|b| b["ImageDigest"] == digest.as_str())
                    .map(|b| {
                        let commit = b["SourceVersion"].as_str().unwrap_or_default();
                        (b["Id"].as_str().unwrap_or_default().to_string(), commit[..commit.len().min(12)].to_string())
                    });
            }
        }
    }
    // A pipeline's run is named after its training job.
    let mut lineage = Lineage { data, build, run: None, version: None, endpoint: None };
    if ui.could(viewer, "get", "/pipeline-runs/{id}", &[("id", name)]).await {
        if let Ok(run) = crate::pages::pipelines::run_doc(ui, name).await {
            for step in &run.steps {
                match (step.step.as_str(), step.resource.as_deref()) {
                    ("Registration", Some(r)) => {
                        lineage.version = r.split_once('/').map(|(g, v)| (g.to_string(), v.to_string()))
                    }
                    ("Deployment", Some(r)) => lineage.endpoint = Some(r.to_string()),
                    _ => {}
                }
            }
            lineage.run = Some(run.run_id);
        }
    }
    lineage
}

impl JobDoc {
    fn ended(&self) -> bool {
        matches!(self.training_job_status.as_str(), "Completed" | "Failed" | "Stopped")
    }
}

#[derive(Template)]
#[template(path = "job_status.html")]
struct JobStatus<'a> {
    status: &'a str,
    status_class: &'static str,
    secondary: &'a str,
    failure: Option<&'a str>,
    created: String,
    took: String,
    model: Option<&'a str>,
}

struct Summary {
    name: String,
    last: f64,
    min: f64,
    max: f64,
    count: usize,
}

struct Point {
    name: String,
    millis: i64,
    value: f64,
}

#[derive(Template)]
#[template(path = "job_metrics.html")]
struct Metrics {
    summaries: Vec<Summary>,
    points: Vec<Point>,
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPageView {
    chrome: Chrome,
    name: String,
    status_html: String,
    hyperparameters: Vec<(String, String)>,
    image: String,
    metrics_html: String,
    log: String,
    log_offset: u64,
    log_truncated: bool,
    lineage: Lineage,
}

async fn job_doc(ui: &Ui, name: &str) -> Result<JobDoc, UiError> {
    let value = ui.app.jobs.describe(name).await.map_err(ApiError::from)?;
    serde_json::from_value(value).map_err(|e| UiError::BadRequest(format!("job {name}: {e}")))
}

fn status_html(job: &JobDoc) -> Result<String, UiError> {
    let at = |t: &Option<String>| t.as_deref().and_then(|t| json_time(&Value::from(t)));
    Ok(JobStatus {
        status: &job.training_job_status,
        status_class: stage_status(&job.training_job_status),
        secondary: &job.secondary_status,
        failure: job.failure_reason.as_deref(),
        created: time(at(&job.creation_time)),
        took: duration(at(&job.training_start_time).or(at(&job.creation_time)), at(&job.training_end_time)),
        model: job.model_artifacts["S3ModelArtifacts"].as_str(),
    }
    .render()?)
}

async fn metrics_html(ui: &Ui, name: &str) -> Result<String, UiError> {
    let points = ui.app.jobs.metrics(name).await.map_err(ApiError::from)?;
    let mut summaries: Vec<Summary> = Vec::new();
    for p in &points {
        match summaries.iter_mut().find(|s| s.name == p.metric_name) {
            Some(s) => {
                s.last = p.value;
                s.min = s.min.min(p.value);
                s.max = s.max.max(p.value);
                s.count += 1;
            }
            None => summaries.push(Summary {
                name: p.metric_name.clone(),
                last: p.value,
                min: p.value,
                max: p.value,
                count: 1,
            }),
        }
    }
    let mut shown: Vec<Point> = Vec::new();
    for s in &summaries {
        let skip = s.count.saturating_sub(POINTS_SHOWN);
        shown.extend(points.iter().filter(|p| p.metric_name == s.name).skip(skip).map(|p| Point {
            name: p.metric_name.clone(),
            millis: p.timestamp.timestamp_millis(),
            value: p.value,
        }));
    }
    Ok(Metrics { summaries, points: shown }.render()?)
}

pub async fn job(State(ui): State<Ui>, viewer: Viewer, Path(name): Path<String>) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/training-jobs/{name}", &[("name", &name)]).await?;
    let job = job_doc(&ui, &name).await?;
    let (metrics, logs) = readable(&ui, &viewer, &name).await;
    let metrics_html = match metrics {
        true => metrics_html(&ui, &name).await?,
        false => NOT_ALLOWED_METRICS.to_string(),
    };
    let (log, log_offset, log_truncated) = match logs {
        true => log_tail(&ui, &name).await?,
        false => ("(your policies do not allow reading this job's log)".to_string(), 0, false),
    };
    let lineage = lineage(&ui, &viewer, &name, &job).await;
    let page = JobPageView {
        lineage,
        chrome: viewer.chrome(format!("Training job {name}"), "jobs"),
        status_html: status_html(&job)?,
        hyperparameters: job.hyper_parameters.clone().into_iter().collect(),
        image: job.algorithm_specification["TrainingImage"].as_str().unwrap_or("(built-in)").to_string(),
        metrics_html,
        log,
        log_offset,
        log_truncated,
        name,
    };
    html(&page)
}

/// The end of the log (at most [`LOG_SHOWN`] bytes, from a line's start), the offset after
/// it, and whether an earlier part is left out.
async fn log_tail(ui: &Ui, name: &str) -> Result<(String, u64, bool), UiError> {
    // Where the log ends now (a read past the end answers its length; no log yet is 0),
    // then only its end is read: a page costs the same whatever the log's size.
    let end = match ui.app.jobs.logs(name, u64::MAX).await.map_err(ApiError::from)?.next_offset {
        u64::MAX => 0,
        end => end,
    };
    // A little more than is shown, so the cut falls on a line's start.
    let mut offset = end.saturating_sub(LOG_SHOWN + 4096);
    let mut text = String::new();
    loop {
        let chunk = ui.app.jobs.logs(name, offset).await.map_err(ApiError::from)?;
        let read = chunk.next_offset - offset;
        text.push_str(&chunk.text);
        offset = chunk.next_offset;
        if read == 0 || chunk.complete || text.len() as u64 > 2 * LOG_SHOWN {
            break;
        }
    }
    keep_tail(&mut text, LOG_SHOWN as usize);
    Ok((text.clone(), offset, offset > text.len() as u64))
}

/// Keeps the last `keep` bytes of `text`, from the start of a line.
fn keep_tail(text: &mut String, keep: usize) {
    if text.len() <= keep {
        return;
    }
    let mut cut = text.len() - keep;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    if let Some(i) = text[cut..].find('\n') {
        cut += i + 1;
    }
    text.drain(..cut);
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_long_log_keeps_its_end_from_a_line_start() {
        let mut text = "é1234\nabcdef\nxyz\n".to_string();
        super::keep_tail(&mut text, 8);
        assert_eq!(text, "xyz\n");
        let mut short = "ab\n".to_string();
        super::keep_tail(&mut short, 8);
        assert_eq!(short, "ab\n");
    }
}

#[derive(Deserialize)]
pub struct LiveQuery {
    from: Option<u64>,
}

/// What the page says in place of metrics the caller may not read.
const NOT_ALLOWED_METRICS: &str = "<p>Your policies do not allow reading this job's metrics.</p>";

/// Whether the caller may read the job's metrics and its log (actions of their own).
async fn readable(ui: &Ui, viewer: &Viewer, name: &str) -> (bool, bool) {
    let metrics = ui.could(viewer, "get", "/training-jobs/{name}/metrics", &[("name", name)]).await;
    let logs = ui.could(viewer, "get", "/training-jobs/{name}/logs", &[("name", name)]).await;
    (metrics, logs)
}

pub async fn job_live(
    State(ui): State<Ui>,
    viewer: Viewer,
    headers: axum::http::HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<LiveQuery>,
) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/training-jobs/{name}", &[("name", &name)]).await?;
    let (metrics, logs) = readable(&ui, &viewer, &name).await;
    // A reconnect resumes the log where the last event it saw ended (its id), not where
    // the page began, so no line is shown twice.
    let resumed = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let offset = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(resumed.or(query.from).unwrap_or(0)));
    Ok(live::stream(&ui.clone(), None, move || {
        let (ui, name, offset) = (ui.clone(), name.clone(), offset.clone());
        async move {
            let job = job_doc(&ui, &name).await?;
            let mut fragments = vec![Fragment::replace("status", status_html(&job)?)];
            if metrics {
                fragments.push(Fragment::replace("metrics", metrics_html(&ui, &name).await?));
            }
            let mut complete = true;
            if logs {
                let from = offset.load(std::sync::atomic::Ordering::SeqCst);
                let chunk = ui.app.jobs.logs(&name, from).await.map_err(ApiError::from)?;
                offset.store(chunk.next_offset, std::sync::atomic::Ordering::SeqCst);
                complete = chunk.complete;
                fragments.push(Fragment {
                    event: "log",
                    html: crate::view::escape(&chunk.text),
                    append: true,
                    id: Some(chunk.next_offset.to_string()),
                });
            }
            Ok(Frame { busy: !job.ended() || !complete, fragments })
        }
    })
    .into_response())
}

/// The whole log as text, streamed from the job's log a chunk at a time.
pub async fn log_download(State(ui): State<Ui>, viewer: Viewer, Path(name): Path<String>) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/training-jobs/{name}/logs", &[("name", &name)]).await?;
    ui.app.jobs.describe(&name).await.map_err(ApiError::from)?;
    let jobs = ui.app.jobs.clone();
    let chunks = futures::stream::unfold(Some(0u64), move |offset| {
        let (jobs, name) = (jobs.clone(), name.clone());
        async move {
            let offset = offset?;
            match jobs.logs(&name, offset).await {
                Ok(chunk) if chunk.next_offset > offset => {
                    let next = Some(chunk.next_offset);
                    Some((Ok::<_, std::io::Error>(chunk.text.into_bytes()), next))
                }
                Ok(_) => None,
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    Ok((
        [(CONTENT_TYPE, "text/plain; charset=utf-8"), (CONTENT_DISPOSITION, "attachment")],
        axum::body::Body::from_stream(chunks),
    )
        .into_response())
}
