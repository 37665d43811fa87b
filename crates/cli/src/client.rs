//! A small client for the trainyard API.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Why a command failed, and the exit code that says so.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input or a 4xx from the API: exit 2.
    #[error("{0}")]
    Usage(String),
    /// Anything else (server down, 5xx, a failed job): exit 1.
    #[error("{0}")]
    Failure(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Failure(_) => 1,
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    token: Option<String>,
}

/// The data directory the CLI talks about.
pub fn data_dir(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".trainyard"))
}

impl Client {
    /// Resolves the endpoint (flag/env, else DATA_DIR/server.url, else the default) and
    /// the token (flag/env, else DATA_DIR/admin.token).
    pub fn new(endpoint: Option<&str>, token: Option<&str>, data_dir: &Path) -> Client {
        let endpoint = endpoint
            .map(str::to_string)
            .or_else(|| std::fs::read_to_string(data_dir.join("server.url")).ok().map(|s| s.trim().to_string()))
            .unwrap_or_else(|| format!("http://{}", trainyard_server::DEFAULT_LISTEN));
        let token = token
            .map(str::to_string)
            .or_else(|| std::fs::read_to_string(data_dir.join("admin.token")).ok().map(|s| s.trim().to_string()));
        Client { http: reqwest::Client::new(), endpoint: endpoint.trim_end_matches('/').to_string(), token }
    }

    /// Calls `method /api/v1{path}` with an optional JSON body; returns the JSON answer.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        let url = format!("{}/api/v1{path}", self.endpoint);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::Failure(format!("cannot reach the trainyard server at {}: {e}", self.endpoint)))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| Error::Failure(format!("reading the answer: {e}")))?;
        let value: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if status.is_success() {
            return Ok(value);
        }
        let code = value.get("code").and_then(Value::as_str).unwrap_or("Error");
        let message =
            value.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| value.to_string());
        let text = format!("{code}: {message}");
        if status == StatusCode::UNAUTHORIZED {
            return Err(Error::Usage(format!("{text} (pass --token, set TRAINYARD_TOKEN or --data-dir)")));
        }
        if status.is_client_error() {
            Err(Error::Usage(text))
        } else {
            Err(Error::Failure(text))
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, Error> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, Error> {
        self.call(Method::DELETE, path, None).await
    }
}

/// Percent-encodes a query value or path segment.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?bus=B` or nothing.
pub fn bus_query(bus: Option<&str>) -> String {
    bus.map(|b| format!("?bus={}", encode(b))).unwrap_or_default()
}
