//! The canonical request, the string to sign and the signing key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth::{header_values, query_pairs, Authorization};
use crate::encode::{percent_decode, sha256_hex, uri_encode};
use crate::ALGORITHM;

/// The parts of a request the signature covers. Header names may be any case; several values of one header
/// are joined by ",".
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path exactly as sent (still percent-encoded), without the query.
    pub path: &'a str,
    /// The raw query string as sent (without '?'), possibly empty.
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    /// What the payload hash is: for S3 the `x-amz-content-sha256` header value (hex, `UNSIGNED-PAYLOAD`,
    /// `STREAMING-…`; `UNSIGNED-PAYLOAD` for a presigned URL without that header); for other services the
    /// hex SHA-256 of the whole body the caller buffered ([`crate::sha256_hex`]).
    pub payload_hash: &'a str,
}

/// Which canonical URI rule applies: S3 encodes the path once and does not normalize; every other service
/// encodes the as-sent path again and normalizes dot segments (botocore's `SigV4Auth` vs `S3SigV4Auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriRule {
    S3,
    Default,
}

impl UriRule {
    /// `S3` for the S3 signing names (`s3`, `s3-object-lambda`, `s3-outposts`, `s3express`), else `Default`.
    pub fn for_service(service: &str) -> UriRule {
        match service {
            "s3" | "s3-object-lambda" | "s3-outposts" | "s3express" => UriRule::S3,
            _ => UriRule::Default,
        }
    }
}

/// The canonical URI of an as-sent path.
///
/// S3: each `/`-separated segment is decoded and encoded once (RFC 3986), which is the as-sent path for any
/// client that encodes as botocore does (an encoded `%2F` stays `%2F`). Default: dot segments and empty
/// segments removed as botocore's `remove_dot_segments` does, then the as-sent text encoded again
/// (`%3A` → `%253A`).
pub(crate) fn canonical_uri(path: &str, rule: UriRule) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    match rule {
        UriRule::S3 => {
            path.split('/').map(|segment| uri_encode(&percent_decode(segment), false)).collect::<Vec<_>>().join("/")
        }
        UriRule::Default => uri_encode(remove_dot_segments(path).as_bytes(), true),
    }
}

/// botocore's `remove_dot_segments`: RFC 3986 §5.2.4 plus the removal of empty segments, keeping a leading
/// and (unless nothing is left) a trailing slash.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(segment),
        }
    }
    let first = if path.starts_with('/') { "/" } else { "" };
    let last = if path.ends_with('/') && !out.is_empty() { "/" } else { "" };
    format!("{first}{}{last}", out.join("/"))
}

/// The canonical query: each pair decoded and encoded again (RFC 3986), sorted by name then value;
/// `X-Amz-Signature` left out of a presigned URL's.
pub(crate) fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .map(|(name, value)| (percent_decode(name), percent_decode(value)))
        .filter(|(name, _)| !(presigned && name == b"X-Amz-Signature"))
        .map(|(name, value)| (uri_encode(&name, false), uri_encode(&value, false)))
        .collect();
    pairs.sort();
    pairs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&")
}

/// A header value with its ends trimmed and inner runs of whitespace collapsed to one space.
fn trim_all(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request text (for debugging and for `SignatureDoesNotMatch` messages, as AWS includes it).
pub fn canonical_request(request: &SignedRequest, auth: &Authorization, rule: UriRule) -> String {
    canonical_request_with_uri(request, auth, &canonical_uri(request.path, rule))
}

pub(crate) fn canonical_request_with_uri(request: &SignedRequest, auth: &Authorization, uri: &str) -> String {
    let mut text = String::with_capacity(256);
    text.push_str(request.method);
    text.push('\n');
    text.push_str(uri);
    text.push('\n');
    text.push_str(&canonical_query(request.query, auth.presigned.is_some()));
    text.push('\n');
    for name in &auth.signed_headers {
        let values: Vec<String> = header_values(request.headers, name).map(trim_all).collect();
        text.push_str(name);
        text.push(':');
        text.push_str(&values.join(","));
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&auth.signed_headers.join(";"));
    text.push('\n');
    text.push_str(request.payload_hash);
    text
}

/// `AWS4-HMAC-SHA256\n<X-Amz-Date>\n<scope>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(auth: &Authorization, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}\n{}\n{}", auth.timestamp, auth.scope(), sha256_hex(canonical_request.as_bytes()))
}

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac
}

fn hmac_bytes(key: &[u8], data: &str) -> [u8; 32] {
    hmac(key, data.as_bytes()).finalize().into_bytes().into()
}

/// The signing key: HMAC chain of "AWS4"+secret, date, region, service, "aws4_request".
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_bytes(format!("AWS4{secret}").as_bytes(), date);
    let k_region = hmac_bytes(&k_date, region);
    let k_service = hmac_bytes(&k_region, service);
    hmac_bytes(&k_service, "aws4_request")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::hex;

    #[test]
    fn s3_uri_is_the_path_encoded_once() {
        assert_eq!(canonical_uri("", UriRule::S3), "/");
        assert_eq!(canonical_uri("/", UriRule::S3), "/");
        assert_eq!(canonical_uri("/b/a%20b.csv", UriRule::S3), "/b/a%20b.csv");
        assert_eq!(canonical_uri("/b/a%2Fb//./../c", UriRule::S3), "/b/a%2Fb//./../c");
        assert_eq!(canonical_uri("/b/a%2fb%7e", UriRule::S3), "/b/a%2Fb~");
        assert_eq!(canonical_uri("/b/k!(", UriRule::S3), "/b/k%21%28");
    }

    #[test]
    fn default_uri_is_normalized_and_encoded_again() {
        assert_eq!(canonical_uri("", UriRule::Default), "/");
        assert_eq!(canonical_uri("/", UriRule::Default), "/");
        assert_eq!(canonical_uri("/f/arn%3Aaws/x", UriRule::Default), "/f/arn%253Aaws/x");
        assert_eq!(canonical_uri("/a/./b/../c//d/", UriRule::Default), "/a/c/d/");
        assert_eq!(canonical_uri("/..", UriRule::Default), "/");
        assert_eq!(canonical_uri("/a b~", UriRule::Default), "/a%20b~");
    }

    #[test]
    fn query_is_sorted_and_reencoded() {
        assert_eq!(canonical_query("", false), "");
        assert_eq!(
            canonical_query("list-type=2&prefix=train%2F&encoding-type=url", false),
            "encoding-type=url&list-type=2&prefix=train%2F"
        );
        assert_eq!(canonical_query("b=2&a&b=1&a=", false), "a=&a=&b=1&b=2");
        assert_eq!(canonical_query("k=a%7eb%2a&x=a+b", false), "k=a~b%2A&x=a%2Bb");
        assert_eq!(canonical_query("X-Amz-Signature=abc&a=1", true), "a=1");
        assert_eq!(canonical_query("X-Amz-Signature=abc&a=1", false), "X-Amz-Signature=abc&a=1");
    }

    #[test]
    fn trims_header_values() {
        assert_eq!(trim_all("  a   b \t c  "), "a b c");
        assert_eq!(trim_all(""), "");
    }

    /// The derived key of the IAM User Guide's example (secret `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`,
    /// 20120215/us-east-1/iam).
    #[test]
    fn documented_signing_key() {
        let key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
        assert_eq!(hex(&key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }
}
