//! The OCI Distribution v2 protocol at `/v2/`: routes read from the path (repository
//! names hold slashes), registry authentication (Basic with a token as the password, or
//! the Docker bearer-token flow), and the spec's headers and statuses. The rules live in
//! `trainyard_registry`.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use trainyard_registry::{Digest, Reference, MAX_MANIFEST_BYTES};

use base64::Engine;
use chrono::Utc;
use trainyard_identity::{Identities, Identity, RegistryAccess, RegistryClaims};

use crate::{ApiError, AppState};

/// The most tags or repositories one listing returns.
const MAX_PAGE: usize = 10_000;

/// A `/v2/<path>` route of the distribution spec.
#[derive(Debug, PartialEq)]
enum Route<'a> {
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Uploads(&'a str),
    Upload(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    if path == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = path.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    if let Some(name) = path.strip_suffix("/blobs/uploads/").or_else(|| path.strip_suffix("/blobs/uploads")) {
        return Some(Route::Uploads(name));
    }
    let split = |marker: &str| path.rsplit_once(marker).filter(|(_, last)| !last.is_empty() && !last.contains('/'));
    if let Some((name, id)) = split("/blobs/uploads/") {
        return Some(Route::Upload(name, id));
    }
    if let Some((name, reference)) = split("/manifests/") {
        return Some(Route::Manifest(name, reference));
    }
    if let Some((name, digest)) = split("/blobs/") {
        return Some(Route::Blob(name, digest));
    }
    split("/referrers/").map(|(name, digest)| Route::Referrers(name, digest))
}

/// The `WWW-Authenticate` challenge: the Docker token flow at `/v2/token`.
fn challenge(headers: &HeaderMap, scope: Option<&str>) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let scheme = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    let mut value = format!("Bearer realm=\"{scheme}://{host}/v2/token\",service=\"trainyard\"");
    if let Some(name) = scope {
        value.push_str(&format!(",scope=\"repository:{name}:pull,push\""));
    }
    value
}

/// Who calls the registry: a registry token's claims, or a principal (Basic with an access
/// key's secret, the admin token or an ECR login password as the password, or a bearer
/// secret) with when its login password expires, if it used one.
enum Caller {
    Token(RegistryClaims),
    Principal(Identity, Option<chrono::DateTime<Utc>>),
}

fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let header = header.ok_or(trainyard_identity::Error::MissingCredentials)?;
    if let Some(encoded) = header.strip_prefix("Basic ").or_else(|| header.strip_prefix("basic ")) {
        let invalid = || ApiError::Identity(trainyard_identity::Error::InvalidClientTokenId);
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| invalid())?;
        let text = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (_user, password) = text.split_once(':').ok_or_else(invalid)?;
        // ECR's `docker login --username AWS --password <GetAuthorizationToken's password>`.
        if Identities::is_login_password(password) {
            let (identity, expires) = state.identities.verify_login_password(password, Utc::now())?;
            return Ok(Caller::Principal(identity, Some(expires)));
        }
        return Ok(Caller::Principal(state.identities.authenticate_secret(password, Utc::now())?, None));
    }
    let token = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).map(str::trim);
    let token = token.ok_or(trainyard_identity::Error::MissingCredentials)?;
    if Identities::is_registry_token(token) {
        return Ok(Caller::Token(state.identities.verify_registry_token(token, Utc::now())?));
    }
    Ok(Caller::Principal(state.identities.authenticate_secret(token, Utc::now())?, None))
}

/// What a route needs: (claim type, name, action).
fn needed<'a>(route: &Route<'a>, method: &Method) -> (&'static str, &'a str, &'static str) {
    let write = |m: &Method| if m == Method::DELETE { "delete" } else { "push" };
    match route {
        Route::Catalog => ("registry", "catalog", "*"),
        Route::Tags(name) | Route::Referrers(name, _) => ("repository", name, "pull"),
        Route::Manifest(name, _) | Route::Blob(name, _) if matches!(*method, Method::GET | Method::HEAD) => {
            ("repository", name, "pull")
        }
        Route::Manifest(name, _) | Route::Blob(name, _) => ("repository", name, write(method)),
        Route::Uploads(name) | Route::Upload(name, _) => ("repository", name, "push"),
    }
}

