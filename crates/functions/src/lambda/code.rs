//! A Lambda function's code: a zip archive, checked and unpacked once per version (its
//! SHA-256) into a directory of its own, every escape refused; and a directory zipped the
//! way the `aws lambda` tooling does, for the CLI.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Error;

/// Lambda's limit on unpacked code.
pub const MAX_UNPACKED_BYTES: u64 = 250 * 1024 * 1024;

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidCode { message: message.into() }
}

/// The code's version: its SHA-256, base64 as Lambda's `CodeSha256`.
pub fn code_sha256(zip: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

/// The directory name of a version (hex, path-safe).
fn version_dir(zip: &[u8]) -> String {
    Sha256::digest(zip).iter().map(|b| format!("{b:02x}")).collect()
}

/// Unpacks `zip` under `root/<sha256>/` unless that version is there already; returns the
/// directory. Invariant: a version's directory appears whole (unpacked beside it, renamed).
pub fn unpack(zip: &[u8], root: &Path) -> Result<PathBuf, Error> {
    let target = root.join(version_dir(zip));
    if target.is_dir() {
        return Ok(target);
    }
    std::fs::create_dir_all(root).map_err(|e| invalid(format!("{}: {e}", root.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(root)
        .map_err(|e| invalid(format!("{}: {e}", root.display())))?;
    extract(zip, staging.path())?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &target) {
        let _ = std::fs::remove_dir_all(&staged);
        if !target.is_dir() {
            return Err(invalid(format!("{}: {e}", target.display())));
        }
    }
    Ok(target)
}

/// A link target that stays inside the code directory, from the entry at `entry`.
fn link_stays_inside(entry: &Path, target: &str) -> bool {
    let target = Path::new(target);
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = entry.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

fn extract(zip: &[u8], into: &Path) -> Result<(), Error> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|e| invalid(format!("not a zip archive: {e}")))?;
    let mut total = 0u64;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| invalid(format!("entry {index}: {e}")))?;
        let name = entry.name().to_string();
        // Invariant: no entry lands outside the code directory (`..`, absolute paths).
        let relative =
            entry.enclosed_name().ok_or_else(|| invalid(format!("entry {name:?} escapes the code directory")))?;
        let path = into.join(&relative);
        total = total.saturating_add(entry.size());
        if total > MAX_UNPACKED_BYTES {
            return Err(invalid(format!("the code unpacks to more than {MAX_UNPACKED_BYTES} bytes")));
        }
        let io = |e: std::io::Error| invalid(format!("{name}: {e}"));
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(io)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        if entry.is_symlink() {
            let mut target = String::new();
            entry.read_to_string(&mut target).map_err(io)?;
            if !link_stays_inside(&relative, &target) {
                return Err(invalid(format!("entry {name:?} links out of the code directory ({target})")));
            }
            std::os::unix::fs::symlink(&target, &path).map_err(io)?;
            continue;
        }
        let mut file = std::fs::File::create(&path).map_err(io)?;
        std::io::copy(&mut entry, &mut file).map_err(io)?;
        use std::os::unix::fs::PermissionsExt;
        let mode = entry.unix_mode().map_or(0o644, |m| if m & 0o111 != 0 { 0o755 } else { 0o644 });
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
    }
    Ok(())
}

/// Zips a directory: files and directories, sorted, executables keeping their bit; a link
/// out of the directory is refused.
pub fn zip_directory(dir: &Path) -> Result<Vec<u8>, Error> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(current) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&current)
            .map_err(|e| invalid(format!("{}: {e}", current.display())))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
            if meta.is_symlink() {
                let resolved = std::fs::canonicalize(&path).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
                let root = std::fs::canonicalize(dir).map_err(|e| invalid(format!("{}: {e}", dir.display())))?;
                if !resolved.starts_with(&root) {
                    return Err(invalid(format!("{} links out of the code directory", path.display())));
                }
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    for path in files {
        let name = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode()).unwrap_or(0o644);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(if mode & 0o111 != 0 { 0o755 } else { 0o644 });
        writer.start_file(name.as_str(), options).map_err(|e| invalid(format!("{name}: {e}")))?;
        let bytes = std::fs::read(&path).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        writer.write_all(&bytes).map_err(|e| invalid(format!("{name}: {e}")))?;
    }
    let cursor = writer.finish().map_err(|e| invalid(e.to_string()))?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, body) in entries {
            writer.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            writer.write_all(body).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn code_unpacks_once_per_version_and_never_escapes() {
        let root = tempfile::tempdir().unwrap();
        let zip = zip_of(&[("app.py", b"def handler(e, c): return e\n"), ("lib/util.py", b"X = 1\n")]);
        let dir = unpack(&zip, root.path()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("lib/util.py")).unwrap(), "X = 1\n");
        assert_eq!(unpack(&zip, root.path()).unwrap(), dir, "the same version is the same directory");
        for (name, reason) in [("../evil.py", "escapes"), ("/etc/evil", "escapes")] {
            let error = unpack(&zip_of(&[(name, b"x")]), root.path()).unwrap_err().to_string();
            assert!(error.contains(reason), "{name}: {error}");
        }
        assert!(unpack(b"not a zip", root.path()).unwrap_err().to_string().contains("not a zip"));
        assert!(!root.path().join("evil.py").exists());
        assert!(link_stays_inside(Path::new("a/b"), "../c") && !link_stays_inside(Path::new("a"), "../../etc"));
        let leftovers = std::fs::read_dir(root.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".unpacking"));
        assert_eq!(leftovers.count(), 0, "a refused archive leaves nothing");
    }

    #[test]
    fn a_zipped_directory_unpacks_to_the_same_files() {
        let source = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(source.path().join("pkg")).unwrap();
        std::fs::write(source.path().join("app.py"), "print(1)\n").unwrap();
        std::fs::write(source.path().join("pkg/m.py"), "Y = 2\n").unwrap();
        let zip = zip_directory(source.path()).unwrap();
        let root = tempfile::tempdir().unwrap();
        let dir = unpack(&zip, root.path()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("pkg/m.py")).unwrap(), "Y = 2\n");
        std::os::unix::fs::symlink("/etc/passwd", source.path().join("out")).unwrap();
        assert!(zip_directory(source.path()).unwrap_err().to_string().contains("links out"));
    }
}
