//! Verifying a request: its time, its expiry and its signature.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hmac::Mac;

use crate::auth::{parse_timestamp, Authorization, MAX_PRESIGNED_EXPIRES};
use crate::canonical::{canonical_request_with_uri, canonical_uri, hmac, signing_key, string_to_sign};
use crate::encode::decode_hex32;
use crate::error::{malformed, Error};
use crate::{SignedRequest, UriRule};

/// What a verified request hands on to the `aws-chunked` decoder. `Debug` leaves the key out.
#[derive(Clone, PartialEq, Eq)]
pub struct Verified {
    pub signing_key: [u8; 32],
    /// The request's own signature: the seed of the chunk signature chain.
    pub seed_signature: String,
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("signing_key", &"<redacted>")
            .field("seed_signature", &self.seed_signature)
            .finish()
    }
}

/// Verifies a request: the timestamp agrees with the scope date and lies within `max_skew` of `now` (a
/// presigned URL may be older, up to its expiry: `X-Amz-Expires` ≤ 604800, past it [`Error::Expired`]), then
/// the signature, compared in constant time. The canonical URI rule follows the scope's service
/// ([`UriRule::for_service`]). For S3, a path whose as-sent encoding differs from the canonical one
/// (say `%7E` for `~`) is also tried as sent, which is what a client that signs its own encoding signed.
pub fn verify(
    request: &SignedRequest,
    auth: &Authorization,
    secret: &str,
    now: DateTime<Utc>,
    max_skew: Duration,
) -> Result<Verified, Error> {
    let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
    verify_with_key(request, auth, key, now, max_skew)
}

/// The timestamp agrees with the scope date and lies within `max_skew` of `now` (a
/// presigned URL, up to its expiry).
fn check_time(auth: &Authorization, now: DateTime<Utc>, max_skew: Duration) -> Result<(), Error> {
    let time = parse_timestamp(&auth.timestamp)?;
    if !auth.timestamp.starts_with(&auth.date) {
        return Err(malformed(format!(
            "the credential date {} does not match X-Amz-Date {}",
            auth.date, auth.timestamp
        )));
    }
    let skew = TimeDelta::from_std(max_skew).unwrap_or(TimeDelta::MAX);
    let skewed = || Error::RequestTimeTooSkewed {
        request_time: auth.timestamp.clone(),
        server_time: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    let age = now.signed_duration_since(time);
    match &auth.presigned {
        None if age.abs() > skew => return Err(skewed()),
        None => {}
        Some(presigned) => {
            if presigned.expires_seconds > MAX_PRESIGNED_EXPIRES {
                return Err(malformed(format!("X-Amz-Expires must be at most {MAX_PRESIGNED_EXPIRES} seconds")));
            }
            if -age > skew {
                return Err(skewed());
            }
            let expires = i64::try_from(presigned.expires_seconds).unwrap_or(i64::MAX);
            if age > TimeDelta::seconds(expires) {
                return Err(Error::Expired);
            }
        }
    }
    Ok(())
}

/// [`verify`] with the signing key already derived (it depends only on the secret and the
/// scope's date, region and service, so a server may keep it for the day).
pub fn verify_with_key(
    request: &SignedRequest,
    auth: &Authorization,
    key: [u8; 32],
    now: DateTime<Utc>,
    max_skew: Duration,
) -> Result<Verified, Error> {
    check_time(auth, now, max_skew)?;
    let signature = decode_hex32(&auth.signature).ok_or_else(|| malformed("the signature is not 64 hex digits"))?;
    let rule = UriRule::for_service(&auth.service);
    let uri = canonical_uri(request.path, rule);
    let canonical = canonical_request_with_uri(request, auth, &uri);
    let to_sign = string_to_sign(auth, &canonical);
    let mut matches = hmac(&key, to_sign.as_bytes()).verify_slice(&signature).is_ok();
    if !matches && rule == UriRule::S3 && !request.path.is_empty() && request.path != uri {
        let as_sent = string_to_sign(auth, &canonical_request_with_uri(request, auth, request.path));
        matches = hmac(&key, as_sent.as_bytes()).verify_slice(&signature).is_ok();
    }
    if !matches {
        return Err(Error::SignatureDoesNotMatch { canonical_request: canonical, string_to_sign: to_sign });
    }
    Ok(Verified { signing_key: key, seed_signature: auth.signature.clone() })
}
