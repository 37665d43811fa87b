//! Parsing request bodies and queries into domain requests, with clear errors.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ApiError;

/// A JSON request body parsed into `T`; every failure is an [`ApiError`] with a
/// message naming the field or position at fault (never axum's plain-text rejection).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::<{ crate::MAX_BODY_BYTES }>::from_request(request, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::BadRequest("the request body is empty; a JSON object is expected".into()));
        }
        serde_json::from_slice(&bytes).map(Body).map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))
    }
}

/// A raw request body of at most `LIMIT` bytes; a larger or unreadable one is an
/// [`ApiError`] (JSON), never axum's plain-text rejection. A declared length over the
/// limit is refused before any of the body is read.
pub struct RawBody<const LIMIT: usize>(pub Bytes);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for RawBody<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let too_large = || ApiError::PayloadTooLarge(format!("the request body is larger than {LIMIT} bytes"));
        if declared_length(request.headers()).is_some_and(|n| n > LIMIT as u64) {
            return Err(too_large());
        }
        Bytes::from_request(request, state).await.map(RawBody).map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::BadRequest(format!("cannot read the request body: {}", e.body_text()))
            }
        })
    }
}

fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers.get(axum::http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Reads an unauthenticated body of at most `max` bytes, each chunk taken from `budget`
/// (bytes in flight across every unauthenticated request) before it is kept. Past the
/// budget the rest of the body is read and dropped (so the client sees the answer), then
/// [`ApiError::SlowDown`]. The permit is held until the caller drops it.
pub async fn read_within_budget(
    request: Request,
    budget: &Arc<Semaphore>,
    max: usize,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), ApiError> {
    use http_body_util::BodyExt;
    let too_large = || ApiError::PayloadTooLarge(format!("the request body is larger than {max} bytes"));
    if declared_length(request.headers()).is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = request.into_body();
    let (mut buffer, mut read) = (Vec::new(), 0usize);
    let mut held: Option<OwnedSemaphorePermit> = None;
    let mut refused = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))?;
        let Ok(chunk) = frame.into_data() else { continue };
        read += chunk.len();
        if read > max {
            return Err(too_large());
        }
        if refused {
            continue;
        }
        match budget.clone().try_acquire_many_owned(chunk.len() as u32) {
            Ok(permit) => match held.as_mut() {
                Some(held) => held.merge(permit),
                None => held = Some(permit),
            },
            Err(_) => {
                // Invariant: what is kept never exceeds the budget; the rest is dropped.
                (refused, buffer, held) = (true, Vec::new(), None);
                continue;
            }
        }
        buffer.extend_from_slice(&chunk);
    }
    if refused {
        return Err(ApiError::SlowDown("too many unauthenticated request bodies in flight; retry later".into()));
    }
    Ok((Bytes::from(buffer), held))
}

/// Maps a query-string rejection to a clear 400.
pub fn query<T>(
    query: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    query.map(|q| q.0).map_err(|e| ApiError::BadRequest(format!("invalid query string: {}", e.body_text())))
}
