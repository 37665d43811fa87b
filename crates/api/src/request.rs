//! Parsing request bodies and queries into domain requests, with clear errors.

use axum::body::Bytes;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Parses a JSON body; the message names the field or position at fault.
pub fn json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::BadRequest("the request body is empty; a JSON object is expected".into()));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))
}

/// Maps a query-string rejection to a clear 400.
pub fn query<T>(
    query: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    query.map(|q| q.0).map_err(|e| ApiError::BadRequest(format!("invalid query string: {}", e.body_text())))
}