/// Whether `caller` may do `action` on `name`: a token by its claims (one that does not
/// name the repository is asked to come back with a new token: 401), a principal by its
/// policies' ECR actions.
fn permit(state: &AppState, caller: &Caller, (kind, name, action): (&str, &str, &str)) -> Result<(), ApiError> {
    let allowed = match caller {
        Caller::Token(claims) if claims.allows(kind, name, action) => true,
        Caller::Token(claims) if !claims.names(kind, name) => {
            return Err(ApiError::InsufficientScope(format!("the token grants nothing on {kind} {name}")));
        }
        Caller::Token(_) => false,
        Caller::Principal(identity, _) => state.identities.registry_allows(identity, kind, name, action),
    };
    if allowed {
        return Ok(());
    }
    let who = match caller {
        Caller::Token(claims) => claims.sub.as_str(),
        Caller::Principal(identity, _) => identity.arn.as_str(),
    };
    Err(ApiError::AccessDenied(format!("{who} is not authorized to {action} {kind} {name}")))
}

/// `GET /v2/`: the API version check (and the first authentication challenge).
pub async fn base(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match authenticate(&state, &headers) {
        Ok(_) => {
            let mut response = axum::Json(json!({})).into_response();
            response.headers_mut().insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
            response
        }
        Err(e) => e.into_registry_response(&challenge(&headers, None), false),
    }
}

/// `GET /v2/token`: the Docker token endpoint (ECR's `GetAuthorizationToken`). Basic
/// credentials buy a registry token for at most an hour (never past the login password
/// used) whose `access` claims are what each `scope` asked for and the caller's policies
/// allow.
pub async fn token(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let basic = "Basic realm=\"trainyard\"";
    // Invariant: a registry token never buys another, so its expiry bounds it.
    let (identity, not_after) = match authenticate(&state, &headers) {
        Ok(Caller::Principal(identity, not_after)) => (identity, not_after),
        Ok(Caller::Token(_)) => {
            return ApiError::Identity(trainyard_identity::Error::InvalidClientTokenId)
                .into_registry_response(basic, false)
        }
        Err(e) => return e.into_registry_response(basic, false),
    };
    let login = ("registry", "login", "ecr:GetAuthorizationToken");
    if !identity.is_root() {
        let facts = trainyard_identity::RequestFacts::default();
        let request =
            trainyard_identity::AccessRequest { action: login.2, resource: "*", facts: &facts, resource_policy: None };
        if let Err(e) = state.identities.require(&identity, &request) {
            return ApiError::from(e).into_registry_response(basic, false);
        }
    }
    let scopes: Vec<RegistryAccess> = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| key == "scope")
        .flat_map(|(_, value)| value.split(' ').filter_map(RegistryAccess::parse_scope).collect::<Vec<_>>())
        .collect();
    let now = Utc::now();
    let (token, claims) = state.identities.issue_registry_token(&identity, &scopes, now, not_after);
    let expires_in = claims.exp - now.timestamp();
    // A credential issued: recorded with what it grants, never the token.
    state
        .audit
        .record(trainyard_identity::AuditEntry {
            time: now,
            identity: Some(identity),
            subject: None,
            action: "ecr:GetAuthorizationToken".into(),
            source_ip: None,
            user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
            request_parameters: json!({"scope": scopes.iter().map(|s| format!("{}:{}:{}", s.kind, s.name, s.actions.join(","))).collect::<Vec<_>>()}),
            response_elements: Some(json!({"access": claims.access, "expiresAt": claims.exp, "jti": claims.jti})),
            error_code: None,
            error_message: None,
            request_id: uuid::Uuid::new_v4().to_string(),
            read_only: false,
            data_event: false,
            resources: vec!["*".into()],
        })
        .await;
    axum::Json(json!({"token": token, "access_token": token, "expires_in": expires_in, "issued_at": now.to_rfc3339()}))
        .into_response()
}

#[derive(Deserialize)]
pub struct Params {
    n: Option<usize>,
    last: Option<String>,
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
}

