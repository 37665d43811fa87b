//! A request's SigV4 signature, verified: the credential scope names the service, the
//! access key (or a session with its token) names the caller, and the signature must
//! hold over the buffered body. Every failure is the error AWS answers, never a 500.

use axum::http::StatusCode;
use chrono::Utc;
use sha2::{Digest, Sha256};
use trainyard_identity::{Identities, Identity};
use trainyard_sigv4::{Authorization, SignedRequest};

use crate::protocol::{AwsError, Protocol};

/// How far a request's time may be from the server's (S3's limit; AWS's other services
/// allow five minutes, but a local tool should not be stricter than the strictest client).
pub const MAX_SKEW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Identity,
    pub service: String,
    pub region: String,
}

/// What the request was, for verification.
pub struct Parts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    /// The buffered body (none for S3, whose payload hash is a header and whose body
    /// streams, checked as it passes).
    pub body: Option<&'a [u8]>,
}

/// Whether the request's access key could be valid (a key or a live session this server
/// issued): checked before a body is read, so an unknown key costs nothing.
pub fn known_key(identities: &Identities, auth: &Authorization) -> Result<(), AwsError> {
    identities
        .sigv4_identity(&auth.access_key_id, auth.security_token.as_deref(), Utc::now())
        .map(|_| ())
        .map_err(|e| credential_error(Protocol::of(&auth.service), &e))
}

/// Verifies `auth` over the request: the caller, or the error AWS gives.
pub fn verify(
    identities: &Identities,
    auth: &Authorization,
    parts: &Parts<'_>,
) -> Result<(Caller, trainyard_sigv4::Verified), AwsError> {
    let protocol = Protocol::of(&auth.service);
    let now = Utc::now();
    let (identity, secret) = identities
        .sigv4_identity(&auth.access_key_id, auth.security_token.as_deref(), now)
        .map_err(|e| credential_error(protocol, &e))?;
    let payload_hash = match parts.body {
        Some(body) => hex(&Sha256::digest(body)),
        None => header(parts.headers, "x-amz-content-sha256").unwrap_or("UNSIGNED-PAYLOAD").to_string(),
    };
    let request = SignedRequest {
        method: parts.method,
        path: parts.path,
        query: parts.query,
        headers: parts.headers,
        payload_hash: &payload_hash,
    };
    let key = signing_key(&auth.access_key_id, &secret, auth);
    let verified = trainyard_sigv4::verify_with_key(&request, auth, key, now, MAX_SKEW)
        .map_err(|e| signature_error(protocol, e))?;
    Ok((Caller { identity, service: auth.service.clone(), region: auth.region.clone() }, verified))
}

fn credential_error(protocol: Protocol, error: &trainyard_identity::Error) -> AwsError {
    match (error, protocol) {
        (trainyard_identity::Error::ExpiredToken, Protocol::Json | Protocol::RestJson) => {
            AwsError::bad_request("ExpiredTokenException", "The security token included in the request is expired")
        }
        (trainyard_identity::Error::ExpiredToken, _) => {
            AwsError::bad_request("ExpiredToken", "The security token included in the request is expired")
        }
        (_, Protocol::Json | Protocol::RestJson) => AwsError::new(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (_, Protocol::RestXml) => AwsError::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        (_, Protocol::Query) => AwsError::new(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
    }
}

fn signature_error(protocol: Protocol, error: trainyard_sigv4::Error) -> AwsError {
    use trainyard_sigv4::Error as Sig;
    match error {
        Sig::RequestTimeTooSkewed { request_time, server_time } => {
            let code = if protocol == Protocol::RestXml { "RequestTimeTooSkewed" } else { "InvalidSignatureException" };
            let message = format!(
                "Signature expired: {request_time} is now earlier or later than {server_time} by more than 15 minutes"
            );
            AwsError::new(StatusCode::FORBIDDEN, code, message)
        }
        Sig::Expired => AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired"),
        Sig::SignatureDoesNotMatch { canonical_request, .. } => {
            let code = match protocol {
                Protocol::Json | Protocol::RestJson => "InvalidSignatureException",
                _ => "SignatureDoesNotMatch",
            };
            let message = format!(
                "The request signature we calculated does not match the signature you provided. Check your AWS \
                 Secret Access Key and signing method. The Canonical String for this request should have been\n'{canonical_request}'"
            );
            AwsError::new(StatusCode::FORBIDDEN, code, message)
        }
        other => AwsError::bad_request("IncompleteSignature", other.to_string()),
    }
}

/// Signing keys by access key and scope: a key depends only on the secret (fixed for an
/// access key id: derived from the master key) and the scope's date, region and service.
type ScopeKey = (String, String, String, String);

static SIGNING_KEYS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<ScopeKey, [u8; 32]>>> =
    std::sync::LazyLock::new(Default::default);

/// The scope's signing key, derived once per access key, day, region and service.
fn signing_key(access_key_id: &str, secret: &str, auth: &Authorization) -> [u8; 32] {
    let scope = (access_key_id.to_string(), auth.date.clone(), auth.region.clone(), auth.service.clone());
    if let Some(key) = SIGNING_KEYS.lock().ok().and_then(|keys| keys.get(&scope).copied()) {
        return key;
    }
    let key = trainyard_sigv4::signing_key(secret, &auth.date, &auth.region, &auth.service);
    if let Ok(mut keys) = SIGNING_KEYS.lock() {
        // Bounded: yesterday's scopes and many short sessions are forgotten together.
        if keys.len() >= 10_000 {
            keys.clear();
        }
        keys.insert(scope, key);
    }
    key
}

/// A header's value (names compared case-insensitively).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}
