//! Where images come from: the registry's repositories and tags (digest, size, push time,
//! the build and commit that made each), builds with their logs, and followed sources.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use trainyard_api::ApiError;

use crate::session::Viewer;
use crate::view::{duration, html, json_time, stage_status, time, Chrome};
use crate::{Ui, UiError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BuildDoc {
    id: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    branch: String,
    #[serde(default)]
    source_version: String,
    #[serde(default)]
    build_status: String,
    reason: Option<String>,
    repository: Option<String>,
    image_digest: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
}

fn short_digest(digest: &str) -> String {
    digest.strip_prefix("sha256:").map_or(digest.to_string(), |hex| format!("sha256:{}", &hex[..hex.len().min(12)]))
}

fn short_commit(commit: &str) -> String {
    commit[..commit.len().min(12)].to_string()
}

fn at(t: &Option<String>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.as_deref().and_then(|t| json_time(&Value::from(t)))
}

async fn builds(ui: &Ui) -> Result<Vec<BuildDoc>, UiError> {
    let value = ui.app.builds.list(None).await.map_err(ApiError::from)?;
    Ok(value["Builds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| serde_json::from_value(b.clone()).ok())
        .collect())
}

struct Tagged {
    tag: String,
    digest: String,
    short: String,
    size: String,
    pushed: String,
    build: Option<String>,
    commit: String,
}

struct Repository {
    name: String,
    images: i64,
    tags: i64,
    tagged: Vec<Tagged>,
}

#[derive(Template)]
#[template(path = "images.html")]
struct ImagesPage {
    chrome: Chrome,
    host: String,
    repositories: Vec<Repository>,
}

/// `12.3 MB`
fn size(bytes: Option<u64>) -> String {
    bytes.map(|b| format!("{:.1} MB", b as f64 / 1e6)).unwrap_or_default()
}

pub async fn images(State(ui): State<Ui>, viewer: Viewer, headers: HeaderMap) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/repositories", &[]).await?;
    let built = if ui.could(&viewer, "get", "/builds", &[]).await { builds(&ui).await? } else { Vec::new() };
    let listed = ui.app.registry.list_repositories_json().await.map_err(ApiError::from)?;
    let mut repositories = Vec::new();
    for r in listed["Repositories"].as_array().into_iter().flatten().take(50) {
        let name = r["RepositoryName"].as_str().unwrap_or_default().to_string();
        // Only the repositories whose images the caller may list.
        if !ui.could(&viewer, "get", "/images", &[("repository", &name)]).await {
            continue;
        }
        let images = ui.app.registry.list_images_json(Some(&name)).await.map_err(ApiError::from)?;
        // Sizes need DescribeImages on the repository: decided once, not per tag.
        let may_describe = ui.could(&viewer, "get", "/images/describe", &[("repository", &name)]).await;
        let mut tagged = Vec::new();
        for t in images["Images"].as_array().into_iter().flatten().take(100) {
            let digest = t["ImageDigest"].as_str().unwrap_or_default().to_string();
            let described = match may_describe {
                true => ui.app.registry.describe_image_json(&format!("{name}@{digest}")).await.ok(),
                false => None,
            };
            let build = built
                .iter()
                .find(|b| b.image_digest.as_deref() == Some(&digest) && b.repository.as_deref() == Some(&name));
            tagged.push(Tagged {
                tag: t["ImageTag"].as_str().unwrap_or_default().to_string(),
                short: short_digest(&digest),
                size: size(described.as_ref().and_then(|d| d["ImageSizeInBytes"].as_u64())),
                pushed: time(t["ImagePushedAt"].as_str().and_then(|s| json_time(&Value::from(s)))),
                build: build.map(|b| b.id.clone()),
                commit: build.map(|b| short_commit(&b.source_version)).unwrap_or_default(),
                digest,
            });
        }
        repositories.push(Repository {
            images: r["ImageCount"].as_i64().unwrap_or(0),
            tags: r["TagCount"].as_i64().unwrap_or(0),
            tagged,
            name,
        });
    }
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("HOST").to_string();
    html(&ImagesPage { chrome: viewer.chrome("Images", "images"), host, repositories })
}

struct BuildRow {
    id: String,
    short_id: String,
    status: String,
    status_class: &'static str,
    source: String,
    branch: String,
    commit: String,
    image: String,
    started: String,
    took: String,
}

struct SourceRow {
    name: String,
    url: String,
    branch: String,
    head: String,
    poll: String,
    webhook: &'static str,
}

#[derive(Template)]
#[template(path = "builds.html")]
struct BuildsPage {
    chrome: Chrome,
    builds: Vec<BuildRow>,
    sources: Vec<SourceRow>,
}

fn image_of(b: &BuildDoc) -> String {
    match (&b.repository, &b.image_digest) {
        (Some(r), Some(d)) => format!("{r}@{}", short_digest(d)),
        _ => String::new(),
    }
}

pub async fn builds_page(State(ui): State<Ui>, viewer: Viewer) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/builds", &[]).await?;
    ui.may(&viewer, "get", "/sources", &[]).await?;
    let builds = builds(&ui)
        .await?
        .into_iter()
        .take(100)
        .map(|b| BuildRow {
            short_id: b.id.chars().take(8).collect(),
            status_class: stage_status(&b.build_status),
            commit: short_commit(&b.source_version),
            image: image_of(&b),
            started: time(at(&b.start_time)),
            took: duration(at(&b.start_time), at(&b.end_time)),
            status: b.build_status,
            source: b.source,
            branch: b.branch,
            id: b.id,
        })
        .collect();
    let listed = ui.app.sources.list().await.map_err(ApiError::from)?;
    let sources = listed["Sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| SourceRow {
            name: s["Name"].as_str().unwrap_or_default().to_string(),
            url: s["Url"].as_str().unwrap_or_default().to_string(),
            branch: s["Branch"].as_str().unwrap_or_default().to_string(),
            head: short_commit(s["Head"].as_str().unwrap_or_default()),
            poll: s["PollIntervalSeconds"].as_i64().map(|p| format!("every {p} s")).unwrap_or_else(|| "off".into()),
            webhook: if s["Webhook"].as_bool() == Some(true) { "signed" } else { "none" },
        })
        .collect();
    html(&BuildsPage { chrome: viewer.chrome("Builds", "builds"), builds, sources })
}

