//! Unpacking an image layer onto a root directory, safely: no entry may land outside the
//! root — not by `..`, an absolute path, a path through a symbolic link, a symbolic link
//! that points out, or a hard link to something outside. OCI whiteouts (`.wh.NAME`,
//! `.wh..wh..opq`) delete what lower layers put there.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::Error;

fn hostile(entry: &str, reason: &str) -> Error {
    Error::Invalid { reason: format!("layer entry {entry:?} refused: {reason}") }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.display().to_string(), source }
}

/// A relative path with no `..`, no root and no prefix; `.` segments dropped.
fn relative(entry: &str, path: &Path) -> Result<PathBuf, Error> {
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(hostile(entry, "it climbs out with ..")),
            Component::RootDir | Component::Prefix(_) => return Err(hostile(entry, "it is an absolute path")),
        }
    }
    Ok(clean)
}

/// Refuses a destination whose parent directories, inside the root, include a symbolic
/// link (writing through it could leave the root).
fn through_no_link(entry: &str, root: &Path, relative: &Path) -> Result<(), Error> {
    let mut at = root.to_path_buf();
    let parents: Vec<Component> = relative.components().collect();
    for component in parents.iter().take(parents.len().saturating_sub(1)) {
        at.push(component);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(hostile(entry, "it would be written through a symbolic link"));
        }
    }
    Ok(())
}

/// A link target made relative to the link's directory and checked to stay in the root.
/// Absolute targets mean "from the image's root" and are rewritten so.
fn link_target(entry: &str, link: &Path, target: &Path) -> Result<PathBuf, Error> {
    let depth = link.components().count().saturating_sub(1);
    let from_root: PathBuf = if target.is_absolute() {
        relative(entry, target.strip_prefix("/").unwrap_or(target))?
    } else {
        let mut resolved: Vec<Component> = link.parent().map(|p| p.components().collect()).unwrap_or_default();
        for component in target.components() {
            match component {
                Component::ParentDir if resolved.pop().is_none() => {
                    return Err(hostile(entry, "its link points out of the root"));
                }
                Component::ParentDir => {}
                Component::Normal(_) => resolved.push(component),
                _ => {}
            }
        }
        resolved.iter().collect()
    };
    let mut rewritten = PathBuf::new();
    for _ in 0..depth {
        rewritten.push("..");
    }
    Ok(rewritten.join(from_root))
}

/// Unpacks one (gzip-compressed or plain) layer onto `root`; returns the entries written.
pub fn unpack_layer(reader: impl Read, root: &Path) -> Result<usize, Error> {
    let mut buffered = std::io::BufReader::new(reader);
    let gzip = {
        use std::io::BufRead;
        buffered.fill_buf().map_err(io(root))?.starts_with(&[0x1f, 0x8b])
    };
    let reader: Box<dyn Read> =
        if gzip { Box::new(flate2::read::GzDecoder::new(buffered)) } else { Box::new(buffered) };
    let mut archive = tar::Archive::new(reader);
    std::fs::create_dir_all(root).map_err(io(root))?;
    let mut written = 0;
    for entry in archive.entries().map_err(io(root))? {
        let mut entry = entry.map_err(io(root))?;
        let raw = entry.path().map_err(io(root))?.into_owned();
        let name = raw.display().to_string();
        let path = relative(&name, &raw)?;
        let Some(file_name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        through_no_link(&name, root, &path)?;
        let destination = root.join(&path);
        if let Some(hidden) = file_name.strip_prefix(".wh.") {
            let parent = destination.parent().unwrap_or(root);
            if hidden == ".wh..opq" {
                for child in std::fs::read_dir(parent).into_iter().flatten().flatten() {
                    let _ = remove(&child.path());
                }
            } else {
                let _ = remove(&parent.join(hidden));
            }
            continue;
        }
        if let Some(parent) = destination.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let kind = entry.header().entry_type();
        if !kind.is_dir() {
            let _ = remove(&destination);
        }
        match kind {
            tar::EntryType::Directory => std::fs::create_dir_all(&destination).map_err(io(&destination))?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut file = std::fs::File::create(&destination).map_err(io(&destination))?;
                std::io::copy(&mut entry, &mut file).map_err(io(&destination))?;
                use std::os::unix::fs::PermissionsExt;
                // Invariant: no set-uid, set-gid or sticky bit leaves an image.
                let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
                std::fs::set_permissions(&destination, std::fs::Permissions::from_mode(mode))
                    .map_err(io(&destination))?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name().map_err(io(root))?.ok_or_else(|| hostile(&name, "no link target"))?;
                let target = link_target(&name, &path, &target)?;
                std::os::unix::fs::symlink(&target, &destination).map_err(io(&destination))?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name().map_err(io(root))?.ok_or_else(|| hostile(&name, "no link target"))?;
                let source = relative(&name, &target)?;
                through_no_link(&name, root, &source)?;
                let source = root.join(source);
                if std::fs::symlink_metadata(&source).map(|m| !m.is_file()).unwrap_or(true) {
                    return Err(hostile(&name, "its hard link does not name a file in the layer"));
                }
                std::fs::hard_link(&source, &destination).map_err(io(&destination))?;
            }
            // Devices and FIFOs have no place in a training image.
            _ => continue,
        }
        written += 1;
    }
    Ok(written)
}

fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    }
}