/// Every other `/v2/...` route.
pub async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    body: Body,
) -> Response {
    let source_ip = peer.map(|p| p.0 .0.ip().to_string());
    let path = uri.path().strip_prefix("/v2/").unwrap_or_default();
    let route = route(path);
    let scope = match &route {
        Some(Route::Catalog) | None => None,
        Some(Route::Tags(n) | Route::Manifest(n, _) | Route::Blob(n, _)) => Some(*n),
        Some(Route::Uploads(n) | Route::Upload(n, _) | Route::Referrers(n, _)) => Some(*n),
    };
    let head = method == Method::HEAD;
    let caller = match authenticate(&state, &headers) {
        Ok(caller) => caller,
        Err(e) => return e.into_registry_response(&challenge(&headers, scope), head),
    };
    let needs = route.as_ref().map(|route| needed(route, &method));
    if let Some(needs) = needs {
        if let Err(e) = permit(&state, &caller, needs) {
            if matches!(e, ApiError::AccessDenied(_)) {
                audit(&state, &caller, (&method, source_ip.clone()), needs, &headers, Some(&e)).await;
            }
            return e.into_registry_response(&challenge(&headers, scope), head);
        }
    }
    let result = match (route, crate::request::query(query)) {
        (Some(route), Ok(mut params)) => {
            // Invariant: a mount copies a blob only from a repository the caller may pull.
            if params.mount.is_some() {
                let from = params.from.clone().unwrap_or_default();
                if from.is_empty() || permit(&state, &caller, ("repository", &from, "pull")).is_err() {
                    params.mount = None;
                }
            }
            handle(&state, route, &method, &headers, params, body).await
        }
        (Some(_), Err(e)) => Err(e),
        (None, _) => Err(ApiError::NotFound(format!("no registry route {}", uri.path()))),
    };
    // Image writes (a manifest put, a delete) are audited as ECR's PutImage/BatchDeleteImage.
    if let Some(needs @ (_, _, "delete")) = needs {
        audit(&state, &caller, (&method, source_ip.clone()), needs, &headers, result.as_ref().err()).await;
    }
    if let (Some(needs), true) = (needs, method == Method::PUT && uri.path().contains("/manifests/")) {
        audit(&state, &caller, (&method, source_ip.clone()), needs, &headers, result.as_ref().err()).await;
    }
    result.unwrap_or_else(|e| e.into_registry_response(&challenge(&headers, scope), head))
}

/// One audit record of a registry call, named by the ECR action it is.
async fn audit(
    state: &AppState,
    caller: &Caller,
    (method, source_ip): (&Method, Option<String>),
    (kind, name, action): (&str, &str, &str),
    headers: &HeaderMap,
    error: Option<&ApiError>,
) {
    let ecr = match (action, method.as_str()) {
        ("delete", _) => "ecr:BatchDeleteImage",
        ("push", "PUT") => "ecr:PutImage",
        ("push", _) => "ecr:InitiateLayerUpload",
        ("pull", _) => "ecr:BatchGetImage",
        _ => "ecr:DescribeRepositories",
    };
    let (identity, subject) = match caller {
        Caller::Principal(identity, _) => (Some(identity.clone()), None),
        Caller::Token(claims) => (None, Some(claims.sub.clone())),
    };
    let resource = if kind == "registry" { "*".to_string() } else { trainyard_identity::repository_arn(name) };
    let entry = trainyard_identity::AuditEntry {
        time: Utc::now(),
        identity,
        subject,
        action: ecr.to_string(),
        source_ip,
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
        request_parameters: json!({"repositoryName": name}),
        response_elements: None,
        error_code: error.map(|e| e.status_and_code().1.to_string()),
        error_message: error.map(|e| e.to_string()),
        request_id: uuid::Uuid::new_v4().to_string(),
        read_only: false,
        data_event: false,
        resources: vec![resource],
    };
    state.audit.record(entry).await;
}

