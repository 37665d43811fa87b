//! The registry service: the distribution spec's operations over the metadata store and
//! the blob store, and the `ECR Image Action` events.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures::Stream;
use serde_json::{json, Value};
use trainyard_bus::EventBus;
use trainyard_store::{ManifestRecord, RepositoryRecord, Store};

use crate::blobs::{read_small, Blobs};
use crate::manifest::{self, Manifest, OCI_INDEX};
use crate::{validate_repository, Backend, BlobStream, Digest, Error, Reference};

/// The largest image config read for `describe`.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The OCI registry. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    pub(crate) store: Store,
    bus: EventBus,
    blobs: Arc<Blobs>,
    // Invariant: committing a blob (bytes, then its row) holds this shared; removing an
    // orphaned blob (row, then bytes) holds it exclusively, so no row outlives its bytes.
    commits: Arc<tokio::sync::RwLock<()>>,
}

/// A blob read: its total size, the range served and the bytes.
pub struct BlobRead {
    pub size: u64,
    pub range: Range<u64>,
    pub body: BlobStream,
}

/// What a manifest push stored.
#[derive(Debug, Clone)]
pub struct PutManifest {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

/// A manifest with what it says, and the image config when it is an image.
#[derive(Debug, Clone)]
pub struct Image {
    pub record: ManifestRecord,
    pub manifest: Manifest,
    pub config: Option<Value>,
    pub tags: Vec<String>,
}

impl Registry {
    /// A registry on `backend`, staging uploads under `uploads`.
    pub fn new(store: Store, bus: EventBus, backend: Backend, uploads: PathBuf) -> Result<Registry, Error> {
        Ok(Registry {
            store,
            bus,
            blobs: Arc::new(Blobs::new(backend, uploads)?),
            commits: Arc::new(tokio::sync::RwLock::new(())),
        })
    }

    pub async fn create_repository(&self, name: &str) -> Result<RepositoryRecord, Error> {
        validate_repository(name)?;
        self.store.create_repository(name, Utc::now()).await?;
        Ok(self.store.get_repository(name).await?)
    }

    pub async fn repository(&self, name: &str) -> Result<RepositoryRecord, Error> {
        validate_repository(name)?;
        self.store.get_repository(name).await.map_err(|e| name_unknown(e, name))
    }

    /// Repositories in name order after `last`.
    pub async fn repositories(&self, last: Option<&str>, limit: usize) -> Result<Vec<RepositoryRecord>, Error> {
        Ok(self.store.list_repositories(last, limit.min(10_000) as i64).await?)
    }

    /// Deletes a repository and everything in it; each tag it held gets a DELETE event.
    pub async fn delete_repository(&self, name: &str) -> Result<(), Error> {
        let tags = self.store.list_tags(name, None, i64::MAX).await?;
        let _exclusive = self.commits.write().await;
        let orphans = self.store.delete_repository(name).await.map_err(|e| name_unknown(e, name))?;
        for digest in orphans {
            let Ok(digest) = Digest::parse(&digest) else { continue };
            if let Err(e) = self.blobs.delete(&digest).await {
                tracing::warn!(%digest, error = %e, "could not delete the bytes of an orphaned blob");
            }
        }
        for tag in tags {
            self.emit(name, &tag.digest, Some(&tag.tag), "DELETE").await;
        }
        Ok(())
    }

    /// Deletes a repository as ECR's `DeleteRepository` does: one that still holds images
    /// only when `force`.
    pub async fn delete_repository_checked(&self, name: &str, force: bool) -> Result<(), Error> {
        let record = self.repository(name).await?;
        if record.manifests > 0 && !force {
            return Err(Error::RepositoryNotEmpty { name: name.into() });
        }
        self.delete_repository(name).await
    }

    /// Makes a repository's tags immutable (ECR's `IMMUTABLE`: a pushed tag never moves to
    /// another image) or mutable.
    pub async fn set_immutable_tags(&self, name: &str, immutable: bool) -> Result<RepositoryRecord, Error> {
        validate_repository(name)?;
        self.store.set_immutable_tags(name, immutable).await.map_err(|e| name_unknown(e, name))?;
        self.repository(name).await
    }

