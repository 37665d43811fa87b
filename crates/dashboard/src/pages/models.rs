//! The model registry: groups, versions with their approval status, headline metric, gate
//! and lineage; approve and reject (as the caller's policies allow); two versions' reports
//! compared with the gate's conditions.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::Value;
use trainyard_api::ApiError;
use trainyard_models::registry::UpdateStatus;

use crate::session::{check_form, Viewer};
use crate::view::{html, json_time, stage_status, time, url_encode, Chrome};
use crate::{Ui, UiError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupDoc {
    model_package_group_name: String,
    #[serde(default)]
    model_package_group_description: String,
    #[serde(default)]
    approval_mode: String,
    creation_time: Option<String>,
    #[serde(default)]
    aliases: std::collections::BTreeMap<String, i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupsDoc {
    model_package_group_summary_list: Vec<GroupDoc>,
}

struct GroupRow {
    name: String,
    description: String,
    approval_mode: String,
    created: String,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    chrome: Chrome,
    groups: Vec<GroupRow>,
}

pub async fn groups(State(ui): State<Ui>, viewer: Viewer) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/model-package-groups", &[]).await?;
    let value = ui.app.models.list_groups().await.map_err(ApiError::from)?;
    let doc: GroupsDoc = serde_json::from_value(value).map_err(|e| UiError::BadRequest(e.to_string()))?;
    let groups = doc
        .model_package_group_summary_list
        .into_iter()
        .map(|g| GroupRow {
            created: time(g.creation_time.as_deref().and_then(|t| json_time(&Value::from(t)))),
            name: g.model_package_group_name,
            description: g.model_package_group_description,
            approval_mode: g.approval_mode,
        })
        .collect();
    html(&GroupsPage { chrome: viewer.chrome("Models", "models"), groups })
}

/// A version as `DescribeModelPackage` answers it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionDoc {
    model_package_version: i64,
    model_approval_status: String,
    #[serde(default)]
    approval_description: String,
    creation_time: Option<String>,
    #[serde(default)]
    model_metrics: Value,
    #[serde(default)]
    gate_decision: Value,
    #[serde(default)]
    metadata_properties: Value,
}

/// A metric of a report: its value and bootstrap standard deviation.
struct ReportMetric {
    name: String,
    value: f64,
    deviation: f64,
}

impl VersionDoc {
    /// The report's scalar metrics, in the report's order.
    fn metrics(&self) -> Vec<ReportMetric> {
        let Some(kinds) = self.model_metrics.as_object() else { return Vec::new() };
        kinds
            .values()
            .filter_map(Value::as_object)
            .flat_map(|metrics| metrics.iter())
            .filter_map(|(name, m)| {
                Some(ReportMetric {
                    name: name.clone(),
                    value: m.get("value")?.as_f64()?,
                    deviation: m.get("standard_deviation").and_then(Value::as_f64).unwrap_or(0.0),
                })
            })
            .collect()
    }

    fn gate(&self) -> &'static str {
        match self.gate_decision.get("passed").and_then(Value::as_bool) {
            Some(true) => "passed",
            Some(false) => "failed",
            None => "",
        }
    }
}

