//! A verifier of AWS Signature Version 4: it parses the `Authorization` header or a presigned URL's
//! `X-Amz-*` query parameters, rebuilds the canonical request as botocore signs it (the S3 rule and the
//! default rule for every other service), checks the time and the signature, and decodes `aws-chunked`
//! bodies while checking each chunk's signature.
//!
//! This crate is pure: it must never do I/O (no sockets, no files, no secret store) and it reads no clock
//! but the time handed in. The caller looks up the secret of an access key id and hashes bodies it buffers.

mod auth;
mod canonical;
mod chunked;
mod encode;
mod error;
mod verify;

pub use auth::{parse, Authorization, Presigned, MAX_PRESIGNED_EXPIRES};
pub use canonical::{canonical_request, signing_key, string_to_sign, SignedRequest, UriRule};
pub use chunked::{ChunkedDecoder, ChunkedMode, Trailers, MAX_LINE};
pub use encode::{hex, sha256_hex, uri_encode};
pub use error::Error;
pub use verify::{verify, verify_with_key, Verified};

/// The only algorithm this crate verifies.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// `x-amz-content-sha256` of a body the client did not hash (presigned URLs, some SDKs over https).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Hex SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
