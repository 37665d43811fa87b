//! Names the distribution spec defines: repository names, tags, digests, and the
//! `<reference>` of a manifest route (a tag or a digest).

use std::fmt;

use sha2::{Digest as _, Sha256, Sha512};

use crate::Error;

/// Repository names the server's own `/v2/` routes (KServe, the token endpoint) hold.
const RESERVED_FIRST_COMPONENTS: &[&str] = &["health", "models", "token"];
/// The longest repository name accepted.
const MAX_NAME_BYTES: usize = 255;

/// A content digest, `<algorithm>:<lowercase hex>`, for the algorithms the spec
/// registers: sha256 and sha512.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

impl Digest {
    /// Parses `sha256:<64 hex>` or `sha512:<128 hex>`.
    pub fn parse(text: &str) -> Result<Digest, Error> {
        let invalid = |reason: &str| Error::DigestInvalid { digest: text.into(), reason: reason.into() };
        let (algorithm, hex) = text.split_once(':').ok_or_else(|| invalid("expected <algorithm>:<hex>"))?;
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(invalid("unsupported algorithm (sha256 and sha512 are)")),
        };
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(invalid(&format!("expected {} lowercase hex digits", algorithm.hex_len())));
        }
        Ok(Digest { algorithm, hex: hex.into() })
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest { algorithm: Algorithm::Sha256, hex: hex(&Sha256::digest(bytes)) }
    }

    /// The digest of `bytes` with `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        match algorithm {
            Algorithm::Sha256 => Digest::sha256_of(bytes),
            Algorithm::Sha512 => Digest { algorithm, hex: hex(&Sha512::digest(bytes)) },
        }
    }

    pub(crate) fn from_parts(algorithm: Algorithm, hex: String) -> Digest {
        Digest { algorithm, hex }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a manifest route names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, Error> {
        if text.contains(':') {
            return Digest::parse(text).map(Reference::Digest);
        }
        validate_tag(text)?;
        Ok(Reference::Tag(text.into()))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(tag) => f.write_str(tag),
            Reference::Digest(digest) => digest.fmt(f),
        }
    }
}

/// An image as users write it: `[HOST[:PORT]/]REPOSITORY[:TAG|@DIGEST]` (the tag defaults
/// to `latest`). The host, when present, is kept for the caller to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    pub host: Option<String>,
    pub repository: String,
    pub reference: Reference,
}

impl ImageName {
    pub fn parse(text: &str) -> Result<ImageName, Error> {
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(Digest::parse(digest)?)),
            None => (text, None),
        };
        // A first component with '.' or ':' or equal to "localhost" is a registry host.
        let (host, path) = match rest.split_once('/') {
            Some((first, path)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (Some(first.to_string()), path)
            }
            _ => (None, rest),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
            _ => (path, None),
        };
        validate_repository(repository)?;
        let reference = match (digest, tag) {
            (Some(digest), _) => Reference::Digest(digest),
            (None, Some(tag)) => {
                validate_tag(tag)?;
                Reference::Tag(tag.into())
            }
            (None, None) => Reference::Tag("latest".into()),
        };
        Ok(ImageName { host, repository: repository.into(), reference })
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(host) = &self.host {
            write!(f, "{host}/")?;
        }
        match &self.reference {
            Reference::Tag(tag) => write!(f, "{}:{tag}", self.repository),
            Reference::Digest(digest) => write!(f, "{}@{digest}", self.repository),
        }
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), Error> {
    let bytes = tag.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(Error::TagInvalid { tag: tag.into() })
    }
}

/// A repository name: path components of `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by
/// `/`, at most 255 bytes, not starting with a component the server's own `/v2/` routes
/// hold (`health`, `models`, `token`).
pub fn validate_repository(name: &str) -> Result<(), Error> {
    let invalid = |reason: &str| Error::NameInvalid { name: name.into(), reason: reason.into() };
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(invalid("must be 1 to 255 characters"));
    }
    for component in name.split('/') {
        if !valid_component(component) {
            return Err(invalid(
                "each /-separated component must be lowercase letters and digits, separated by '.', '_', '__' or dashes",
            ));
        }
    }
    let first = name.split('/').next().unwrap_or_default();
    if RESERVED_FIRST_COMPONENTS.contains(&first) {
        return Err(invalid(&format!("'{first}/' is reserved for the server's own /v2/ routes")));
    }
    Ok(())
}

fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__' or one or more '-'.
        let start = i;
        let separator = bytes[i];
        while i < bytes.len() && bytes[i] == separator {
            i += 1;
        }
        let run = i - start;
        let allowed = match separator {
            b'.' => run == 1,
            b'_' => run <= 2,
            b'-' => true,
            _ => false,
        };
        if !allowed {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_the_spec() {
        for good in ["a", "library/ubuntu", "my-org/my_repo", "a__b", "a--b", "a.b/c-d/e", "x0/y1"] {
            assert!(validate_repository(good).is_ok(), "{good}");
        }
        for bad in ["", "A", "a/", "/a", "a//b", "a..b", "a___b", "-a", "a-", "a b", "../a", "models/x", "token"] {
            assert!(validate_repository(bad).is_err(), "{bad}");
        }
        assert!(validate_repository(&"a".repeat(256)).is_err());
    }

    #[test]
    fn tags_follow_the_spec() {
        for good in ["latest", "v1.0", "_x", "A-b_c.d", &"a".repeat(128)] {
            assert!(validate_tag(good).is_ok(), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"a".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digests_are_checked_and_computed() {
        let digest = Digest::sha256_of(b"");
        assert_eq!(digest.to_string(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(Digest::parse(&digest.to_string()).unwrap(), digest);
        assert!(Digest::parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855").is_err());
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse("md5:d41d8cd98f00b204e9800998ecf8427e").is_err());
        let sha512 = Digest::of(Algorithm::Sha512, b"");
        assert!(sha512.to_string().starts_with("sha512:cf83e135"));
        assert_eq!(Digest::parse(&sha512.to_string()).unwrap(), sha512);
        assert!(matches!(Reference::parse("v1").unwrap(), Reference::Tag(_)));
        let image = ImageName::parse("127.0.0.1:5000/team/train:v2").unwrap();
        assert_eq!(image.host.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!((image.repository.as_str(), image.reference.to_string().as_str()), ("team/train", "v2"));
        assert_eq!(ImageName::parse("train").unwrap().to_string(), "train:latest");
        let pinned = ImageName::parse(&format!("team/train@{digest}")).unwrap();
        assert_eq!(pinned.reference, Reference::Digest(digest.clone()));
        assert!(ImageName::parse("Team/train").is_err());
        assert!(ImageName::parse("train:-bad").is_err());
        assert!(matches!(Reference::parse(&digest.to_string()).unwrap(), Reference::Digest(_)));
    }
}
