//! Importing an image from an OCI image layout (what `trainyard build` writes) into a
//! repository, blobs streamed from their files.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Digest, Error, Reference, Registry};

fn read_json(path: &Path) -> Result<(Vec<u8>, Value), Error> {
    let bytes =
        std::fs::read(path).map_err(|source| Error::Io { context: format!("read {}", path.display()), source })?;
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::ManifestInvalid { reason: format!("{}: {e}", path.display()) })?;
    Ok((bytes, value))
}

fn blob_path(layout: &Path, digest: &Digest) -> PathBuf {
    layout.join("blobs").join(digest.algorithm().name()).join(digest.hex())
}

/// An image of an OCI image layout: its manifest as stored, and its blobs' files.
#[derive(Debug, Clone)]
pub struct LayoutImage {
    pub digest: Digest,
    pub media_type: Option<String>,
    pub manifest: Vec<u8>,
    /// The config and the layers, with the files that hold them.
    pub blobs: Vec<(Digest, PathBuf)>,
}

/// Reads the image a layout names `tag` (its `org.opencontainers.image.ref.name`).
pub fn read_layout(layout: &Path, tag: &str) -> Result<LayoutImage, Error> {
    let (_, index) = read_json(&layout.join("index.json"))?;
    let descriptor = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m.pointer("/annotations/org.opencontainers.image.ref.name").and_then(Value::as_str) == Some(tag))
        .ok_or_else(|| Error::ManifestUnknown { repository: layout.display().to_string(), reference: tag.into() })?;
    let digest = Digest::parse(descriptor["digest"].as_str().unwrap_or_default())?;
    let media_type = descriptor["mediaType"].as_str().map(str::to_string);
    let (manifest_bytes, manifest) = read_json(&blob_path(layout, &digest))?;
    let mut blobs = Vec::new();
    for blob in std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().into_iter().flatten()) {
        let blob = Digest::parse(blob["digest"].as_str().unwrap_or_default())?;
        let path = blob_path(layout, &blob);
        blobs.push((blob, path));
    }
    Ok(LayoutImage { digest, media_type, manifest: manifest_bytes, blobs })
}

impl Registry {
    /// Pushes the image a layout names `layout_tag` into `repository` under each of
    /// `tags`; blobs the repository holds already are not copied again. Returns the
    /// manifest's digest.
    pub async fn import_layout(
        &self,
        layout: &Path,
        layout_tag: &str,
        repository: &str,
        tags: &[String],
    ) -> Result<Digest, Error> {
        let image = read_layout(layout, layout_tag)?;
        for (digest, path) in &image.blobs {
            if self.blob_size(repository, digest).await.is_ok() {
                continue;
            }
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|source| Error::Io { context: format!("open layout blob {digest}"), source })?;
            let id = self.start_upload(repository).await?;
            let body = tokio_util::io::ReaderStream::with_capacity(file, 1024 * 1024);
            self.finish_upload(repository, &id, digest, None, body).await?;
        }
        for tag in tags {
            let reference = Reference::Tag(tag.clone());
            self.put_manifest(repository, &reference, image.media_type.as_deref(), image.manifest.clone()).await?;
        }
        Ok(image.digest)
    }
}
