//! Secrets the server must keep in usable form (a webhook's HMAC key, which verifying a
//! delivery needs whole), sealed at rest with ChaCha20-Poly1305 under the server's master
//! key: 32 random bytes in `DATA_DIR/master.key` (mode 0600, created atomically). A
//! database copied without that file holds no usable secret.

use std::fs;
use std::path::Path;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

use crate::Error;

/// What every sealed value starts with (and a plain one never does, by this check).
const SEALED_PREFIX: &str = "sealed:v1:";
const NONCE_BYTES: usize = 12;

/// Seals and opens secrets under the master key. Cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    /// The HMAC key of fingerprints, derived from the master key.
    fingerprint_key: [u8; 32],
    /// The HMAC key of derived secrets (access keys' secrets), derived from the master key.
    derivation_key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// The sealer of the master key at `path`, creating the key if absent.
    pub fn load_or_create(path: &Path) -> Result<Sealer, Error> {
        let file_error = |source| Error::TokenFile { path: path.display().to_string(), source };
        let key = match fs::read(path) {
            Ok(bytes) if bytes.len() == 32 => bytes,
            Ok(bytes) if !bytes.is_empty() => {
                let reason = format!("the master key must be 32 bytes, not {}", bytes.len());
                return Err(file_error(std::io::Error::new(std::io::ErrorKind::InvalidData, reason)));
            }
            Ok(_) => fresh_key(path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fresh_key(path)?,
            Err(e) => return Err(file_error(e)),
        };
        Ok(Sealer::from_key(&key))
    }

    /// A sealer with `key` (32 bytes), for tests.
    pub fn from_key(key: &[u8]) -> Sealer {
        use sha2::Digest;
        let fingerprint_key = sha2::Sha256::new().chain_update(b"trainyard fingerprint\0").chain_update(key).finalize();
        let derivation_key = sha2::Sha256::new().chain_update(b"trainyard derivation\0").chain_update(key).finalize();
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
            fingerprint_key: fingerprint_key.into(),
            derivation_key: derivation_key.into(),
        }
    }

    /// A secret derived from the master key for `label` (256 bits): the same label gives
    /// the same secret under this key, and nothing about it without the key. Access keys'
    /// secrets are derived from their ids this way, so none is ever stored.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.derivation_key).expect("any key length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A stand-in for `secret` where text that holds it is kept (`hmac-sha256:` and 64
    /// hex digits): the same secret gives the same fingerprint under this key, and the
    /// fingerprint tells nothing of the secret without it.
    pub fn fingerprint(&self, secret: &str) -> String {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.fingerprint_key).expect("any key length");
        mac.update(secret.as_bytes());
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("hmac-sha256:{hex}")
    }

    /// `secret`, sealed: `sealed:v1:` and base64 of a random nonce and the ciphertext.
    pub fn seal(&self, secret: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self.cipher.encrypt(Nonce::from_slice(&nonce), secret.as_bytes()).expect("sealing cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes))
    }

    /// The secret `sealed` holds; an error if it was not sealed under this key.
    pub fn open(&self, sealed: &str) -> Result<String, Error> {
        let encoded = sealed.strip_prefix(SEALED_PREFIX).ok_or(Error::Unsealable)?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded).map_err(|_| Error::Unsealable)?;
        if bytes.len() < NONCE_BYTES {
            return Err(Error::Unsealable);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| Error::Unsealable)?;
        String::from_utf8(plain).map_err(|_| Error::Unsealable)
    }

    /// Whether `text` is a sealed value (rather than a secret stored by an older version).
    pub fn is_sealed(text: &str) -> bool {
        text.starts_with(SEALED_PREFIX)
    }
}

fn fresh_key(path: &Path) -> Result<Vec<u8>, Error> {
    let mut key = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    crate::write_private_file(path, &key)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_under_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let sealer = Sealer::load_or_create(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let sealed = sealer.seal("hook-secret");
        assert!(Sealer::is_sealed(&sealed) && !sealed.contains("hook-secret"));
        assert_ne!(sealed, sealer.seal("hook-secret"), "a fresh nonce each time");
        assert_eq!(sealer.open(&sealed).unwrap(), "hook-secret");
        // The same file gives the same key; another key opens nothing.
        assert_eq!(Sealer::load_or_create(&path).unwrap().open(&sealed).unwrap(), "hook-secret");
        assert!(Sealer::from_key(&[7; 32]).open(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(sealer.open(&tampered).is_err());
        assert!(sealer.open("hook-secret").is_err(), "plain text is not sealed");
        let fingerprint = sealer.fingerprint("hook-secret");
        assert_eq!(fingerprint, sealer.fingerprint("hook-secret"));
        assert_ne!(fingerprint, sealer.fingerprint("hook-secreT"));
        assert_ne!(fingerprint, Sealer::from_key(&[7; 32]).fingerprint("hook-secret"));
        assert!(fingerprint.starts_with("hmac-sha256:") && fingerprint.len() == 12 + 64);
        assert_eq!(sealer.derive("AKIA1"), sealer.derive("AKIA1"));
        assert_ne!(sealer.derive("AKIA1"), sealer.derive("AKIA2"));
        assert_ne!(sealer.derive("AKIA1"), Sealer::from_key(&[7; 32]).derive("AKIA1"));
    }
}
