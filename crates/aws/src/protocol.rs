//! The four wire protocols' answers and errors: `json` (`{"__type", "message"}`),
//! `rest-json` (the same plus `x-amzn-ErrorType`), `rest-xml` (S3's `<Error>`) and `query`
//! (`<ErrorResponse><Error>…`), each with the request-id header its clients read.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

/// How a service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `X-Amz-Target` operations, JSON 1.1 bodies (sagemaker, events, ecr, logs).
    Json,
    /// REST paths with JSON (lambda, sagemaker-runtime).
    RestJson,
    /// S3.
    RestXml,
    /// `Action=` form bodies, XML answers (iam, sts).
    Query,
}

impl Protocol {
    /// The protocol of a service, by its signing name.
    pub fn of(service: &str) -> Protocol {
        match service {
            "s3" => Protocol::RestXml,
            "iam" | "sts" => Protocol::Query,
            "lambda" => Protocol::RestJson,
            _ => Protocol::Json,
        }
    }
}

/// An AWS error: status, the code botocore raises as `ClientError`, and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> AwsError {
        AwsError { status, code: code.to_string(), message: message.into() }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> AwsError {
        AwsError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The answer in `protocol`'s shape, with request id `request_id`.
    pub fn respond(&self, protocol: Protocol, request_id: &str) -> Response {
        let (content_type, body) = match protocol {
            Protocol::Json | Protocol::RestJson => (
                "application/x-amz-json-1.1",
                serde_json::json!({"__type": self.code, "message": self.message}).to_string(),
            ),
            Protocol::RestXml => (
                "application/xml",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId></Error>",
                    xml_escape(&self.code),
                    xml_escape(&self.message),
                    request_id
                ),
            ),
            Protocol::Query => (
                "text/xml",
                format!(
                    "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                    if self.status.is_server_error() { "Receiver" } else { "Sender" },
                    xml_escape(&self.code),
                    xml_escape(&self.message),
                    request_id
                ),
            ),
        };
        let mut response = answer(self.status, content_type, body, protocol, request_id);
        if protocol == Protocol::RestJson {
            if let Ok(value) = HeaderValue::from_str(&self.code) {
                response.headers_mut().insert("x-amzn-errortype", value);
            }
        }
        response
    }
}

/// A response with the request-id headers `protocol`'s clients read.
pub fn answer(status: StatusCode, content_type: &str, body: String, protocol: Protocol, request_id: &str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        match protocol {
            Protocol::RestXml => {
                headers.insert("x-amz-request-id", id.clone());
                headers.insert("x-amz-id-2", id);
            }
            _ => {
                headers.insert("x-amzn-requestid", id);
            }
        }
    }
    response
}

/// Text made safe inside XML.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_take_each_protocols_shape() {
        let error = AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", "a <b> & c");
        let query = error.respond(Protocol::Query, "r1");
        assert_eq!(query.status(), 403);
        assert_eq!(query.headers()["x-amzn-requestid"], "r1");
        let json = error.respond(Protocol::RestJson, "r2");
        assert_eq!(json.headers()["x-amzn-errortype"], "AccessDenied");
        assert_eq!(xml_escape("a <b> & 'c'"), "a &lt;b&gt; &amp; &apos;c&apos;");
    }
}