async fn handle(
    state: &AppState,
    route: Route<'_>,
    method: &Method,
    headers: &HeaderMap,
    params: Params,
    body: Body,
) -> Result<Response, ApiError> {
    let registry = &state.registry;
    let not_allowed = || Ok(StatusCode::METHOD_NOT_ALLOWED.into_response());
    match (route, method.as_str()) {
        (Route::Catalog, "GET") if params.n == Some(0) => Ok(axum::Json(json!({"repositories": []})).into_response()),
        (Route::Tags(name), "GET") if params.n == Some(0) => {
            registry.repository(name).await?;
            Ok(axum::Json(json!({"name": name, "tags": []})).into_response())
        }
        (Route::Catalog, "GET") => {
            let n = params.n.unwrap_or(MAX_PAGE).min(MAX_PAGE);
            let mut names: Vec<String> =
                registry.repositories(params.last.as_deref(), n + 1).await?.into_iter().map(|r| r.name).collect();
            let more = names.len() > n;
            names.truncate(n);
            let link = more.then(|| format!("/v2/_catalog?n={n}&last={}", names.last().cloned().unwrap_or_default()));
            Ok(with_link(axum::Json(json!({"repositories": names})).into_response(), link))
        }
        (Route::Tags(name), "GET") => {
            let n = params.n.unwrap_or(MAX_PAGE).min(MAX_PAGE);
            let mut tags = registry.tags(name, params.last.as_deref(), n + 1).await?;
            let more = tags.len() > n;
            tags.truncate(n);
            let link =
                more.then(|| format!("/v2/{name}/tags/list?n={n}&last={}", tags.last().cloned().unwrap_or_default()));
            Ok(with_link(axum::Json(json!({"name": name, "tags": tags})).into_response(), link))
        }
        (Route::Manifest(name, reference), "GET" | "HEAD") => {
            let record = registry.manifest(name, &Reference::parse(reference)?).await?;
            let mut response_headers = digest_headers(&record.digest);
            insert(&mut response_headers, header::CONTENT_TYPE, &record.media_type);
            insert(&mut response_headers, header::CONTENT_LENGTH, &record.content.len().to_string());
            let body = if method == Method::HEAD { Body::empty() } else { Body::from(record.content) };
            Ok((StatusCode::OK, response_headers, body).into_response())
        }
        (Route::Manifest(name, reference), "PUT") => {
            let reference = Reference::parse(reference)?;
            let content = axum::body::to_bytes(body, MAX_MANIFEST_BYTES).await.map_err(|e| {
                let too_large =
                    std::error::Error::source(&e).is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
                if too_large {
                    trainyard_registry::Error::TooLarge { limit: MAX_MANIFEST_BYTES as u64 }
                } else {
                    trainyard_registry::Error::ManifestInvalid { reason: format!("unreadable body: {e}") }
                }
            })?;
            let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let stored = registry.put_manifest(name, &reference, content_type, content.to_vec()).await?;
            let mut response_headers = digest_headers(&stored.digest.to_string());
            insert(&mut response_headers, header::LOCATION, &format!("/v2/{name}/manifests/{}", stored.digest));
            if let Some(subject) = stored.subject {
                insert(&mut response_headers, "oci-subject", &subject.to_string());
            }
            Ok((StatusCode::CREATED, response_headers).into_response())
        }
        (Route::Manifest(name, reference), "DELETE") => {
            registry.delete_manifest(name, &Reference::parse(reference)?).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Route::Blob(name, digest), "GET" | "HEAD") => get_blob(state, name, digest, method, headers).await,
        (Route::Blob(name, digest), "DELETE") => {
            registry.delete_blob(name, &Digest::parse(digest)?).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Route::Uploads(name), "POST") => start_upload(state, name, params, body).await,
        (Route::Upload(name, id), "PATCH") => {
            let range = content_range(headers)?;
            let (start, length) = (range.map(|(start, _)| start), range.map(|(start, end)| end - start + 1));
            let size = registry.append(name, id, start, length, body.into_data_stream()).await?;
            Ok((StatusCode::ACCEPTED, upload_headers(name, id, size)).into_response())
        }
        (Route::Upload(name, id), "PUT") => {
            let digest = required_digest(&params)?;
            let start = content_range(headers)?.map(|(start, _)| start);
            let stream = body.into_data_stream();
            registry.finish_upload(name, id, &digest, start, stream).await?;
            Ok(blob_created(name, &digest))
        }
        (Route::Upload(name, id), "GET") => {
            let size = registry.upload_size(name, id).await?;
            Ok((StatusCode::NO_CONTENT, upload_headers(name, id, size)).into_response())
        }
        (Route::Upload(name, id), "DELETE") => {
            registry.cancel_upload(name, id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Route::Referrers(name, digest), "GET") => {
            let filter = params.artifact_type.as_deref();
            let index = registry.referrers(name, &Digest::parse(digest)?, filter).await?;
            let mut response = axum::Json(index).into_response();
            insert(response.headers_mut(), header::CONTENT_TYPE, trainyard_registry::OCI_INDEX);
            if filter.is_some() {
                insert(response.headers_mut(), "oci-filters-applied", "artifactType");
            }
            Ok(response)
        }
        _ => not_allowed(),
    }
}

/// `POST /v2/<name>/blobs/uploads/`: a mount, a monolithic upload (`?digest=`), or a
/// new session.
async fn start_upload(state: &AppState, name: &str, params: Params, body: Body) -> Result<Response, ApiError> {
    let registry = &state.registry;
    if let Some(mount) = &params.mount {
        let digest = Digest::parse(mount)?;
        if registry.mount(name, &digest, params.from.as_deref()).await?.is_some() {
            return Ok(blob_created(name, &digest));
        }
    }
    let id = registry.start_upload(name).await?;
    if let Some(digest) = &params.digest {
        let digest = Digest::parse(digest)?;
        registry.finish_upload(name, &id, &digest, None, body.into_data_stream()).await?;
        return Ok(blob_created(name, &digest));
    }
    Ok((StatusCode::ACCEPTED, upload_headers(name, &id, 0)).into_response())
}

async fn get_blob(
    state: &AppState,
    name: &str,
    digest: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let digest = Digest::parse(digest)?;
    let size = state.registry.blob_size(name, &digest).await?;
    let range = super::objects::byte_range(headers, size)?;
    let mut response_headers = digest_headers(&digest.to_string());
    insert(&mut response_headers, header::CONTENT_TYPE, "application/octet-stream");
    insert(&mut response_headers, header::ACCEPT_RANGES, "bytes");
    let length = range.as_ref().map_or(size, |r| r.end - r.start);
    insert(&mut response_headers, header::CONTENT_LENGTH, &length.to_string());
    let status = match &range {
        Some(r) => {
            insert(&mut response_headers, header::CONTENT_RANGE, &format!("bytes {}-{}/{size}", r.start, r.end - 1));
            StatusCode::PARTIAL_CONTENT
        }
        None => StatusCode::OK,
    };
    if method == Method::HEAD {
        return Ok((status, response_headers).into_response());
    }
    let read = state.registry.read_blob(name, &digest, range).await?;
    let body = Body::from_stream(read.body.map(|chunk| chunk.map_err(std::io::Error::other)));
    Ok((status, response_headers, body).into_response())
}

/// The first and last byte a chunk claims (`Content-Range: <start>-<end>`), if it says.
fn content_range(headers: &HeaderMap) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else { return Ok(None) };
    let invalid = || trainyard_registry::Error::BlobUploadInvalid {
        reason: "Content-Range must be <start>-<end> (inclusive byte offsets)".into(),
    };
    let text = value.to_str().map_err(|_| invalid())?;
    let text = text.trim_start_matches("bytes=").trim_start_matches("bytes ");
    let (start, end) = text.split_once('-').ok_or_else(invalid)?;
    let start: u64 = start.trim().parse().map_err(|_| invalid())?;
    let end: u64 = end.trim().split('/').next().unwrap_or_default().parse().map_err(|_| invalid())?;
    if end < start {
        return Err(invalid().into());
    }
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|length| length != end - start + 1) {
        return Err(trainyard_registry::Error::SizeInvalid {
            reason: format!("Content-Range {start}-{end} does not agree with Content-Length {}", length.unwrap_or(0)),
        }
        .into());
    }
    Ok(Some((start, end)))
}

