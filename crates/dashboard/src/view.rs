//! What every page shares: the chrome (navigation, the signed-in caller, the CSRF token),
//! rendering to a response, authorization as an API route, and the small words pages
//! are made of (status classes, durations, times).

use askama::Template;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use trainyard_api::guard::{authorize_route, Allowed, RouteCall};

use crate::session::Viewer;
use crate::{Ui, UiError};

/// The frame of every signed-in page.
pub struct Chrome {
    pub title: String,
    /// The navigation entry that is current (`overview`, `jobs`, `models`, `endpoints`, `events`).
    pub section: &'static str,
    pub who: String,
    pub csrf: String,
}

impl Chrome {
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }

    pub fn asset(&self, name: &str) -> String {
        crate::assets::url(name)
    }
}

/// A page or fragment as an HTML response (never cached: it shows live state).
pub fn html(template: &impl Template) -> Result<Response, UiError> {
    let body = template.render()?;
    Ok(([(CONTENT_TYPE, "text/html; charset=utf-8"), (CACHE_CONTROL, "no-store")], body).into_response())
}

/// Escapes text for HTML (what templates do to every value, for fragments made by hand).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes `text` for a query value (RFC 3986, as SigV4 does).
pub fn url_encode(text: &str) -> String {
    trainyard_sigv4::uri_encode(text.as_bytes(), false)
}

impl Ui {
    /// Authorizes `viewer` for what the API route `GET|POST template` with these path
    /// (and query) parameters would do; a denial is audited and answered 403.
    pub async fn may(
        &self,
        viewer: &Viewer,
        method: &str,
        template: &str,
        path: &[(&str, &str)],
    ) -> Result<Allowed, UiError> {
        Ok(authorize_route(&self.app, &viewer.identity, route_call(viewer, method, template, path, false)).await?)
    }

    /// Whether `viewer` could make that call (to show or hide an action): not audited.
    pub async fn could(&self, viewer: &Viewer, method: &str, template: &str, path: &[(&str, &str)]) -> bool {
        authorize_route(&self.app, &viewer.identity, route_call(viewer, method, template, path, true)).await.is_ok()
    }
}

/// The API call a page stands for, its parameters given both as path and query values.
fn route_call<'a>(
    viewer: &Viewer,
    method: &'a str,
    template: &'a str,
    path: &[(&'a str, &'a str)],
    quiet: bool,
) -> RouteCall<'a> {
    RouteCall {
        method,
        template,
        path: path.to_vec(),
        query: path.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body: None,
        source_ip: viewer.source_ip.clone(),
        user_agent: Some("trainyard-dashboard".into()),
        quiet,
    }
}

/// The one status word a stage, job or run shows, from whatever its resource says.
pub fn stage_status(status: &str) -> &'static str {
    match status {
        "Completed" | "Approved" | "InService" | "Succeeded" => "Succeeded",
        "InProgress" | "Running" | "Starting" | "Stopping" | "Creating" | "Updating" | "Downloading" | "Training"
        | "Uploading" | "IN_PROGRESS" => "InProgress",
        "Failed" | "Rejected" | "Stopped" | "RolledBack" | "FAILED" | "STOPPED" => "Failed",
        "PendingManualApproval" | "WaitingForApproval" => "Waiting",
        "SUCCEEDED" => "Succeeded",
        "Skipped" => "Skipped",
        _ => "Pending",
    }
}

/// `1.23 s`, `45 ms`, `2 min 5 s`.
pub fn duration(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> String {
    let (Some(start), Some(end)) = (start, end) else { return String::new() };
    let ms = (end - start).num_milliseconds().max(0);
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.2} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// A time as the pages show it: UTC, to the second.
pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

/// Reads an RFC 3339 time out of a JSON value.
pub fn json_time(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    value.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_of_every_resource_become_one_word() {
        assert_eq!(stage_status("Completed"), "Succeeded");
        assert_eq!(stage_status("Approved"), "Succeeded");
        assert_eq!(stage_status("Rejected"), "Failed");
        assert_eq!(stage_status("InProgress"), "InProgress");
        assert_eq!(stage_status("nonsense"), "Pending");
    }

    #[test]
    fn durations_read_naturally() {
        let t = |ms| Some(DateTime::<Utc>::from_timestamp_millis(ms).unwrap());
        assert_eq!(duration(t(0), t(45)), "45 ms");
        assert_eq!(duration(t(0), t(1234)), "1.23 s");
        assert_eq!(duration(t(0), t(125_000)), "2 min 5 s");
        assert_eq!(duration(None, t(1)), "");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(url_encode("/ui/a b?c=d&e"), "%2Fui%2Fa%20b%3Fc%3Dd%26e");
    }
}
