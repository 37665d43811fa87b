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
        let (_, index) = read_json(&layout.join("index.json"))?;
        let descriptor = index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| {
                m.pointer("/annotations/org.opencontainers.image.ref.name").and_then(Value::as_str) == Some(layout_tag)
            })
            .ok_or_else(|| Error::ManifestUnknown {
                repository: layout.display().to_string(),
                reference: layout_tag.into(),
            })?;
        let manifest_digest = Digest::parse(descriptor["digest"].as_str().unwrap_or_default())?;
        let media_type = descriptor["mediaType"].as_str().map(str::to_string);
        let (manifest_bytes, manifest) = read_json(&blob_path(layout, &manifest_digest))?;
        let blobs = std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().into_iter().flatten());
        for blob in blobs {
            let digest = Digest::parse(blob["digest"].as_str().unwrap_or_default())?;
            if self.blob_size(repository, &digest).await.is_ok() {
                continue;
            }
            let file = tokio::fs::File::open(blob_path(layout, &digest))
                .await
                .map_err(|source| Error::Io { context: format!("open layout blob {digest}"), source })?;
            let id = self.start_upload(repository).await?;
            let body = tokio_util::io::ReaderStream::with_capacity(file, 1024 * 1024);
            self.finish_upload(repository, &id, &digest, None, body).await?;
        }
        for tag in tags {
            let reference = Reference::Tag(tag.clone());
            self.put_manifest(repository, &reference, media_type.as_deref(), manifest_bytes.clone()).await?;
        }
        Ok(manifest_digest)
    }
}