fn required_digest(params: &Params) -> Result<Digest, ApiError> {
    let digest = params.digest.as_deref().ok_or_else(|| trainyard_registry::Error::DigestInvalid {
        digest: String::new(),
        reason: "the digest query parameter is required to finish an upload".into(),
    })?;
    Ok(Digest::parse(digest)?)
}

fn blob_created(name: &str, digest: &Digest) -> Response {
    let mut headers = digest_headers(&digest.to_string());
    insert(&mut headers, header::LOCATION, &format!("/v2/{name}/blobs/{digest}"));
    insert(&mut headers, header::CONTENT_LENGTH, "0");
    (StatusCode::CREATED, headers).into_response()
}

fn upload_headers(name: &str, id: &str, size: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    insert(&mut headers, header::LOCATION, &format!("/v2/{name}/blobs/uploads/{id}"));
    insert(&mut headers, header::RANGE, &format!("0-{}", size.saturating_sub(1)));
    insert(&mut headers, "docker-upload-uuid", id);
    insert(&mut headers, header::CONTENT_LENGTH, "0");
    headers
}

fn digest_headers(digest: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    insert(&mut headers, "docker-content-digest", digest);
    headers
}

fn with_link(mut response: Response, link: Option<String>) -> Response {
    if let Some(link) = link {
        insert(response.headers_mut(), header::LINK, &format!("<{link}>; rel=\"next\""));
    }
    response
}

fn insert<K: header::IntoHeaderName>(headers: &mut HeaderMap, name: K, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_read_from_the_end_of_the_path() {
        assert_eq!(route("_catalog"), Some(Route::Catalog));
        assert_eq!(route("a/b/tags/list"), Some(Route::Tags("a/b")));
        assert_eq!(route("a/b/manifests/v1"), Some(Route::Manifest("a/b", "v1")));
        assert_eq!(route("a/blobs/uploads/"), Some(Route::Uploads("a")));
        assert_eq!(route("a/blobs/uploads"), Some(Route::Uploads("a")));
        assert_eq!(route("a/blobs/uploads/123"), Some(Route::Upload("a", "123")));
        assert_eq!(route("a/blobs/sha256:00"), Some(Route::Blob("a", "sha256:00")));
        assert_eq!(route("manifests/x/manifests/y"), Some(Route::Manifest("manifests/x", "y")));
        assert_eq!(route("a/referrers/sha256:00"), Some(Route::Referrers("a", "sha256:00")));
        assert_eq!(route("a/other"), None);
        assert_eq!(route("a/manifests/"), None);
    }
}
