//! Access key ids, secrets and session tokens.
//!
//! Ids look like AWS's (`AKIA…` keys, `ASIA…` sessions, 20 characters of A–Z and 2–7) so
//! that every AWS SDK accepts them. Secrets carry a typed prefix (`tyk_` a user's key,
//! `tyr_` a robot's key, `tys_` a session's signing secret, `tyt_` a session token) and
//! 256 bits of HMAC output. Invariant: no secret is stored. Each is *derived* from the
//! server's master key and the id it belongs to (`Sealer::derive`), because AWS SigV4
//! needs the secret itself to check a signature: deriving gives it back on demand with
//! nothing to leak from the database, where sealing would store a ciphertext per key. The
//! database keeps SHA-256 digests only, to find the key a bearer secret belongs to.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use trainyard_auth::Sealer;

use crate::identity::PrincipalKind;

/// The digest a secret is found by.
pub type SecretDigest = [u8; 32];

/// A new id: `prefix` and 16 characters of the RFC 4648 base32 alphabet (80 random bits).
pub fn new_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let tail: String = bytes.iter().map(|b| ALPHABET[usize::from(b & 31)] as char).collect();
    format!("{prefix}{tail}")
}

/// What a derived secret is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// A user's long-term key.
    UserKey,
    /// A service account's long-term key.
    RobotKey,
    /// A session's signing secret (`AWS_SECRET_ACCESS_KEY`).
    SessionSecret,
    /// A session's token (`AWS_SESSION_TOKEN`; also a bearer credential).
    SessionToken,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            SecretKind::UserKey => "tyk_",
            SecretKind::RobotKey => "tyr_",
            SecretKind::SessionSecret => "tys_",
            SecretKind::SessionToken => "tyt_",
        }
    }

    /// The kind of a principal's long-term key.
    pub fn of_key(kind: PrincipalKind) -> SecretKind {
        match kind {
            PrincipalKind::ServiceAccount => SecretKind::RobotKey,
            _ => SecretKind::UserKey,
        }
    }
}

/// The secret of `kind` that belongs to `id`, under `sealer`'s master key.
pub fn derive_secret(sealer: &Sealer, kind: SecretKind, id: &str) -> String {
    let prefix = kind.prefix();
    let bytes = sealer.derive(&format!("trainyard credential\0{prefix}\0{id}"));
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The digest a secret is stored and found by.
pub fn digest(secret: &str) -> SecretDigest {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `text` has the shape of a secret this module makes (a cheap filter before a
/// lookup, never a check).
pub fn looks_like_secret(text: &str) -> bool {
    ["tyk_", "tyr_", "tyt_"].iter().any(|p| text.starts_with(p)) && text.len() == 4 + 43
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_aws_ids_and_differ() {
        let id = new_id("AKIA");
        assert_eq!(id.len(), 20);
        assert!(id.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
        assert_ne!(id, new_id("AKIA"));
    }

    #[test]
    fn secrets_are_derived_typed_and_256_bits() {
        let sealer = Sealer::from_key(&[1; 32]);
        let secret = derive_secret(&sealer, SecretKind::UserKey, "AKIAEXAMPLE");
        assert!(secret.starts_with("tyk_") && looks_like_secret(&secret));
        assert_eq!(secret, derive_secret(&sealer, SecretKind::UserKey, "AKIAEXAMPLE"));
        assert_ne!(secret, derive_secret(&sealer, SecretKind::UserKey, "AKIAOTHER"));
        assert_ne!(secret[4..], derive_secret(&sealer, SecretKind::RobotKey, "AKIAEXAMPLE")[4..]);
        assert_ne!(secret, derive_secret(&Sealer::from_key(&[2; 32]), SecretKind::UserKey, "AKIAEXAMPLE"));
        assert!(!looks_like_secret(&derive_secret(&sealer, SecretKind::SessionSecret, "ASIA1")));
    }
}
