//! Bucket names, object keys and `s3://bucket/key` URIs.

use std::fmt;

use crate::Error;

/// S3's bucket naming rules: 3-63 characters of lowercase letters, digits, dots and
/// hyphens, starting and ending with a letter or digit, no `..`.
pub fn validate_bucket(name: &str) -> Result<(), Error> {
    let reason = if !(3..=63).contains(&name.len()) {
        Some("must be 3-63 characters long")
    } else if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-') {
        Some("may contain only lowercase letters, digits, '.' and '-'")
    } else if !name.as_bytes()[0].is_ascii_alphanumeric() || !name.as_bytes()[name.len() - 1].is_ascii_alphanumeric() {
        Some("must start and end with a letter or digit")
    } else if name.contains("..") {
        Some("must not contain '..'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidBucket { name: name.into(), reason: reason.into() }),
        None => Ok(()),
    }
}

/// Object keys: 1-1024 bytes of UTF-8, relative, with no empty, `.` or `..` segment
/// and no control characters, so that a key can never name a path outside its bucket.
pub fn validate_key(key: &str) -> Result<(), Error> {
    let fail = |reason: &str| Err(Error::InvalidKey { key: key.into(), reason: reason.into() });
    if key.is_empty() || key.len() > 1024 {
        return fail("must be 1-1024 bytes long");
    }
    if key.starts_with('/') {
        return fail("must not be absolute (start with '/')");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return fail("must not contain control characters or '\\'");
    }
    // A trailing '/' is allowed only as the last character of a "folder" marker; no
    // segment in between may be empty.
    let trimmed = key.strip_suffix('/').unwrap_or(key);
    for segment in trimmed.split('/') {
        match segment {
            "" => return fail("must not contain empty segments ('//')"),
            "." | ".." => return fail("must not contain '.' or '..' segments"),
            _ => {}
        }
    }
    if key.ends_with('/') {
        return fail("must not end with '/'");
    }
    Ok(())
}

/// A parsed `s3://bucket/key-or-prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    /// The key or prefix; empty for the whole bucket.
    pub key: String,
}

impl S3Uri {
    pub fn parse(uri: &str) -> Result<S3Uri, Error> {
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| Error::InvalidUri { uri: uri.into(), reason: "must start with s3://".into() })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        validate_bucket(bucket).map_err(|e| Error::InvalidUri { uri: uri.into(), reason: e.to_string() })?;
        Ok(S3Uri { bucket: bucket.into(), key: key.into() })
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for good in ["abc", "my-bucket.v2", "a1b"] {
            assert!(validate_bucket(good).is_ok(), "{good}");
        }
        for bad in ["ab", "My-Bucket", "-abc", "abc-", "a..b", "a_b", &"a".repeat(64)] {
            assert!(validate_bucket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_cannot_escape() {
        for good in ["a", "a/b/c.csv", "train/part-0001.csv", "ünïcode/ok", "a.b/..c"] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", "a\nb", "a\\b", &"k".repeat(1025)] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn uris() {
        assert_eq!(S3Uri::parse("s3://data/train/").unwrap(), S3Uri { bucket: "data".into(), key: "train/".into() });
        assert_eq!(S3Uri::parse("s3://data").unwrap().key, "");
        assert!(S3Uri::parse("http://data/x").is_err());
        assert!(S3Uri::parse("s3://BAD/x").unwrap_err().to_string().contains("lowercase"));
    }
}
