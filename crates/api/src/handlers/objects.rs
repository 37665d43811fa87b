use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use trainyard_store::ObjectRecord;

use crate::{request, ApiError, AppState};

pub async fn list_buckets(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"Buckets": state.objects.list_buckets().await?})))
}

pub async fn create_bucket(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(json!(state.objects.create_bucket(&bucket).await?))))
}

pub async fn describe_bucket(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.objects.bucket(&bucket).await?)))
}

pub async fn delete_bucket(State(state): State<AppState>, Path(bucket): Path<String>) -> Result<StatusCode, ApiError> {
    state.objects.delete_bucket(&bucket).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    prefix: String,
    delimiter: Option<String>,
    start_after: Option<String>,
    max_keys: Option<usize>,
}

/// ListObjectsV2.
pub async fn list(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = request::query(query)?;
    let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
    let listing =
        state.objects.list(&bucket, &q.prefix, delimiter, q.start_after.as_deref(), q.max_keys.unwrap_or(1000)).await?;
    Ok(Json(json!(listing)))
}

/// PutObject: the body streams to storage.
pub async fn put(
    State(state): State<AppState>,
    Path((bucket, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/octet-stream");
    let record = state.objects.put(&bucket, &key, content_type, body.into_data_stream()).await?;
    Ok((StatusCode::OK, [(header::ETAG, quoted(&record.etag))], Json(json!(record))).into_response())
}

fn quoted(etag: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{etag}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

fn object_headers(record: &ObjectRecord, length: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, quoted(&record.etag));
    if let Ok(value) = HeaderValue::from_str(&record.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(value) = HeaderValue::from_str(&record.last_modified.to_rfc2822()) {
        headers.insert(header::LAST_MODIFIED, value);
    }
    headers
}

/// Parses `Range: bytes=a-b`, `bytes=a-` or `bytes=-n` against an object of `size` bytes.
pub(crate) fn byte_range(headers: &HeaderMap, size: u64) -> Result<Option<std::ops::Range<u64>>, ApiError> {
    let Some(value) = headers.get(header::RANGE) else { return Ok(None) };
    let bad = || ApiError::BadRequest("Range must be bytes=START-END, bytes=START- or bytes=-LENGTH".into());
    let spec = value.to_str().ok().and_then(|v| v.strip_prefix("bytes=")).ok_or_else(bad)?;
    let (start, end) = spec.split_once('-').ok_or_else(bad)?;
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| bad())?;
            size.saturating_sub(n)..size
        }
        (start, "") => start.parse().map_err(|_| bad())?..size,
        (start, end) => {
            start.parse().map_err(|_| bad())?..end.parse::<u64>().map_err(|_| bad())?.saturating_add(1).min(size)
        }
    };
    if range.start >= range.end || range.start >= size {
        return Err(ApiError::RangeNotSatisfiable(format!("the object has {size} bytes")));
    }
    Ok(Some(range))
}

/// GetObject (with `Range`): streams the bytes.
pub async fn get(
    State(state): State<AppState>,
    Path((bucket, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let record = state.objects.head(&bucket, &key).await?;
    let range = byte_range(&headers, record.size as u64)?;
    let (record, stream) = state.objects.get(&bucket, &key, range.clone()).await?;
    let length = range.as_ref().map_or(record.size as u64, |r| r.end - r.start);
    let mut response_headers = object_headers(&record, length);
    let status = match &range {
        Some(r) => {
            let value = format!("bytes {}-{}/{}", r.start, r.end - 1, record.size);
            response_headers
                .insert(header::CONTENT_RANGE, HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("")));
            StatusCode::PARTIAL_CONTENT
        }
        None => StatusCode::OK,
    };
    Ok((status, response_headers, Body::from_stream(stream)).into_response())
}

pub async fn head(
    State(state): State<AppState>,
    Path((bucket, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let record = state.objects.head(&bucket, &key).await?;
    Ok((StatusCode::OK, object_headers(&record, record.size as u64)).into_response())
}

/// DeleteObject: 204 whether or not the key existed, as S3.
pub async fn delete(
    State(state): State<AppState>,
    Path((bucket, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.objects.delete(&bucket, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}
