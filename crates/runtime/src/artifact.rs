//! Finding `model.onnx` and `model.json`: a `.onnx` file (with a `model.json` beside it), a
//! directory holding both, or a `model.tar.gz` as training jobs write it. Archives are read in
//! memory and never extracted, so no entry can write anywhere.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Largest `model.onnx` or `model.json` read from an archive.
const MAX_ENTRY_BYTES: u64 = 2 << 30;

/// The raw files of a model.
pub struct Artifact {
    pub onnx: Vec<u8>,
    pub metadata: Option<Vec<u8>>,
    /// Where the ONNX bytes came from, for messages.
    pub origin: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io { path: path.into(), source })
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io { path: path.into(), source }),
    }
}

pub fn load(path: &Path) -> Result<Artifact> {
    let metadata = std::fs::metadata(path).map_err(|source| Error::Io { path: path.into(), source })?;
    if metadata.is_dir() {
        let onnx_path = path.join("model.onnx");
        return Ok(Artifact {
            onnx: read(&onnx_path)?,
            metadata: read_optional(&path.join("model.json"))?,
            origin: onnx_path,
        });
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        return load_archive(path);
    }
    let sibling = path.parent().map(|p| p.join("model.json"));
    let metadata = match sibling {
        Some(s) => read_optional(&s)?,
        None => None,
    };
    Ok(Artifact { onnx: read(path)?, metadata, origin: path.into() })
}

fn load_archive(path: &Path) -> Result<Artifact> {
    let invalid = |reason: String| Error::InvalidModel { path: path.into(), reason };
    let file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.into(), source })?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
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
        if entry.size() > MAX_ENTRY_BYTES {
            return Err(invalid(format!("{} is larger than {MAX_ENTRY_BYTES} bytes", entry_path.display())));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.take(MAX_ENTRY_BYTES).read_to_end(&mut bytes).map_err(|e| invalid(format!("corrupt archive ({e})")))?;
        *slot = Some(bytes);
    }
    let onnx = onnx.ok_or_else(|| invalid("the archive has no model.onnx at its top level".into()))?;
    Ok(Artifact { onnx, metadata, origin: path.into() })
}