#[derive(Template)]
#[template(path = "build.html")]
struct BuildPage {
    chrome: Chrome,
    id: String,
    status: String,
    status_class: &'static str,
    reason: String,
    source: String,
    branch: String,
    commit: String,
    image: String,
    started: String,
    took: String,
    log: String,
}

pub async fn build(State(ui): State<Ui>, viewer: Viewer, Path(id): Path<String>) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/builds/{id}", &[("id", &id)]).await?;
    let value = ui.app.builds.describe(&id).await.map_err(ApiError::from)?;
    let b: BuildDoc = serde_json::from_value(value).map_err(|e| UiError::BadRequest(e.to_string()))?;
    let log = match ui.could(&viewer, "get", "/builds/{id}/logs", &[("id", &id)]).await {
        true => ui.app.builds.logs(&id).await.map_err(ApiError::from)?,
        false => "(your policies do not allow reading build logs)".to_string(),
    };
    let page = BuildPage {
        chrome: viewer.chrome(format!("Build {id}"), "builds"),
        status_class: stage_status(&b.build_status),
        reason: b.reason.clone().unwrap_or_default(),
        commit: b.source_version.clone(),
        image: image_of(&b),
        started: time(at(&b.start_time)),
        took: duration(at(&b.start_time), at(&b.end_time)),
        status: b.build_status,
        source: b.source,
        branch: b.branch,
        log,
        id,
    };
    html(&page)
}
