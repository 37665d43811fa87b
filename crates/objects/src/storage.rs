//! The object service: streaming puts with MD5 ETags, ranged gets, listings with
//! delimiters, deletes, and the S3 events.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use serde::Serialize;
use serde_json::json;
use trainyard_bus::EventBus;
use trainyard_store::{Bucket, ObjectRecord, Store};

use crate::{validate_bucket, validate_key, Error};

/// The largest object a single put accepts (S3's single-PUT limit).
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Upload part size: memory per upload stays around a couple of parts.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Object bytes, streamed.
pub type ObjectStream = BoxStream<'static, Result<Bytes, Error>>;

/// A page of a listing.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Listing {
    pub contents: Vec<ObjectRecord>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// Pass as `start_after` to get the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_start_after: Option<String>,
}

/// The directory under the root that holds objects, at `.objects/bucket/hh/SHA256(key)`
/// on every backend, because a key is not always a usable location: on a file system,
/// segments over 255 bytes and the backend's own staging names (`name#N`); on S3 stores
/// too, `x` beside `x/` (object_store drops a trailing `/`), empty and `.` segments, and
/// stores that limit a segment's length (SeaweedFS: 255 bytes). Objects stored at
/// `bucket/key` by earlier versions are still found there. No bucket can be named so.
const HASHED_DIR: &str = ".objects";

/// Buckets and objects. Cheap to clone.
#[derive(Clone)]
pub struct Objects {
    pub(crate) backend: Arc<dyn ObjectStore>,
    pub(crate) root: StorePath,
    pub(crate) store: Store,
    bus: EventBus,
}