    /// Removes a tag as ECR's `BatchDeleteImage` does: the image goes with its last tag.
    /// Returns the digest the tag pointed at.
    pub async fn untag(&self, repository: &str, tag: &str) -> Result<Digest, Error> {
        validate_repository(repository)?;
        let unknown = || Error::ManifestUnknown { repository: repository.into(), reference: tag.into() };
        let digest = self.store.delete_tag(repository, tag).await?.ok_or_else(unknown)?;
        self.emit(repository, &digest, Some(tag), "DELETE").await;
        let still_tagged = self.store.list_tags(repository, None, i64::MAX).await?.iter().any(|t| t.digest == digest);
        if !still_tagged {
            // Another client may have deleted it meanwhile: nothing is left to do then.
            self.store.delete_manifest(repository, &digest).await?;
        }
        Digest::parse(&digest)
    }

    /// The size of a blob the repository holds.
    pub async fn blob_size(&self, repository: &str, digest: &Digest) -> Result<u64, Error> {
        validate_repository(repository)?;
        match self.store.repository_blob(repository, &digest.to_string()).await? {
            Some(size) => Ok(size as u64),
            None => Err(Error::BlobUnknown { repository: repository.into(), digest: digest.to_string() }),
        }
    }

    /// Streams a blob, or the byte `range` of it.
    pub async fn read_blob(
        &self,
        repository: &str,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> Result<BlobRead, Error> {
        let size = self.blob_size(repository, digest).await?;
        let range = range.unwrap_or(0..size);
        if range.start > range.end || range.end > size || (range.start == size && size > 0) {
            return Err(Error::RangeNotSatisfiable { size });
        }
        let body = self.blobs.read(digest, range.clone()).await?;
        Ok(BlobRead { size, range, body })
    }

    /// Starts an upload session; returns its id.
    pub async fn start_upload(&self, repository: &str) -> Result<String, Error> {
        validate_repository(repository)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.store.create_upload(&id, repository, Utc::now()).await?;
        self.blobs.start_upload(&id).await?;
        Ok(id)
    }

    /// Mounts a blob into `repository` from `from` (or, without `from`, from any
    /// repository holding it). `None` when there is nothing to mount.
    pub async fn mount(&self, repository: &str, digest: &Digest, from: Option<&str>) -> Result<Option<u64>, Error> {
        validate_repository(repository)?;
        let text = digest.to_string();
        let size = match from {
            Some(from) => self.store.repository_blob(from, &text).await?,
            None => self.store.blob(&text).await?,
        };
        let Some(size) = size else { return Ok(None) };
        let _shared = self.commits.read().await;
        // The blob may have been orphaned and removed since it was looked up.
        if self.store.blob(&text).await?.is_none() {
            return Ok(None);
        }
        self.store.link_blob(repository, &text, size, Utc::now()).await?;
        Ok(Some(size as u64))
    }

    async fn check_upload(&self, repository: &str, id: &str) -> Result<(), Error> {
        match self.store.upload_repository(id).await? {
            Some(owner) if owner == repository => Ok(()),
            _ => Err(Error::BlobUploadUnknown { id: id.into() }),
        }
    }

    /// Appends a chunk, which must start at `start` and carry `length` bytes when they are
    /// given; returns the upload's size.
    pub async fn append<S, E>(
        &self,
        repository: &str,
        id: &str,
        start: Option<u64>,
        length: Option<u64>,
        body: S,
    ) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        self.check_upload(repository, id).await?;
        let size = self.blobs.append(id, start, length, body).await?;
        self.store.touch_upload(id, Utc::now()).await?;
        Ok(size)
    }

    pub async fn upload_size(&self, repository: &str, id: &str) -> Result<u64, Error> {
        self.check_upload(repository, id).await?;
        self.blobs.upload_size(id).await
    }

    /// Appends the last chunk (if any), checks the digest and commits the blob.
    pub async fn finish_upload<S, E>(
        &self,
        repository: &str,
        id: &str,
        digest: &Digest,
        start: Option<u64>,
        body: S,
    ) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        self.check_upload(repository, id).await?;
        self.blobs.append(id, start, None, body).await?;
        let result = self.blobs.finish(id, digest, &self.commits).await;
        self.store.delete_upload(id).await?;
        let (size, _shared) = result?;
        self.store.link_blob(repository, &digest.to_string(), size as i64, Utc::now()).await?;
        Ok(size)
    }

    pub async fn cancel_upload(&self, repository: &str, id: &str) -> Result<(), Error> {
        self.check_upload(repository, id).await?;
        self.blobs.cancel(id).await;
        self.store.delete_upload(id).await?;
        Ok(())
    }

