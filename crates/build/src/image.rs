//! A build context into an OCI image: one layer holding the context under the working
//! directory, an image config, a manifest — written into an OCI image layout.
//!
//! Invariant: the same context and config give the same bytes, so the same digests:
//! entries sorted, timestamps 0, owner 0:0 without names, modes reduced to 0755/0644,
//! gzip without a timestamp or file name, and no creation time in the config.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::ignore::Ignore;
use crate::Error;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// What the image runs, and how.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `NAME=value`.
    pub env: Vec<String>,
    /// Where the context lands, and the process's working directory (absolute).
    pub working_dir: String,
    pub labels: BTreeMap<String, String>,
    /// Where the context lands instead of the working directory (absolute; `/` for a
    /// whole root filesystem).
    pub destination: Option<String>,
    /// The user the process runs as (`UID:GID`); empty: root.
    pub user: String,
    /// Ports the image listens on (`7420/tcp`).
    pub exposed_ports: Vec<String>,
    /// Directories for the user's data (`/data`): in the layer they belong to `user`.
    pub volumes: Vec<String>,
    /// The health check command (Docker's `Healthcheck`, `CMD` form); empty: none.
    pub healthcheck: Vec<String>,
}

/// A numeric `UID:GID` (or `UID`) as the layer's owner ids.
fn owner_ids(user: &str) -> Option<(u64, u64)> {
    let (uid, gid) = user.split_once(':').unwrap_or((user, user));
    Some((uid.parse().ok()?, gid.parse().ok()?))
}

/// The architecture of the image, as OCI names it: the machine's, whose binaries a
/// context holds.
fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        other => other,
    }
}

