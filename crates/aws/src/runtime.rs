//! SageMaker runtime (`POST /endpoints/{name}/invocations`, signed for `sagemaker`), onto
//! the endpoints' data plane: the same payload formats and answers as the native route.

use std::time::Instant;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use trainyard_endpoints::payload::{self, Format};

use crate::protocol::AwsError;
use crate::signed::header as find;
use crate::Call;

/// `InvokeEndpoint`.
pub async fn invoke(
    call: &Call<'_>,
    name: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Response, AwsError> {
    let started = Instant::now();
    let resource =
        format!("arn:aws:sagemaker:{}:{}:endpoint/{name}", trainyard_identity::REGION, trainyard_identity::ACCOUNT);
    call.authorize("sagemaker:InvokeEndpoint", &resource).await?;
    let data = call.state.endpoints.data();
    if data.get(name).is_none() {
        return Err(AwsError::bad_request(
            "ValidationError",
            format!("Endpoint {name} of account {} not found.", trainyard_identity::ACCOUNT),
        ));
    }
    let rows = payload::parse(find(headers, "content-type"), body)
        .map_err(|e| AwsError::bad_request("ValidationError", e.to_string()))?;
    let answer = data
        .invoke(name, rows, find(headers, "x-amzn-sagemaker-target-variant"), started)
        .await
        .map_err(|e| AwsError::new(StatusCode::FAILED_DEPENDENCY, "ModelError", e.to_string()))?;
    let format = Format::negotiate(find(headers, "accept"), answer.variant.serving);
    let body = payload::render(&answer.predictions, answer.variant.classes(), format, answer.variant.serving);
    answer.variant.stats.record(answer.model_time, started.elapsed(), false);
    let mut response = Response::new(axum::body::Body::from(body));
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if let Ok(variant) = HeaderValue::from_str(&answer.variant.name) {
        out.insert("x-amzn-invoked-production-variant", variant);
    }
    if let Ok(id) = HeaderValue::from_str(&call.request_id) {
        out.insert("x-amzn-requestid", id);
    }
    Ok(response)
}
