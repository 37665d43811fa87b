//! Sign-in: an access key's secret or the admin token exchanged for a session cookie
//! (HttpOnly, SameSite=Strict, path `/ui`), the session's CSRF token, sign-out, and the
//! `Viewer` every page extracts.
//!
//! Invariant: a session keeps the SHA-256 digest of the secret it was opened with, never
//! the secret, and the caller is authenticated afresh from it on every request, so a
//! deactivated key or an expired role session ends its dashboard sessions at once.
//! Sessions live in the server's memory: a cookie from another server, or from before a
//! restart, finds none and is sent to sign in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::{COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::Utc;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use trainyard_identity::Identity;

use crate::view::{html, Chrome};
use crate::{Ui, UiError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ty_session";

/// How long a session lasts without signing in again.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// At most this many sessions at once; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

struct Session {
    credential: [u8; 32],
    csrf: String,
    expires: Instant,
}

/// The open sessions, by the SHA-256 of their cookie.
#[derive(Clone, Default)]
pub(crate) struct Sessions(Arc<Mutex<HashMap<[u8; 32], Session>>>);

impl Sessions {
    fn open(&self, credential: [u8; 32]) -> String {
        let cookie = random_token();
        let mut sessions = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k) {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(digest(&cookie), Session { credential, csrf: random_token(), expires: now + SESSION_LIFETIME });
        cookie
    }

    fn find(&self, cookie: &str) -> Option<([u8; 32], String)> {
        let sessions = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let session = sessions.get(&digest(cookie))?;
        (session.expires > Instant::now()).then(|| (session.credential, session.csrf.clone()))
    }

    fn close(&self, cookie: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&digest(cookie));
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The signed-in caller of a page, with its session's CSRF token.
pub struct Viewer {
    pub identity: Identity,
    pub csrf: String,
    pub source_ip: Option<String>,
}

impl Viewer {
    /// The page chrome (navigation, who is signed in, the CSRF token) for `title`.
    pub fn chrome(&self, title: impl Into<String>, section: &'static str) -> Chrome {
        Chrome { title: title.into(), section, who: self.identity.arn.clone(), csrf: self.csrf.clone() }
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

impl FromRequestParts<Ui> for Viewer {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, ui: &Ui) -> Result<Viewer, UiError> {
        let next = parts.uri.path_and_query().map_or("/ui/", |p| p.as_str()).to_string();
        let sign_in = || {
            if parts.method == "GET" {
                UiError::SignIn { next: next.clone() }
            } else {
                UiError::Forbidden("sign in first".into())
            }
        };
        let (credential, csrf) =
            session_cookie(&parts.headers).and_then(|c| ui.sessions.find(c)).ok_or_else(sign_in)?;
        let identity = ui.app.identities.authenticate_digest(&credential, Utc::now()).map_err(|_| sign_in())?;
        let source_ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        Ok(Viewer { identity, csrf, source_ip })
    }
}

/// Refuses a request from another site (`Sec-Fetch-Site`, or an `Origin` not this host).
fn check_same_origin(headers: &HeaderMap) -> Result<(), UiError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return Err(UiError::Forbidden(format!("a {site} request may not change anything here")));
        }
    }
    if let (Some(origin), Some(host)) = (headers.get(ORIGIN), headers.get(HOST)) {
        let origin = origin.to_str().unwrap_or_default();
        let host = host.to_str().unwrap_or_default();
        if origin.split_once("://").map(|(_, rest)| rest) != Some(host) {
            return Err(UiError::Forbidden(format!("a request from {origin} may not change anything here")));
        }
    }
    Ok(())
}

/// Refuses a state-changing form that is not from this dashboard: a cross-site request
/// or a CSRF token that is not the session's.
pub fn check_form(viewer: &Viewer, headers: &HeaderMap, csrf: &str) -> Result<(), UiError> {
    check_same_origin(headers)?;
    if !trainyard_auth::constant_time_eq(csrf.as_bytes(), viewer.csrf.as_bytes()) {
        return Err(UiError::Forbidden("the form's CSRF token is missing or not this session's".into()));
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a path of this dashboard may follow a sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/ui/".to_string(),
    }
}

pub async fn login_page(Query(query): Query<NextQuery>) -> Result<Response, UiError> {
    html(&LoginPage { next: safe_next(query.next.as_deref()), error: None })
}

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

pub async fn sign_in(State(ui): State<Ui>, headers: HeaderMap, Form(form): Form<SignIn>) -> Result<Response, UiError> {
    // No signing a visitor in from another site (login CSRF).
    check_same_origin(&headers)?;
    let next = safe_next(form.next.as_deref());
    let secret = form.token.trim();
    if ui.app.identities.authenticate_secret(secret, Utc::now()).is_err() {
        let page = LoginPage { next, error: Some("That is not an active access key secret or admin token.".into()) };
        let mut response = html(&page)?;
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(response);
    }
    let cookie = ui.sessions.open(trainyard_identity::secret_digest(secret));
    let set = format!(
        "{SESSION_COOKIE}={cookie}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_LIFETIME.as_secs()
    );
    Ok((StatusCode::SEE_OTHER, [(SET_COOKIE, set), (LOCATION, next)]).into_response())
}

#[derive(Deserialize)]
pub struct SignOut {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    State(ui): State<Ui>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> Result<Response, UiError> {
    check_form(&viewer, &headers, &form.csrf)?;
    if let Some(cookie) = session_cookie(&headers) {
        ui.sessions.close(cookie);
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((StatusCode::SEE_OTHER, [(SET_COOKIE, clear), (LOCATION, "/ui/login".to_string())]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dashboard_paths_follow_a_sign_in() {
        assert_eq!(safe_next(Some("/ui/training-jobs?page=2")), "/ui/training-jobs?page=2");
        for hostile in ["https://evil.example/", "//evil.example/ui/", "/ui\\..\\x", "/api/v1/audit"] {
            assert_eq!(safe_next(Some(hostile)), "/ui/", "{hostile}");
        }
        assert_eq!(safe_next(None), "/ui/");
    }

    #[test]
    fn a_session_keeps_no_secret_and_ends_when_closed() {
        let sessions = Sessions::default();
        let cookie = sessions.open(digest("tyk_secret"));
        let (credential, csrf) = sessions.find(&cookie).expect("open");
        assert_eq!(credential, digest("tyk_secret"));
        assert_eq!(csrf.len(), 64);
        assert!(sessions.find("another server's cookie").is_none());
        sessions.close(&cookie);
        assert!(sessions.find(&cookie).is_none());
    }
}