impl Objects {
    /// Objects on the local file system under `dir`.
    pub fn local(dir: &std::path::Path, store: Store, bus: EventBus) -> Result<Objects, Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Backend { url: dir.display().to_string(), reason: e.to_string() })?;
        let backend = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| Error::Backend { url: dir.display().to_string(), reason: e.to_string() })?;
        remove_staging_files(dir);
        Ok(Objects { backend: Arc::new(backend), root: StorePath::default(), store, bus })
    }

    /// Objects on the store a URL names: `file:///abs/dir` or `s3://bucket/prefix`
    /// (credentials and endpoint from the usual `AWS_*` variables).
    pub fn from_url(url: &str, store: Store, bus: EventBus) -> Result<Objects, Error> {
        Objects::from_url_with(url, &[], store, bus)
    }

    /// As [`Objects::from_url`], with backend options (`aws_endpoint`, `aws_access_key_id`,
    /// …) that take precedence over the `AWS_*` variables.
    pub fn from_url_with(
        url: &str,
        options: &[(String, String)],
        store: Store,
        bus: EventBus,
    ) -> Result<Objects, Error> {
        if let Some(path) = url.strip_prefix("file://") {
            return Objects::local(std::path::Path::new(path), store, bus);
        }
        let (backend, root) = open_backend_with(url, options)?;
        Ok(Objects { backend, root, store, bus })
    }

    /// Checks that the object store answers (a listing under the root, within 15 s):
    /// called at start, so a wrong endpoint or a store that is down stops the server there.
    pub async fn check_reachable(&self, url: &str) -> Result<(), Error> {
        let listing = self.backend.list_with_delimiter(Some(&self.root));
        let reason = match tokio::time::timeout(std::time::Duration::from_secs(15), listing).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer within 15 s".to_string(),
        };
        Err(Error::Unreachable { url: url.to_string(), reason })
    }

    /// The backend and root this service stores under (the registry keeps its blobs
    /// beside the buckets, under a name no bucket can have).
    pub fn backend(&self) -> (Arc<dyn ObjectStore>, StorePath) {
        (self.backend.clone(), self.root.clone())
    }

    /// Where `bucket/key`'s bytes are written.
    fn location(&self, bucket: &str, key: &str) -> Result<StorePath, Error> {
        let digest = hex(&sha2::Sha256::digest(key.as_bytes()));
        let parts = [HASHED_DIR, bucket, &digest[..2], &digest];
        Ok(self.root.parts().chain(parts.iter().map(|&p| object_store::path::PathPart::from(p))).collect())
    }

    /// Where an earlier version stored `bucket/key` (`bucket/key` under the root), if the
    /// key is a valid location.
    fn legacy_location(&self, bucket: &str, key: &str) -> Option<StorePath> {
        let relative = StorePath::parse(format!("{bucket}/{key}")).ok()?;
        Some(self.root.parts().chain(relative.parts()).collect())
    }

    pub async fn create_bucket(&self, name: &str) -> Result<Bucket, Error> {
        validate_bucket(name)?;
        Ok(self.store.create_bucket(name, Utc::now()).await?)
    }

    pub async fn list_buckets(&self) -> Result<Vec<Bucket>, Error> {
        Ok(self.store.list_buckets().await?)
    }

    pub async fn bucket(&self, name: &str) -> Result<Bucket, Error> {
        Ok(self.store.get_bucket(name).await?)
    }

    pub async fn delete_bucket(&self, name: &str) -> Result<(), Error> {
        Ok(self.store.delete_bucket(name).await?)
    }

    /// Streams `body` into `bucket/key`. The object becomes visible (and the
    /// `Object Created` event is put) only once every byte is stored.
    pub async fn put<S, E>(&self, bucket: &str, key: &str, content_type: &str, body: S) -> Result<ObjectRecord, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        self.put_as(bucket, key, content_type, body, Attributes::default(), Origin::put()).await
    }

    /// [`Objects::put`] with user metadata and tags.
    pub async fn put_with<S, E>(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        attributes: Attributes,
        body: S,
    ) -> Result<ObjectRecord, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        validate_attributes(&attributes)?;
        self.put_as(bucket, key, content_type, body, attributes, Origin::put()).await
    }

    /// Replaces an object's tags (S3's `PutObjectTagging`; empty for `DeleteObjectTagging`).
    pub async fn set_tags(&self, bucket: &str, key: &str, tags: BTreeMap<String, String>) -> Result<(), Error> {
        validate_key(key)?;
        validate_attributes(&Attributes { tags: tags.clone(), ..Default::default() })?;
        Ok(self.store.set_object_tags(bucket, key, &tags).await?)
    }

    /// [`Objects::put`] with the ETag S3 gives the object (a completed multipart upload's
    /// is not its MD5) and the event's reason.
    pub(crate) async fn put_as<S, E>(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        body: S,
        attributes: Attributes,
        origin: Origin,
    ) -> Result<ObjectRecord, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        validate_bucket(bucket)?;
        validate_key(key)?;
        self.store.get_bucket(bucket).await?;
        let location = self.location(bucket, key)?;
        let (size, md5) = self.write(&location, key, body).await?;
        let etag = origin.etag.unwrap_or(md5);
        let record = ObjectRecord {
            bucket: bucket.into(),
            key: key.into(),
            size: size as i64,
            etag,
            content_type: content_type.into(),
            last_modified: Utc::now(),
            metadata: attributes.metadata,
            tags: attributes.tags,
        };
        self.store.put_object(&record).await?;
        if let Some(legacy) = self.legacy_location(bucket, key) {
            // An earlier version's copy would otherwise be found after a delete.
            let _ = self.backend.delete(&legacy).await;
        }
        self.emit("Object Created", &record, origin.reason).await;
        Ok(record)
    }

    /// Streams `body` to `location` on the backend (never visible as an object by
    /// itself): its size and MD5. Invariant: at most two parts are buffered or in flight.
    pub(crate) async fn write<S, E>(&self, location: &StorePath, key: &str, body: S) -> Result<(u64, String), Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let upload = self
            .backend
            .put_multipart(location)
            .await
            .map_err(|source| Error::Io { context: format!("start upload of {key}"), source })?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut digest = Md5::new();
        let mut size: u64 = 0;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(Error::Upload { reason: e.to_string() });
                }
            };
            size += chunk.len() as u64;
            if size > MAX_OBJECT_BYTES {
                let _ = writer.abort().await;
                return Err(Error::TooLarge { limit: MAX_OBJECT_BYTES });
            }
            digest.update(&chunk);
            writer
                .wait_for_capacity(2)
                .await
                .map_err(|source| Error::Io { context: format!("upload of {key}"), source })?;
            writer.write(&chunk);
        }
        writer.finish().await.map_err(|source| Error::Io { context: format!("finish upload of {key}"), source })?;
        Ok((size, hex(&digest.finalize())))
    }

    /// Puts a small in-memory object.
    pub async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        bytes: Bytes,
    ) -> Result<ObjectRecord, Error> {
        self.put(
            bucket,
            key,
            content_type,
            futures::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) }),
        )
        .await
    }

    pub async fn head(&self, bucket: &str, key: &str) -> Result<ObjectRecord, Error> {
        validate_key(key)?;
        Ok(self.store.get_object(bucket, key).await?)
    }

    /// The object's metadata and its bytes (a byte range of them when asked).
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<(ObjectRecord, ObjectStream), Error> {
        let record = self.head(bucket, key).await?;
        let options = GetOptions { range: range.map(GetRange::Bounded), ..Default::default() };
        let mut result = self.backend.get_opts(&self.location(bucket, key)?, options.clone()).await;
        let missing = matches!(result, Err(object_store::Error::NotFound { .. }));
        if let Some(legacy) = self.legacy_location(bucket, key).filter(|_| missing) {
            result = self.backend.get_opts(&legacy, options).await;
        }
        let result = result.map_err(|source| Error::Io { context: format!("read {key}"), source })?;
        let key = key.to_string();
        // A local file is read in large pieces (object_store's own stream reads 8 KiB at a
        // time, each a trip to the blocking pool).
        if let object_store::GetResultPayload::File(file, path) = result.payload {
            let range = result.range.clone();
            return Ok((record, file_stream(file, path, range, key)));
        }
        let stream =
            result.into_stream().map_err(move |source| Error::Io { context: format!("read {key}"), source }).boxed();
        Ok((record, stream))
    }

    /// Deletes an object; deleting a missing key is not an error (as S3).
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, Error> {
        validate_key(key)?;
        self.store.get_bucket(bucket).await?;
        let Some(record) = self.store.delete_object(bucket, key).await? else { return Ok(None) };
        let locations = std::iter::once(self.location(bucket, key)?).chain(self.legacy_location(bucket, key));
        for location in locations {
            match self.backend.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => return Err(Error::Io { context: format!("delete {key}"), source }),
            }
        }
        self.emit("Object Deleted", &record, "DeleteObject").await;
        Ok(Some(record))
    }

    /// Lists keys under `prefix`; with a `delimiter`, keys sharing the part up to the
    /// next delimiter are rolled up into `common_prefixes` (S3's ListObjectsV2).
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        start_after: Option<&str>,
        max_keys: usize,
    ) -> Result<Listing, Error> {
        self.store.get_bucket(bucket).await?;
        let max_keys = max_keys.clamp(1, 10_000);
        let mut listing = Listing::default();
        let mut after = start_after.map(str::to_string);
        loop {
            let page = self.store.list_objects(bucket, prefix, after.as_deref(), 1000).await?;
            let exhausted = page.len() < 1000;
            for object in page {
                after = Some(object.key.clone());
                let rest = &object.key[prefix.len()..];
                let rolled = delimiter.and_then(|d| rest.find(d).map(|i| format!("{prefix}{}", &rest[..i + d.len()])));
                let entries = listing.contents.len() + listing.common_prefixes.len();
                match rolled {
                    Some(common) if listing.common_prefixes.last() == Some(&common) => continue,
                    _ if entries == max_keys => {
                        listing.is_truncated = true;
                        listing.next_start_after = listing
                            .contents
                            .last()
                            .map(|o| o.key.clone())
                            .into_iter()
                            .chain(listing.common_prefixes.last().map(|p| format!("{p}\u{10FFFF}")))
                            .max();
                        return Ok(listing);
                    }
                    Some(common) => listing.common_prefixes.push(common),
                    None => listing.contents.push(object),
                }
            }
            if exhausted {
                return Ok(listing);
            }
        }
    }

    async fn emit(&self, detail_type: &str, record: &ObjectRecord, reason: &str) {
        let detail = json!({
            "version": "0",
            "bucket": {"name": record.bucket},
            "object": {"key": record.key, "size": record.size, "etag": record.etag,
                       "sequencer": format!("{:016X}", record.last_modified.timestamp_micros())},
            "request-id": uuid::Uuid::new_v4().to_string(),
            "requester": self.bus.config().account,
            "reason": reason,
        });
        let resources = vec![format!("arn:aws:s3:::{}", record.bucket)];
        if let Err(e) = self.bus.emit("aws.s3", detail_type, detail, resources).await {
            tracing::error!(bucket = %record.bucket, key = %record.key, error = %e, "could not put the S3 event");
        }
    }
}

