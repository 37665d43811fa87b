//! Authentication: the admin token written on first start and the check every API
//! call passes through.
//!
//! This crate decides who a caller is, and seals the secrets the server keeps
//! ([`Sealer`]); it must never log, print or store a token or secret in clear text
//! anywhere but the files it creates (mode 0600).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rand::RngCore;
use sha2::{Digest, Sha256};

mod seal;

pub use seal::Sealer;

/// Every way authentication can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing Authorization header: send 'Authorization: Bearer <token>'")]
    MissingCredentials,
    #[error("the token is not valid")]
    InvalidToken,
    #[error("a sealed secret does not open under this server's master key")]
    Unsealable,
    #[error("secret file {path}: {source}")]
    TokenFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Checks bearer tokens against the admin token without keeping it in clear.
#[derive(Clone)]
pub struct Authenticator {
    admin_digest: [u8; 32],
}

impl Authenticator {
    pub fn new(admin_token: &str) -> Authenticator {
        Authenticator { admin_digest: Sha256::digest(admin_token.as_bytes()).into() }
    }

    /// Whether `token` is the admin token (compared in constant time, by digest).
    pub fn is_admin_token(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.is_admin_digest(&digest)
    }

    /// Whether `digest` is the admin token's SHA-256 (constant time).
    pub fn is_admin_digest(&self, digest: &[u8; 32]) -> bool {
        constant_time_eq(digest, &self.admin_digest)
    }
}

/// Invariant: the comparison takes the same time whatever the contents.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh random token: 32 bytes, hex, prefixed so it is recognisable in leaks.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("tyd_{hex}")
}

/// Reads the admin token from `path`, creating it (mode 0600, atomically) if absent.
pub fn load_or_create_token(path: &Path) -> Result<String, Error> {
    let file_error = |source| Error::TokenFile { path: path.display().to_string(), source };
    match fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_error(e)),
    }
    let token = generate_token();
    write_private_file(path, token.as_bytes())?;
    Ok(token)
}

/// Writes `contents` to `path` readable by its owner only (0600), atomically: a temporary
/// file beside it, synced, then renamed into place.
pub(crate) fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let file_error = |source| Error::TokenFile { path: path.display().to_string(), source };
    let temporary = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(file_error)?;
    file.set_permissions(fs::Permissions::from_mode(0o600)).map_err(file_error)?;
    file.write_all(contents).map_err(file_error)?;
    file.sync_all().map_err(file_error)?;
    fs::rename(&temporary, path).map_err(file_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_admin_token_passes() {
        let auth = Authenticator::new("secret");
        assert!(auth.is_admin_token("secret"));
        assert!(!auth.is_admin_token("other"));
        assert!(!auth.is_admin_token(""));
    }

    #[test]
    fn token_file_is_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("trainyard-auth-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("admin.token");
        let _ = fs::remove_file(&path);
        let first = load_or_create_token(&path).unwrap();
        assert!(first.starts_with("tyd_") && first.len() == 68);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_or_create_token(&path).unwrap(), first);
        fs::remove_dir_all(&dir).unwrap();
    }
}
