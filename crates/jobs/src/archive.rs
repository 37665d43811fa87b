//! `model.tar.gz` / `output.tar.gz` packing and source-tarball extraction, confined to
//! their directories.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// Packs every regular file under `dir` (paths relative to it) into a gzip tarball at
/// `destination`; returns the number of files.
pub fn pack(dir: &Path, destination: &Path) -> std::io::Result<usize> {
    let file = File::create(destination)?;
    let mut builder = tar::Builder::new(GzEncoder::new(file, Compression::default()));
    builder.follow_symlinks(false);
    let mut count = 0;
    let files = regular_files(dir)?;
    for path in files {
        let relative = path.strip_prefix(dir).map_err(std::io::Error::other)?;
        builder.append_path_with_name(&path, relative)?;
        count += 1;
    }
    builder.into_inner()?.finish()?.sync_all()?;
    Ok(count)
}

/// The regular files under `dir`, sorted; symbolic links and special files are skipped
/// (never followed).
pub fn regular_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Extracts a gzip (or plain) tarball into `destination`. Only regular files and
/// directories with relative, `..`-free paths are allowed; anything else (absolute
/// paths, parent segments, links, devices) is refused with its name.
pub fn extract(archive: &Path, destination: &Path) -> Result<usize, String> {
    let mut magic = [0u8; 2];
    {
        use std::io::Read;
        let mut file = File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
        let _ = file.read(&mut magic);
    }
    let file = File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let reader: Box<dyn std::io::Read> =
        if magic == [0x1f, 0x8b] { Box::new(GzDecoder::new(file)) } else { Box::new(file) };
    let mut tarball = tar::Archive::new(reader);
    let mut count = 0;
    for entry in tarball.entries().map_err(|e| format!("not a tar archive: {e}"))? {
        let mut entry = entry.map_err(|e| format!("corrupt tar archive: {e}"))?;
        let path = entry.path().map_err(|e| format!("bad path in tar archive: {e}"))?.into_owned();
        let target = confine(destination, &path)?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
                }
                entry.unpack(&target).map_err(|e| format!("{}: {e}", path.display()))?;
                count += 1;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => {
                return Err(format!(
                    "{}: entry type {other:?} is not allowed (only files and directories)",
                    path.display()
                ))
            }
        }
    }
    Ok(count)
}

fn confine(root: &Path, relative: &Path) -> Result<PathBuf, String> {
    let mut target = root.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => target.push(part),
            Component::CurDir => {}
            _ => return Err(format!("{}: paths must stay inside the archive's directory", relative.display())),
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_extracts_relative_files() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("model.onnx"), b"onnx").unwrap();
        std::fs::write(model.join("sub/x.json"), b"{}").unwrap();
        let tarball = dir.path().join("model.tar.gz");
        assert_eq!(pack(&model, &tarball).unwrap(), 2);
        let out = dir.path().join("out");
        assert_eq!(extract(&tarball, &out).unwrap(), 2);
        assert_eq!(std::fs::read(out.join("model.onnx")).unwrap(), b"onnx");
        assert_eq!(std::fs::read(out.join("sub/x.json")).unwrap(), b"{}");
    }

    #[test]
    fn refuses_escapes_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let tarball = dir.path().join("evil.tar");
        {
            let mut builder = tar::Builder::new(File::create(&tarball).unwrap());
            let mut header = tar::Header::new_gnu();
            header.set_size(1);
            header.set_entry_type(tar::EntryType::Regular);
            // Write the name bytes directly: the builder itself refuses `..`.
            header.as_old_mut().name[..8].copy_from_slice(b"../evil\0");
            header.set_cksum();
            builder.append(&header, &b"x"[..]).unwrap();
            builder.finish().unwrap();
        }
        let err = extract(&tarball, &dir.path().join("out")).unwrap_err();
        assert!(err.contains("inside"), "{err}");
        assert!(!dir.path().join("evil").exists());

        let linked = dir.path().join("link.tar");
        {
            let mut builder = tar::Builder::new(File::create(&linked).unwrap());
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, "link", "/etc/passwd").unwrap();
            builder.finish().unwrap();
        }
        let err = extract(&linked, &dir.path().join("out2")).unwrap_err();
        assert!(err.contains("not allowed"), "{err}");
    }
}