/// The `object_store` backend a non-`file://` URL names (`s3://bucket/prefix`, with
/// credentials and endpoint from the usual `AWS_*` variables) and its root path.
pub fn open_backend(url: &str) -> Result<(Arc<dyn ObjectStore>, StorePath), Error> {
    open_backend_with(url, &[])
}

/// As [`open_backend`], with options (`aws_endpoint`, …) over the `AWS_*` variables.
pub fn open_backend_with(url: &str, options: &[(String, String)]) -> Result<(Arc<dyn ObjectStore>, StorePath), Error> {
    let backend_error = |reason: String| Error::Backend { url: url.into(), reason };
    let parsed = url::Url::parse(url).map_err(|e| backend_error(e.to_string()))?;
    let mut merged: BTreeMap<String, String> =
        std::env::vars().filter(|(k, _)| k.starts_with("AWS_")).map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    merged.extend(options.iter().cloned());
    let (backend, root) = object_store::parse_url_opts(&parsed, merged).map_err(|e| backend_error(e.to_string()))?;
    Ok((Arc::from(backend), root))
}

/// Removes the staging files (`NAME#N`) of uploads a crash interrupted: no upload is in
/// progress before the service starts. Keys never become file names here
/// (`.objects/bucket/hh/SHA-256`), so no object is named so.
fn remove_staging_files(dir: &std::path::Path) {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() && is_staging_name(&name) {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => tracing::info!("removed an interrupted upload's staging file"),
                    Err(e) => tracing::warn!("could not remove an interrupted upload's staging file: {e}"),
                }
            }
        }
    }
}

