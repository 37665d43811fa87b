//! The serving data plane: SageMaker's `InvokeEndpoint` (with MLflow's payloads), the
//! KServe Open Inference Protocol v2, and Prometheus metrics. Nothing here touches the
//! metadata database.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use trainyard_endpoints::payload::{self, Format};
use trainyard_endpoints::{kserve, DataPlane};

use crate::request::RawBody;
use crate::{ApiError, AppState, MAX_INFERENCE_BODY_BYTES};

/// An inference request's body, at most SageMaker's limit.
type InferenceBody = RawBody<MAX_INFERENCE_BODY_BYTES>;

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /endpoints/{name}/invocations`.
pub async fn invoke(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawBody(body): InferenceBody,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    require_endpoint(state.endpoints.data(), &name)?;
    let rows = payload::parse(header_text(&headers, "content-type"), &body)?;
    let target = header_text(&headers, "x-amzn-sagemaker-target-variant");
    let answer = state.endpoints.data().invoke(&name, rows, target, started).await?;
    let format = Format::negotiate(header_text(&headers, "accept"), answer.variant.serving);
    let body = payload::render(&answer.predictions, answer.variant.classes(), format, answer.variant.serving);
    answer.variant.stats.record(answer.model_time, started.elapsed(), false);
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if let Ok(variant) = HeaderValue::from_str(&answer.variant.name) {
        headers.insert("x-amzn-invoked-production-variant", variant);
    }
    Ok(response)
}

/// An unknown endpoint is a 404 whatever the body holds.
fn require_endpoint(data: &DataPlane, name: &str) -> Result<(), ApiError> {
    match data.get(name) {
        Some(_) => Ok(()),
        None => Err(trainyard_endpoints::Error::EndpointNotFound { name: name.into() }.into()),
    }
}

/// A KServe error: `{"error": message}` with the status the error maps to.
fn kserve_error(error: ApiError) -> Response {
    let (status, _) = error.status_and_code();
    (status, Json(json!({"error": error.to_string()}))).into_response()
}

fn live_variant(data: &DataPlane, name: &str) -> Result<std::sync::Arc<trainyard_endpoints::live::Variant>, ApiError> {
    let endpoint = data.get(name).ok_or_else(|| trainyard_endpoints::Error::EndpointNotFound { name: name.into() })?;
    let routing = endpoint.routing();
    routing
        .live
        .variants
        .first()
        .cloned()
        .ok_or_else(|| trainyard_endpoints::Error::EndpointNotFound { name: name.into() }.into())
}

pub async fn live() -> Json<Value> {
    Json(json!({"live": true}))
}

pub async fn ready() -> Json<Value> {
    Json(json!({"ready": true}))
}

/// `GET /v2/models/{name}`: the signature of the endpoint's (first live) model.
pub async fn model_metadata(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match live_variant(state.endpoints.data(), &name) {
        Ok(variant) => Json(kserve::metadata(&name, kserve::VERSION, &variant.model)).into_response(),
        Err(e) => kserve_error(e),
    }
}

pub async fn model_ready(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match live_variant(state.endpoints.data(), &name) {
        Ok(_) => Json(json!({"name": name, "ready": true})).into_response(),
        Err(e) => kserve_error(e),
    }
}

/// `POST /v2/models/{name}/infer`.
pub async fn infer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<InferenceBody, ApiError>,
) -> Response {
    let started = Instant::now();
    let result = async {
        let RawBody(body) = body?;
        require_endpoint(state.endpoints.data(), &name)?;
        let (request, rows) = kserve::parse(&body)?;
        let target = header_text(&headers, "x-amzn-sagemaker-target-variant");
        let answer = state.endpoints.data().invoke(&name, rows, target, started).await?;
        let body = kserve::render(&name, kserve::VERSION, request.id.as_deref(), &answer.predictions);
        answer.variant.stats.record(answer.model_time, started.elapsed(), false);
        Ok::<_, ApiError>(Json(body).into_response())
    }
    .await;
    result.unwrap_or_else(kserve_error)
}

/// `POST /v2/models/{name}/versions/{version}/infer`: an endpoint serves one version.
pub async fn infer_version(
    state: State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<InferenceBody, ApiError>,
) -> Response {
    if version != kserve::VERSION {
        let message = format!("model {name:?} has no version {version:?} (it serves version {})", kserve::VERSION);
        return kserve_error(ApiError::NotFound(message));
    }
    infer(state, Path(name), headers, body).await
}

/// Prometheus text exposition of every endpoint's statistics.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.endpoints.data().render_metrics();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
