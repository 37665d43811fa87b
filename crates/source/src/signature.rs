//! GitHub's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw
//! body keyed with the webhook secret>`, compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether `header` is the right signature of `body` under `secret`.
pub fn verify(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.strip_prefix("sha256=")) else { return false };
    let Some(expected) = decode_hex(hex) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(body);
    // Invariant: `verify_slice` compares in constant time.
    mac.verify_slice(&expected).is_ok()
}

/// Whether `header` has the form of a signature (`sha256=` and 64 hex digits), so that a
/// request without one is refused before its body is read.
pub fn well_formed(header: Option<&str>) -> bool {
    header
        .and_then(|h| h.strip_prefix("sha256="))
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The header value for `body` under `secret` (for clients and tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("sha256={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's published example ("Validating webhook deliveries").
    #[test]
    fn githubs_test_vector() {
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify("It's a Secret to Everybody", b"Hello, World!", Some(header)));
        assert_eq!(sign("It's a Secret to Everybody", b"Hello, World!"), header);
        assert!(!verify("It's a Secret to Everybody", b"Hello, World?", Some(header)));
        assert!(!verify("another secret", b"Hello, World!", Some(header)));
        for bad in [None, Some(""), Some("sha1=abc"), Some("sha256=zz"), Some("sha256=757")] {
            assert!(!verify("It's a Secret to Everybody", b"Hello, World!", bad), "{bad:?}");
        }
    }
}