/// What a build produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub manifest_digest: String,
    pub manifest_size: u64,
    pub config_digest: String,
    pub layer_digest: String,
    pub layer_size: u64,
    /// The files in the layer, in order.
    pub files: usize,
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buffer)?;
        self.hasher.update(&buffer[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hashing<W>(inner: W) -> Hashing<W> {
    Hashing { inner, hasher: Sha256::new(), written: 0 }
}

fn hex(digest: impl AsRef<[u8]>) -> String {
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.display().to_string(), source }
}

/// The context's entries (relative paths), sorted, without what the ignore file and the
/// default `.git` exclusion leave out. Symbolic links are entries of their own, never
/// followed.
fn entries(context: &Path) -> Result<Vec<(String, PathBuf, std::fs::FileType)>, Error> {
    let ignore_text = [".trainyardignore", ".dockerignore"]
        .iter()
        .find_map(|name| std::fs::read_to_string(context.join(name)).ok())
        .unwrap_or_default();
    let ignore = Ignore::parse(&format!(".git\n{ignore_text}"));
    let mut found = Vec::new();
    let mut pending = vec![(String::new(), context.to_path_buf())];
    while let Some((relative, dir)) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if relative.is_empty() { name } else { format!("{relative}/{name}") };
            if ignore.excludes(&path) {
                continue;
            }
            let kind = entry.file_type().map_err(io_error(&entry.path()))?;
            if kind.is_dir() {
                pending.push((path.clone(), entry.path()));
            }
            if kind.is_dir() || kind.is_file() || kind.is_symlink() {
                found.push((path, entry.path(), kind));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

/// Writes `bytes` as a content-addressed blob of the layout (temporary file, rename).
fn put_blob(layout: &Path, digest: &str, bytes: &[u8]) -> Result<(), Error> {
    let path = layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let temporary = path.with_extension("part");
    std::fs::write(&temporary, bytes).map_err(io_error(&temporary))?;
    std::fs::rename(&temporary, &path).map_err(io_error(&path))
}

/// Builds the image from `context` into the OCI image layout at `layout` (created or
/// added to), tagged `tag` there.
pub fn build(context: &Path, config: &ImageConfig, layout: &Path, tag: &str) -> Result<Built, Error> {
    let absolute = |path: &str| path.starts_with('/') && !path.split('/').any(|s| s == "..");
    if !absolute(&config.working_dir) {
        return Err(Error::Invalid {
            reason: format!("the working directory {:?} must be absolute", config.working_dir),
        });
    }
    if let Some(bad) = config.destination.iter().chain(&config.volumes).find(|p| !absolute(p)) {
        return Err(Error::Invalid { reason: format!("{bad:?} must be an absolute path") });
    }
    let owner = match config.user.as_str() {
        "" => None,
        user => Some(owner_ids(user).ok_or_else(|| Error::Invalid {
            reason: format!("the user {user:?} must be numeric UID:GID (an image has no user database to ask)"),
        })?),
    };
    let volumes: Vec<String> = config.volumes.iter().map(|v| v.trim_matches('/').to_string()).collect();
    // A path inside a volume belongs to the image's user.
    let owned_by_user = |name: &str| {
        let name = name.trim_end_matches('/');
        volumes.iter().any(|v| name == v || name.starts_with(&format!("{v}/")))
    };
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(io_error(&blobs))?;
    let prefix = config.destination.as_deref().unwrap_or(&config.working_dir).trim_matches('/').to_string();
    let layer_temporary = blobs.join(format!(".layer-{}.part", std::process::id()));
    let file = File::create(&layer_temporary).map_err(io_error(&layer_temporary))?;
    let compressed = hashing(file);
    let gzip = GzBuilder::new().mtime(0).write(compressed, Compression::default());
    let mut tar = tar::Builder::new(hashing(gzip));
    let in_image =
        |relative: &str| if prefix.is_empty() { relative.to_string() } else { format!("{prefix}/{relative}") };
    let mut parents = String::new();
    for segment in prefix.split('/').filter(|s| !s.is_empty()) {
        parents = if parents.is_empty() { segment.to_string() } else { format!("{parents}/{segment}") };
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        tar.append_data(&mut h, format!("{parents}/"), io::empty()).map_err(io_error(context))?;
    }
    let mut files = 0;
    for (relative, path, kind) in entries(context)? {
        let name = in_image(&relative);
        if kind.is_dir() {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            if let Some((uid, gid)) = owner.filter(|_| owned_by_user(&name)) {
                h.set_uid(uid);
                h.set_gid(gid);
            }
            tar.append_data(&mut h, format!("{name}/"), io::empty()).map_err(io_error(&path))?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&path).map_err(io_error(&path))?;
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            tar.append_link(&mut h, &name, &target).map_err(io_error(&path))?;
        } else {
            use std::os::unix::fs::PermissionsExt;
            let metadata = std::fs::metadata(&path).map_err(io_error(&path))?;
            let mode = if metadata.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
            let mut h = header(tar::EntryType::Regular, mode, metadata.len());
            let reader = File::open(&path).map_err(io_error(&path))?;
            tar.append_data(&mut h, &name, reader).map_err(io_error(&path))?;
            files += 1;
        }
    }
    let uncompressed = tar.into_inner().map_err(io_error(context))?;
    let diff_id = format!("sha256:{}", hex(uncompressed.hasher.finalize()));
    let mut compressed = uncompressed.inner.finish().map_err(io_error(&layer_temporary))?;
    compressed.flush().map_err(io_error(&layer_temporary))?;
    compressed.inner.sync_all().map_err(io_error(&layer_temporary))?;
    let layer_size = compressed.written;
    let layer_digest = format!("sha256:{}", hex(compressed.hasher.finalize()));
    let layer_path = blobs.join(layer_digest.trim_start_matches("sha256:"));
    std::fs::rename(&layer_temporary, &layer_path).map_err(io_error(&layer_path))?;

    let mut runtime = json!({
        "Entrypoint": config.entrypoint,
        "Cmd": config.cmd,
        "Env": config.env,
        "WorkingDir": config.working_dir,
        "Labels": config.labels,
    });
    if !config.user.is_empty() {
        runtime["User"] = json!(config.user);
    }
    if !config.exposed_ports.is_empty() {
        runtime["ExposedPorts"] = config.exposed_ports.iter().map(|p| (p.clone(), json!({}))).collect();
    }
    if !config.volumes.is_empty() {
        runtime["Volumes"] = config.volumes.iter().map(|v| (v.clone(), json!({}))).collect();
    }
    if !config.healthcheck.is_empty() {
        let mut test = vec!["CMD".to_string()];
        test.extend(config.healthcheck.iter().cloned());
        // Docker's durations are nanoseconds.
        runtime["Healthcheck"] =
            json!({"Test": test, "Interval": 10_000_000_000u64, "Timeout": 3_000_000_000u64, "Retries": 3});
    }
    let image_config = json!({
        "architecture": architecture(),
        "os": "linux",
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "trainyard build"}],
    });
    let config_bytes = serde_json::to_vec(&image_config).unwrap_or_default();
    let config_digest = format!("sha256:{}", hex(Sha256::digest(&config_bytes)));
    put_blob(layout, &config_digest, &config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_bytes.len()},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": layer_size}],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    let manifest_digest = format!("sha256:{}", hex(Sha256::digest(&manifest_bytes)));
    put_blob(layout, &manifest_digest, &manifest_bytes)?;
    write_index(layout, &manifest_digest, manifest_bytes.len() as u64, tag)?;
    Ok(Built {
        manifest_digest,
        manifest_size: manifest_bytes.len() as u64,
        config_digest,
        layer_digest,
        layer_size,
        files,
    })
}

/// Adds (or moves) `tag` in the layout's `index.json`, atomically.
fn write_index(layout: &Path, digest: &str, size: u64, tag: &str) -> Result<(), Error> {
    let marker = layout.join("oci-layout");
    std::fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_error(&marker))?;
    let index_path = layout.join("index.json");
    let mut index: Value = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
    let mut manifests: Vec<Value> = index["manifests"].as_array().cloned().unwrap_or_default();
    manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
    manifests.push(json!({"mediaType": MANIFEST_MEDIA_TYPE, "digest": digest, "size": size,
                          "annotations": {"org.opencontainers.image.ref.name": tag}}));
    index["manifests"] = json!(manifests);
    let temporary = layout.join(".index.json.part");
    std::fs::write(&temporary, serde_json::to_vec_pretty(&index).unwrap_or_default()).map_err(io_error(&temporary))?;
    std::fs::rename(&temporary, &index_path).map_err(io_error(&index_path))
}
