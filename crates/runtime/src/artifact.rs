//! Finding `model.onnx` and `model.json`: a `.onnx` file (with a `model.json` beside it), a
//! directory holding both, or a `model.tar.gz` as training jobs write it. Archives are read in
//! memory and never extracted, so no entry can write anywhere.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The largest model (`model.onnx`, uncompressed) loaded by default: 1 GiB.
pub const DEFAULT_MAX_MODEL_BYTES: u64 = 1 << 30;

/// The largest model loaded: `TRAINYARD_MAX_MODEL_BYTES`, else
/// [`DEFAULT_MAX_MODEL_BYTES`]. A `model.tar.gz` is decompressed at most four times that
/// in all, however its entries are laid out.
pub fn max_model_bytes() -> u64 {
    static LIMIT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("TRAINYARD_MAX_MODEL_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MAX_MODEL_BYTES)
    })
}

/// The raw files of a model.
pub struct Artifact {
    pub onnx: Vec<u8>,
    pub metadata: Option<Vec<u8>>,
    /// Where the ONNX bytes came from, for messages.
    pub origin: PathBuf,
}

fn read(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path).map_err(|source| Error::Io { path: path.into(), source })?.len();
    if size > limit {
        return Err(too_large(path, limit));
    }
    std::fs::read(path).map_err(|source| Error::Io { path: path.into(), source })
}

fn too_large(path: &Path, limit: u64) -> Error {
    Error::InvalidModel {
        path: path.into(),
        reason: format!("the model is larger than {limit} bytes uncompressed (TRAINYARD_MAX_MODEL_BYTES)"),
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io { path: path.into(), source }),
    }
}

pub fn load(path: &Path) -> Result<Artifact> {
    load_within(path, max_model_bytes())
}

/// [`load`] with at most `limit` bytes of model.
pub fn load_within(path: &Path, limit: u64) -> Result<Artifact> {
    let metadata = std::fs::metadata(path).map_err(|source| Error::Io { path: path.into(), source })?;
    if metadata.is_dir() {
        let onnx_path = path.join("model.onnx");
        return Ok(Artifact {
            onnx: read(&onnx_path, limit)?,
            metadata: read_optional(&path.join("model.json"))?,
            origin: onnx_path,
        });
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        return load_archive(path, limit);
    }
    let sibling = path.parent().map(|p| p.join("model.json"));
    let metadata = match sibling {
        Some(s) => read_optional(&s)?,
        None => None,
    };
    Ok(Artifact { onnx: read(path, limit)?, metadata, origin: path.into() })
}

fn load_archive(path: &Path, limit: u64) -> Result<Artifact> {
    let invalid = |reason: String| Error::InvalidModel { path: path.into(), reason };
    let file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.into(), source })?;
    // Invariant: however the archive is laid out, no more than this is decompressed.
    let total = limit.saturating_mul(4);
    let mut archive = tar::Archive::new(Bounded { inner: flate2::read::GzDecoder::new(file), left: total, total });
    // An archive past the bound reads as an error carrying the bound's message.
    let invalid = |reason: String| match reason.find(BOUND_MESSAGE) {
        Some(at) => invalid(reason[at..].trim_end_matches(')').to_string()),
        None => invalid(reason),
    };
    let (mut onnx, mut metadata) = (None, None);
    let entries = archive.entries().map_err(|e| invalid(format!("not a gzip'd tar archive ({e})")))?;
    for entry in entries {
        let entry = entry.map_err(|e| invalid(format!("corrupt archive ({e})")))?;
        let entry_path = entry.path().map_err(|e| invalid(format!("corrupt entry name ({e})")))?.into_owned();
        let normal: Vec<_> = entry_path.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect();
        let slot = match normal.as_slice() {
            [std::path::Component::Normal(n)] if *n == "model.onnx" => &mut onnx,
            [std::path::Component::Normal(n)] if *n == "model.json" => &mut metadata,
            _ => continue,
        };
        if entry.size() > limit {
            return Err(too_large(path, limit));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.take(limit).read_to_end(&mut bytes).map_err(|e| invalid(format!("corrupt archive ({e})")))?;
        *slot = Some(bytes);
    }
    let onnx = onnx.ok_or_else(|| invalid("the archive has no model.onnx at its top level".into()))?;
    Ok(Artifact { onnx, metadata, origin: path.into() })
}

const BOUND_MESSAGE: &str = "the archive holds more than";

/// A reader that fails once more than `total` bytes have come through it.
struct Bounded<R> {
    inner: R,
    left: u64,
    total: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buffer)?;
        if n as u64 > self.left {
            let total = self.total;
            return Err(std::io::Error::other(format!("{BOUND_MESSAGE} {total} bytes uncompressed")));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `model.tar.gz` holding `entries` (name, size of zeros), gzip'd.
    fn archive(dir: &Path, entries: &[(&str, u64)]) -> PathBuf {
        let path = dir.join("model.tar.gz");
        let gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, size) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(*size);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, std::io::repeat(0).take(*size)).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        path
    }

    #[test]
    fn a_gzip_bomb_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let bomb = archive(dir.path(), &[("model.onnx", 8 << 20)]);
        assert!(std::fs::metadata(&bomb).unwrap().len() < 100 << 10, "a small archive");
        let err = load_within(&bomb, 1 << 20).err().unwrap().to_string();
        assert!(err.contains("larger than 1048576 bytes uncompressed"), "{err}");
        assert_eq!(load_within(&bomb, 16 << 20).unwrap().onnx.len(), 8 << 20);
    }

    #[test]
    fn padding_around_the_model_counts_too() {
        let dir = tempfile::tempdir().unwrap();
        let padded = archive(dir.path(), &[("junk.bin", 6 << 20), ("model.onnx", 10)]);
        let err = load_within(&padded, 1 << 20).err().unwrap().to_string();
        assert!(err.contains("more than 4194304 bytes uncompressed"), "{err}");
        let plain = dir.path().join("big.onnx");
        std::fs::write(&plain, vec![0u8; 2 << 20]).unwrap();
        assert!(load_within(&plain, 1 << 20).err().unwrap().to_string().contains("larger than"));
    }
}
