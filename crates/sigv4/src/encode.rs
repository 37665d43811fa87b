//! Hex, SHA-256 and the RFC 3986 encoding SigV4 uses.

use sha2::{Digest, Sha256};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// Lowercase hex SHA-256 of bytes: the payload hash of a buffered body.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Decodes 64 hex digits (either case) into 32 bytes.
pub(crate) fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 encoding of every byte but the unreserved `A-Za-z0-9-._~` (and `/` when `keep_slash`), with
/// uppercase hex: `a b+c` → `a%20b%2Bc`.
pub fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)].to_ascii_uppercase() as char);
            out.push(HEX[usize::from(b & 0xf)].to_ascii_uppercase() as char);
        }
    }
    out
}

/// Decodes `%XX` escapes; anything else (a `+`, a stray `%`) stays as it is.
pub(crate) fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                out.push((h << 4) | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let bytes: Vec<u8> = (0..32).map(|i| i * 7).collect();
        let text = hex(&bytes);
        assert_eq!(decode_hex32(&text).unwrap().to_vec(), bytes);
        assert_eq!(decode_hex32(&text.to_uppercase()).unwrap().to_vec(), bytes);
        assert!(decode_hex32(&text[1..]).is_none());
        assert!(decode_hex32(&format!("{}g", &text[1..])).is_none());
    }

    #[test]
    fn empty_hash() {
        assert_eq!(sha256_hex(b""), crate::EMPTY_SHA256);
    }

    #[test]
    fn encodes_all_but_unreserved() {
        assert_eq!(uri_encode(b"aZ09-._~ +/=&%", false), "aZ09-._~%20%2B%2F%3D%26%25");
        assert_eq!(uri_encode(b"a/b c", true), "a/b%20c");
        assert_eq!(uri_encode("é".as_bytes(), false), "%C3%A9");
    }

    #[test]
    fn decodes_escapes_only() {
        assert_eq!(percent_decode("a%20b+c%2fd"), b"a b+c/d");
        assert_eq!(percent_decode("%"), b"%");
        assert_eq!(percent_decode("%4"), b"%4");
        assert_eq!(percent_decode("%zz%41"), b"%zzA");
        assert_eq!(percent_decode("%41"), b"A");
    }
}
