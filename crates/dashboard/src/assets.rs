//! The dashboard's static files, embedded in the binary: its own stylesheet and script and
//! the pinned vendored libraries (`assets/vendor/VENDOR.md`: htmx, its SSE extension,
//! uPlot). Served with a content hash in the URL and cached for good; the security headers
//! of every dashboard response.

use std::sync::OnceLock;

use axum::extract::{Path, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::UiError;

/// (name, content type, bytes)
const FILES: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("../assets/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../assets/app.js")),
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/vendor/htmx.min.js")),
    ("sse.js", "text/javascript; charset=utf-8", include_bytes!("../assets/vendor/sse.js")),
    ("uPlot.iife.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/vendor/uPlot.iife.min.js")),
    ("uPlot.min.css", "text/css; charset=utf-8", include_bytes!("../assets/vendor/uPlot.min.css")),
];

fn hashes() -> &'static Vec<String> {
    static HASHES: OnceLock<Vec<String>> = OnceLock::new();
    HASHES.get_or_init(|| {
        FILES
            .iter()
            .map(|(_, _, bytes)| Sha256::digest(bytes).iter().take(6).map(|b| format!("{b:02x}")).collect())
            .collect()
    })
}

/// The URL of an embedded file, with its content hash (so it may be cached for good).
pub fn url(name: &str) -> String {
    match FILES.iter().position(|(n, ..)| *n == name) {
        Some(i) => format!("/ui/assets/{name}?v={}", hashes()[i]),
        None => format!("/ui/assets/{name}"),
    }
}

pub async fn serve(Path(file): Path<String>) -> Result<Response, UiError> {
    let (_, content_type, bytes) =
        FILES.iter().find(|(name, ..)| *name == file).ok_or_else(|| UiError::NotFound(format!("no asset {file}")))?;
    Ok(([(CONTENT_TYPE, *content_type), (CACHE_CONTROL, "public, max-age=31536000, immutable")], *bytes)
        .into_response())
}

/// The policy every page is served under: nothing but this server's own files, no inline
/// script or style, no framing.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                      connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendored files are the pinned releases `assets/vendor/SHA256SUMS` names.
    #[test]
    fn vendored_files_are_the_pinned_releases() {
        let sums = include_str!("../assets/vendor/SHA256SUMS");
        let mut checked = 0;
        for line in sums.lines().filter(|l| !l.trim().is_empty()) {
            let (sum, name) = line.split_once("  ").expect("sha256sum format");
            let (_, _, bytes) = FILES.iter().find(|(n, ..)| *n == name.trim()).expect("listed file is embedded");
            let actual: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(actual, sum, "{name}");
            checked += 1;
        }
        assert_eq!(checked, 4, "htmx, sse, uPlot js and css");
    }

    #[test]
    fn urls_carry_the_content_hash() {
        assert!(url("app.js").starts_with("/ui/assets/app.js?v="));
        assert_eq!(url("app.js").len(), "/ui/assets/app.js?v=".len() + 12);
    }
}
