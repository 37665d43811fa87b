//! A small client for the trainyard API.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Why a command failed, and the exit code that says so.
#[derive(Debug, Clone, thiserror::Error)]
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

#[derive(Clone)]
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
    /// The client of a command line: the credential from `credentials::resolve`, the
    /// endpoint from the flag/env, else the profile's, else as [`Client::new`] finds it.
    pub fn from_cli(
        endpoint: Option<&str>,
        token: Option<&str>,
        profile: Option<&str>,
        data_dir: &Path,
    ) -> Result<Client, Error> {
        let (token, profile_endpoint) = crate::credentials::resolve(token, profile, data_dir)?;
        let endpoint = endpoint.map(str::to_string).or(profile_endpoint);
        Ok(Client::new(endpoint.as_deref(), token.as_deref(), data_dir))
    }

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
            return Err(Error::Usage(format!(
                "{text} (pass --token or --profile, set TRAINYARD_TOKEN, or --data-dir for the admin token)"
            )));
        }
        if status.is_client_error() {
            Err(Error::Usage(text))
        } else {
            Err(Error::Failure(text))
        }
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Turns a non-2xx response into the CLI's error.
    async fn check(&self, response: reqwest::Response) -> Result<reqwest::Response, Error> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let mut value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        // The registry's errors come as {"errors": [{"code", "message"}]}.
        if let Some(first) = value.pointer("/errors/0").cloned() {
            value = first;
        }
        let code = value.get("code").and_then(Value::as_str).unwrap_or("Error");
        let message =
            value.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| value.to_string());
        let text = format!("{code}: {message}");
        if status.is_client_error() {
            Err(Error::Usage(text))
        } else {
            Err(Error::Failure(text))
        }
    }

    /// A request to the registry at `/v2{path}`, with the token as a Basic password.
    pub fn registry(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}/v2{path}", self.endpoint));
        match &self.token {
            Some(token) => request.basic_auth("trainyard", Some(token)),
            None => request,
        }
    }

    /// Sends a registry request; a non-2xx answer becomes the CLI's error.
    pub async fn send_registry(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let response = request
            .send()
            .await
            .map_err(|e| Error::Failure(format!("cannot reach the trainyard registry at {}: {e}", self.endpoint)))?;
        self.check(response).await
    }

    /// The server's `host:port`, as image names carry it.
    pub fn registry_host(&self) -> &str {
        self.endpoint.split_once("://").map_or(self.endpoint.as_str(), |(_, rest)| rest)
    }

    /// Sends an authorised request and turns a non-2xx answer into the CLI's error.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let response = self
            .authorised(request)
            .send()
            .await
            .map_err(|e| Error::Failure(format!("cannot reach the trainyard server at {}: {e}", self.endpoint)))?;
        self.check(response).await
    }

    /// Streams a local file to `PUT /api/v1{path}`.
    pub async fn upload(&self, path: &str, file: &std::path::Path, content_type: &str) -> Result<Value, Error> {
        let handle = tokio::fs::File::open(file)
            .await
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", file.display())))?;
        let length = handle.metadata().await.map(|m| m.len()).unwrap_or(0);
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(handle, 256 * 1024));
        let request = self
            .http
            .put(format!("{}/api/v1{path}", self.endpoint))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(body);
        let response = self.send(request).await?;
        response.json().await.map_err(|e| Error::Failure(format!("reading the answer: {e}")))
    }

    /// `POST {path}` at the server's root (the serving data plane); returns the variant
    /// that answered and the body.
    pub async fn invoke(
        &self,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
        accept: &str,
        variant: Option<&str>,
    ) -> Result<(Option<String>, String), Error> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.endpoint))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::ACCEPT, accept)
            .body(body);
        if let Some(variant) = variant {
            request = request.header("X-Amzn-SageMaker-Target-Variant", variant);
        }
        let response = self.send(request).await?;
        let answered =
            response.headers().get("x-amzn-invoked-production-variant").and_then(|v| v.to_str().ok()).map(String::from);
        let text = response.text().await.map_err(|e| Error::Failure(format!("reading the answer: {e}")))?;
        Ok((answered, text))
    }

    /// Streams `GET /api/v1{path}` into `destination`, atomically (temporary file,
    /// fsync, rename).
    /// Streams an object to `destination`: a regular file is written whole or not at all
    /// (a temporary file beside it, created without following links, renamed into
    /// place); `-` is standard output; an existing device, FIFO or socket is written into
    /// as it is, never replaced.
    pub async fn download(&self, path: &str, destination: &std::path::Path) -> Result<u64, Error> {
        let request = self.http.get(format!("{}/api/v1{path}", self.endpoint));
        let response = self.send(request).await?;
        let io = |e: std::io::Error| Error::Failure(format!("{}: {e}", destination.display()));
        if destination.as_os_str() == "-" {
            return stream_into(response, &mut tokio::io::stdout()).await.map_err(io);
        }
        let existing = tokio::fs::metadata(destination).await.ok();
        if existing.is_some_and(|m| !m.is_file() && !m.is_dir()) {
            let mut target = tokio::fs::OpenOptions::new().write(true).open(destination).await.map_err(io)?;
            return stream_into(response, &mut target).await.map_err(io);
        }
        if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| Error::Failure(format!("{}: {e}", parent.display())))?;
        }
        let (temporary, mut file) = temporary_beside(destination).await.map_err(io)?;
        let written = match stream_into(response, &mut file).await {
            Ok(written) => written,
            Err(e) => {
                let _ = tokio::fs::remove_file(&temporary).await;
                return Err(Error::Failure(format!("download of {} interrupted: {e}", destination.display())));
            }
        };
        file.sync_all().await.map_err(io)?;
        tokio::fs::rename(&temporary, destination).await.map_err(io)?;
        Ok(written)
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

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// The API's address.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
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

/// Copies a response body into `target`; the bytes written.
async fn stream_into(
    response: reqwest::Response,
    target: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> std::io::Result<u64> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let mut written = 0u64;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(std::io::Error::other)?;
        target.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    target.flush().await?;
    Ok(written)
}

/// A new file beside `destination` (`.NAME.part-PID-N`), created exclusively and without
/// following a link planted under its name.
async fn temporary_beside(destination: &Path) -> std::io::Result<(PathBuf, tokio::fs::File)> {
    let name = destination.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for attempt in 0..100u32 {
        let temporary = destination.with_file_name(format!(".{name}.part-{}-{attempt}", std::process::id()));
        let opened = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temporary)
            .await;
        match opened {
            Ok(file) => return Ok((temporary, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary name beside the destination"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_temporary_file_never_follows_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let destination = dir.path().join("d.csv");
        let planted = dir.path().join(format!(".d.csv.part-{}-0", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let (temporary, _file) = temporary_beside(&destination).await.unwrap();
        assert_ne!(temporary, planted);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(std::fs::symlink_metadata(&planted).unwrap().file_type().is_symlink());
    }
}