/// `object_store`'s staging name for an upload of `NAME`: `NAME#` and a number.
fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What S3 keeps with an object beside its bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    /// User metadata (`x-amz-meta-NAME`), names lowercase.
    pub metadata: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// S3's limits: 2 KiB of user metadata; at most 10 tags, keys of 1-128 and values of at
/// most 256 characters.
fn validate_attributes(attributes: &Attributes) -> Result<(), Error> {
    let metadata: usize = attributes.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if metadata > 2048 {
        return Err(Error::InvalidAttributes { reason: format!("user metadata is {metadata} bytes; at most 2048") });
    }
    if attributes.tags.len() > 10 {
        return Err(Error::InvalidAttributes { reason: "an object has at most 10 tags".into() });
    }
    for (key, value) in &attributes.tags {
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(Error::InvalidAttributes {
                reason: format!("tag {key:?}: keys are 1-128 characters, values at most 256"),
            });
        }
    }
    Ok(())
}

/// How an object came to be: the ETag S3 gives it (a completed multipart upload's is not
/// its MD5) and the reason its `Object Created` event names.
pub(crate) struct Origin {
    pub etag: Option<String>,
    pub reason: &'static str,
}

impl Origin {
    fn put() -> Origin {
        Origin { etag: None, reason: "PutObject" }
    }
}

/// Bytes read from a local file at a time.
const READ_BYTES: usize = 1024 * 1024;

/// `range` of a local object file, streamed in [`READ_BYTES`] pieces.
fn file_stream(file: std::fs::File, path: std::path::PathBuf, range: Range<u64>, key: String) -> ObjectStream {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let io_error = move |e: std::io::Error| Error::Io {
        context: format!("read {key}"),
        source: object_store::Error::Generic {
            store: "LocalFileSystem",
            source: format!("{}: {e}", path.display()).into(),
        },
    };
    let opened = async move {
        let mut file = tokio::fs::File::from_std(file);
        file.seek(std::io::SeekFrom::Start(range.start)).await?;
        Ok::<_, std::io::Error>(tokio_util::io::ReaderStream::with_capacity(
            file.take(range.end - range.start),
            READ_BYTES,
        ))
    };
    futures::stream::once(opened).try_flatten().map_err(io_error).boxed()
}