struct VersionRow {
    number: i64,
    status: String,
    status_class: &'static str,
    description: String,
    headline: String,
    gate: &'static str,
    job: Option<String>,
    image: Option<String>,
    created: String,
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage {
    chrome: Chrome,
    name: String,
    description: String,
    aliases: Vec<(String, i64)>,
    notice: Option<String>,
    headline: String,
    versions: Vec<VersionRow>,
    can_approve: bool,
    compare_a: String,
    compare_b: String,
}

async fn version_doc(ui: &Ui, group: &str, version: &str) -> Result<VersionDoc, UiError> {
    let value = ui.app.models.describe_version(group, version).await.map_err(ApiError::from)?;
    serde_json::from_value(value).map_err(|e| UiError::BadRequest(format!("{group}/{version}: {e}")))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct GroupQuery {
    changed: String,
}

pub async fn group(
    State(ui): State<Ui>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(query): Query<GroupQuery>,
) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/model-package-groups/{name}/versions", &[("name", &name)]).await?;
    // The group's description and aliases are DescribeModelPackageGroup's to show.
    let group: Option<GroupDoc> =
        match ui.could(&viewer, "get", "/model-package-groups/{name}", &[("name", &name)]).await {
            true => Some(
                serde_json::from_value(ui.app.models.describe_group(&name).await.map_err(ApiError::from)?)
                    .map_err(|e| UiError::BadRequest(e.to_string()))?,
            ),
            false => None,
        };
    let listed = ui.app.models.list_versions(&name).await.map_err(ApiError::from)?;
    let mut numbers: Vec<i64> = listed["ModelPackageSummaryList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["ModelPackageVersion"].as_i64())
        .collect();
    numbers.sort_unstable_by(|a, b| b.cmp(a));
    let mut versions = Vec::new();
    let mut headline = String::new();
    for number in numbers.iter().take(100) {
        let version = number.to_string();
        let template = "/model-package-groups/{name}/versions/{version}";
        if !ui.could(&viewer, "get", template, &[("name", &name), ("version", &version)]).await {
            // What listing the versions says, without the version's own details.
            let summary = listed["ModelPackageSummaryList"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|v| v["ModelPackageVersion"] == *number);
            let status = summary.and_then(|v| v["ModelApprovalStatus"].as_str()).unwrap_or_default().to_string();
            versions.push(VersionRow {
                number: *number,
                status_class: stage_status(&status),
                status,
                description: String::new(),
                headline: String::new(),
                gate: "",
                job: None,
                image: None,
                created: time(
                    summary.and_then(|v| v["CreationTime"].as_str()).and_then(|t| json_time(&Value::from(t))),
                ),
            });
            continue;
        }
        let v = version_doc(&ui, &name, &version).await?;
        let metrics = v.metrics();
        if headline.is_empty() {
            headline = metrics
                .iter()
                .find(|m| m.name == "auc")
                .or(metrics.first())
                .map(|m| m.name.clone())
                .unwrap_or_default();
        }
        let shown = metrics.iter().find(|m| m.name == headline).map(|m| format!("{:.4} ± {:.4}", m.value, m.deviation));
        versions.push(VersionRow {
            number: v.model_package_version,
            status_class: stage_status(&v.model_approval_status),
            status: v.model_approval_status.clone(),
            description: v.approval_description.clone(),
            headline: shown.unwrap_or_default(),
            gate: v.gate(),
            job: v.metadata_properties["TrainingJobName"].as_str().map(str::to_string),
            image: v.metadata_properties["TrainingImage"].as_str().map(str::to_string),
            created: time(v.creation_time.as_deref().and_then(|t| json_time(&Value::from(t)))),
        });
    }
    let can_approve = ui
        .could(
            &viewer,
            "post",
            "/model-package-groups/{name}/versions/{version}/status",
            &[("name", &name), ("version", "1")],
        )
        .await;
    let notice = (!query.changed.is_empty()).then(|| {
        format!(
            "Version {} is now {}.",
            query.changed,
            versions.iter().find(|v| v.number.to_string() == query.changed).map_or("changed", |v| v.status.as_str())
        )
    });
    let page = GroupPage {
        chrome: viewer.chrome(format!("Model group {name}"), "models"),
        description: group.as_ref().map(|g| g.model_package_group_description.clone()).unwrap_or_default(),
        aliases: group.map(|g| g.aliases.into_iter().collect()).unwrap_or_default(),
        notice,
        headline: if headline.is_empty() { "Metric".into() } else { headline },
        compare_a: numbers.get(1).map(i64::to_string).unwrap_or_default(),
        compare_b: numbers.first().map(i64::to_string).unwrap_or_default(),
        versions,
        can_approve,
        name,
    };
    html(&page)
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
}

pub async fn set_status(
    State(ui): State<Ui>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
    Form(form): Form<StatusForm>,
) -> Result<Response, UiError> {
    check_form(&viewer, &headers, &form.csrf)?;
    let template = "/model-package-groups/{name}/versions/{version}/status";
    let allowed = ui.may(&viewer, "post", template, &[("name", &name), ("version", &version)]).await?;
    let request =
        UpdateStatus { model_approval_status: form.status, approval_description: "from the dashboard".into() };
    let result =
        ui.app.models.update_status(&name, &version, request, &viewer.identity.arn).await.map_err(ApiError::from);
    allowed.finish(&ui.app, result.as_ref().err()).await;
    result?;
    let to = format!("/ui/models/{}?changed={}#v{}", url_encode(&name), url_encode(&version), url_encode(&version));
    Ok(Redirect::to(&to).into_response())
}

#[derive(Deserialize)]
pub struct CompareQuery {
    a: Option<String>,
    b: Option<String>,
}

struct MetricRow {
    name: String,
    a: f64,
    b: f64,
    a_text: String,
    b_text: String,
    difference: String,
    class: &'static str,
}

struct ConditionRow {
    condition: String,
    passed: bool,
    detail: String,
}

#[derive(Template)]
#[template(path = "compare.html")]
struct ComparePage {
    chrome: Chrome,
    name: String,
    a: String,
    b: String,
    metrics: Vec<MetricRow>,
    champion: Option<String>,
    gate: Vec<ConditionRow>,
}

pub async fn compare(
    State(ui): State<Ui>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(query): Query<CompareQuery>,
) -> Result<Response, UiError> {
    let (Some(a), Some(b)) = (query.a.filter(|a| !a.is_empty()), query.b.filter(|b| !b.is_empty())) else {
        return Err(UiError::BadRequest("compare needs two versions: ?a=N&b=M".into()));
    };
    for version in [&a, &b] {
        ui.may(
            &viewer,
            "get",
            "/model-package-groups/{name}/versions/{version}",
            &[("name", &name), ("version", version)],
        )
        .await?;
    }
    let (left, right) = (version_doc(&ui, &name, &a).await?, version_doc(&ui, &name, &b).await?);
    let right_metrics = right.metrics();
    let metrics = left
        .metrics()
        .into_iter()
        .filter_map(|l| {
            let r = right_metrics.iter().find(|r| r.name == l.name)?;
            let differs = (r.value - l.value).abs() > l.deviation + r.deviation;
            Some(MetricRow {
                a_text: format!("{:.4} ± {:.4}", l.value, l.deviation),
                b_text: format!("{:.4} ± {:.4}", r.value, r.deviation),
                difference: format!(
                    "{:+.4}{}",
                    r.value - l.value,
                    if differs { " (beyond the deviations)" } else { "" }
                ),
                class: if differs { "differs" } else { "same" },
                a: l.value,
                b: r.value,
                name: l.name,
            })
        })
        .collect();
    let gate = right.gate_decision["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| ConditionRow {
            condition: c["condition"].as_str().unwrap_or_default().to_string(),
            passed: c["passed"].as_bool().unwrap_or(false),
            detail: match (c["left"].as_f64(), c["right"].as_f64(), c["note"].as_str()) {
                (_, _, Some(note)) => note.to_string(),
                (Some(l), Some(r), None) => format!("{l:.4} against {r:.4}"),
                _ => String::new(),
            },
        })
        .collect();
    let champion = right.gate_decision["champion"].as_str().map(str::to_string);
    let chrome = viewer.chrome(format!("{name}: {a} against {b}"), "models");
    html(&ComparePage { chrome, name, a, b, metrics, champion, gate })
}
