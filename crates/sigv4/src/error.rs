//! What can go wrong when verifying a request.

/// Why a request or an `aws-chunked` body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The authorization (header or query) or the request is malformed; the message says what.
    /// The facade answers `IncompleteSignature`, `InvalidRequest` or `AuthorizationHeaderMalformed`.
    #[error("malformed SigV4 authorization: {0}")]
    Malformed(String),
    /// The signature is not the one computed; AWS includes both texts in its error.
    #[error("the request signature does not match the signature computed")]
    SignatureDoesNotMatch { canonical_request: String, string_to_sign: String },
    /// `X-Amz-Date` is too far from the server's clock.
    #[error("the difference between the request time {request_time} and the server time {server_time} is too large")]
    RequestTimeTooSkewed { request_time: String, server_time: String },
    /// A presigned URL past its expiry.
    #[error("the presigned URL has expired")]
    Expired,
    /// A bad `aws-chunked` frame, chunk signature or trailer.
    #[error("bad aws-chunked body: {0}")]
    BadChunk(String),
}

pub(crate) fn malformed(message: impl Into<String>) -> Error {
    Error::Malformed(message.into())
}

pub(crate) fn bad_chunk(message: impl Into<String>) -> Error {
    Error::BadChunk(message.into())
}