    /// Removes a blob from a repository; its bytes go when no repository holds it.
    pub async fn delete_blob(&self, repository: &str, digest: &Digest) -> Result<(), Error> {
        validate_repository(repository)?;
        let _exclusive = self.commits.write().await;
        let (unlinked, orphaned) = self.store.unlink_blob(repository, &digest.to_string()).await?;
        if !unlinked {
            return Err(Error::BlobUnknown { repository: repository.into(), digest: digest.to_string() });
        }
        if orphaned {
            self.blobs.delete(digest).await?;
        }
        Ok(())
    }

    /// Stores a manifest under `reference` (a tag, or the digest the content must have).
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &Reference,
        content_type: Option<&str>,
        content: Vec<u8>,
    ) -> Result<PutManifest, Error> {
        validate_repository(repository)?;
        let parsed = manifest::parse(&content, content_type)?;
        let digest = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::of(expected.algorithm(), &content);
                if &actual != expected {
                    return Err(Error::DigestInvalid {
                        digest: expected.to_string(),
                        reason: format!("the manifest's content has digest {actual}"),
                    });
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(&content),
        };
        // Invariant: no blob can be orphaned between these checks and the insert.
        let _shared = self.commits.read().await;
        for blob in parsed.config.iter().chain(&parsed.layers).filter(|d| !d.foreign) {
            if self.store.repository_blob(repository, &blob.digest.to_string()).await?.is_none() {
                return Err(Error::ManifestBlobUnknown {
                    repository: repository.into(),
                    digest: blob.digest.to_string(),
                });
            }
        }
        for child in &parsed.manifests {
            if self.store.get_manifest(repository, &child.digest.to_string()).await?.is_none() {
                return Err(Error::ManifestBlobUnknown {
                    repository: repository.into(),
                    digest: child.digest.to_string(),
                });
            }
        }
        let record = ManifestRecord {
            repository: repository.into(),
            digest: digest.to_string(),
            media_type: parsed.media_type.clone(),
            content,
            subject: parsed.subject.as_ref().map(|s| s.digest.to_string()),
            artifact_type: parsed.artifact_type.clone(),
            annotations: parsed.annotations.as_ref().map(|a| Value::Object(a.clone()).to_string()),
            created_at: Utc::now(),
        };
        let tag = match reference {
            Reference::Tag(tag) => Some(tag.as_str()),
            Reference::Digest(_) => None,
        };
        let previous = self.store.put_manifest(&record, tag).await.map_err(|e| match (e, tag) {
            (trainyard_store::Error::InUse { kind: "tag", .. }, Some(tag)) => {
                Error::TagImmutable { repository: repository.into(), tag: tag.into() }
            }
            (e, _) => e.into(),
        })?;
        if let Some(tag) = tag {
            // A tag pushed again at the same image is no news.
            if previous.as_deref() != Some(record.digest.as_str()) {
                self.emit(repository, &record.digest, Some(tag), "PUSH").await;
            }
        }
        Ok(PutManifest { digest, subject: parsed.subject.map(|s| s.digest) })
    }

    /// The manifest `reference` names.
    pub async fn manifest(&self, repository: &str, reference: &Reference) -> Result<ManifestRecord, Error> {
        validate_repository(repository)?;
        let unknown = || Error::ManifestUnknown { repository: repository.into(), reference: reference.to_string() };
        let digest = match reference {
            Reference::Digest(digest) => digest.to_string(),
            Reference::Tag(tag) => self.store.resolve_tag(repository, tag).await?.ok_or_else(unknown)?,
        };
        self.store.get_manifest(repository, &digest).await?.ok_or_else(unknown)
    }

    /// Deletes a tag, or a manifest (with every tag on it) by digest.
    pub async fn delete_manifest(&self, repository: &str, reference: &Reference) -> Result<(), Error> {
        validate_repository(repository)?;
        let unknown = || Error::ManifestUnknown { repository: repository.into(), reference: reference.to_string() };
        match reference {
            Reference::Tag(tag) => {
                let digest = self.store.delete_tag(repository, tag).await?.ok_or_else(unknown)?;
                self.emit(repository, &digest, Some(tag), "DELETE").await;
            }
            Reference::Digest(digest) => {
                let tags = self.store.delete_manifest(repository, &digest.to_string()).await?.ok_or_else(unknown)?;
                if tags.is_empty() {
                    self.emit(repository, &digest.to_string(), None, "DELETE").await;
                }
                for tag in tags {
                    self.emit(repository, &digest.to_string(), Some(&tag), "DELETE").await;
                }
            }
        }
        Ok(())
    }

    /// Tags in lexical order after `last`, at most `limit`.
    pub async fn tags(&self, repository: &str, last: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        Ok(self.tag_records(repository, last, limit).await?.into_iter().map(|t| t.tag).collect())
    }

    /// Tags with the manifest each points at.
    pub async fn tag_records(
        &self,
        repository: &str,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<trainyard_store::TagRecord>, Error> {
        self.repository(repository).await?;
        Ok(self.store.list_tags(repository, last, limit.min(10_000) as i64).await?)
    }

    /// The referrers index of `digest`, optionally only those of `artifact_type`.
    pub async fn referrers(
        &self,
        repository: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Value, Error> {
        validate_repository(repository)?;
        let manifests: Vec<Value> = self
            .store
            .referrers(repository, &digest.to_string())
            .await?
            .into_iter()
            .filter(|m| artifact_type.is_none() || m.artifact_type.as_deref() == artifact_type)
            .map(|m| {
                let mut descriptor = json!({"mediaType": m.media_type, "digest": m.digest, "size": m.content.len()});
                if let Some(artifact_type) = m.artifact_type {
                    descriptor["artifactType"] = json!(artifact_type);
                }
                if let Some(annotations) = m.annotations.and_then(|a| serde_json::from_str::<Value>(&a).ok()) {
                    descriptor["annotations"] = annotations;
                }
                descriptor
            })
            .collect();
        Ok(json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}))
    }

    /// A manifest with its parsed form, its tags and (for an image) its config.
    pub async fn image(&self, repository: &str, reference: &Reference) -> Result<Image, Error> {
        let record = self.manifest(repository, reference).await?;
        let manifest = manifest::parse(&record.content, Some(&record.media_type))?;
        let config = match &manifest.config {
            Some(config) => {
                let size = self.blob_size(repository, &config.digest).await?;
                let bytes = read_small(&self.blobs, &config.digest, size, MAX_CONFIG_BYTES).await?;
                serde_json::from_slice(&bytes).ok()
            }
            None => None,
        };
        let tags = self
            .store
            .list_tags(repository, None, i64::MAX)
            .await?
            .into_iter()
            .filter(|t| t.digest == record.digest)
            .map(|t| t.tag)
            .collect();
        Ok(Image { record, manifest, config, tags })
    }

    /// Streams a blob's bytes whatever repository holds it (for the platform's own
    /// readers, e.g. the training executor, after resolving a manifest).
    pub async fn open_blob(&self, repository: &str, digest: &Digest) -> Result<BlobStream, Error> {
        Ok(self.read_blob(repository, digest, None).await?.body)
    }

    /// Removes uploads idle for `max_idle` and staged files with no upload on record.
    /// Returns how many uploads went.
    pub async fn clean_abandoned_uploads(&self, max_idle: Duration) -> Result<usize, Error> {
        let before = Utc::now() - chrono::Duration::from_std(max_idle).unwrap_or(chrono::Duration::MAX);
        let stale = self.store.stale_uploads(before).await?;
        for id in &stale {
            self.blobs.cancel(id).await;
            self.store.delete_upload(id).await?;
        }
        // The directory is read before the records, so an upload started in between is
        // known by the time its file is judged.
        let staged = self.blobs.staged_names().await?;
        let known: std::collections::HashSet<String> = self.store.upload_ids().await?.into_iter().collect();
        for name in staged.iter().filter(|name| !known.contains(*name)) {
            self.blobs.remove_staged(name).await;
        }
        Ok(stale.len())
    }

    /// Cleans abandoned uploads every `interval` until the task is dropped.
    pub async fn run_housekeeping(self, interval: Duration, max_idle: Duration) {
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            match self.clean_abandoned_uploads(max_idle).await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "removed abandoned registry uploads"),
                Err(e) => tracing::warn!(error = %e, "could not clean registry uploads"),
            }
        }
    }

    async fn emit(&self, repository: &str, digest: &str, tag: Option<&str>, action: &str) {
        let config = self.bus.config();
        let mut detail = json!({
            "result": "SUCCESS",
            "repository-name": repository,
            "image-digest": digest,
            "action-type": action,
        });
        if let Some(tag) = tag {
            detail["image-tag"] = json!(tag);
        }
        let resources = vec![format!("arn:aws:ecr:{}:{}:repository/{repository}", config.region, config.account)];
        if let Err(e) = self.bus.emit("aws.ecr", "ECR Image Action", detail, resources).await {
            tracing::error!(repository, digest, error = %e, "could not put the ECR Image Action event");
        }
    }
}

fn name_unknown(error: trainyard_store::Error, name: &str) -> Error {
    match error {
        trainyard_store::Error::NotFound { .. } => Error::NameUnknown { name: name.into() },
        other => other.into(),
    }
}
