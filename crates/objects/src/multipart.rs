//! S3 multipart uploads: parts streamed to the backend under `.multipart/UPLOAD/PART`
//! (no bucket can be named so) and recorded; completing streams them, in order, into the
//! object, which becomes visible only then; aborting removes them.

use bytes::Bytes;
use chrono::Utc;
use futures::{Stream, StreamExt, TryStreamExt};
use md5::Digest;
use object_store::path::Path as StorePath;
use trainyard_store::{ObjectRecord, PartRecord, UploadRecord};

use crate::{validate_bucket, validate_key, Error, Objects};

/// The most parts an upload may have, and the numbers they take (S3's).
pub const MAX_PARTS: i64 = 10_000;

impl Objects {
    fn part_location(&self, upload_id: &str, part: i64) -> StorePath {
        self.root.child(".multipart").child(upload_id).child(part.to_string())
    }

    /// Starts an upload of `bucket/key`: its id.
    pub async fn create_upload(&self, bucket: &str, key: &str, content_type: &str) -> Result<String, Error> {
        validate_bucket(bucket)?;
        validate_key(key)?;
        self.store.get_bucket(bucket).await?;
        let upload = UploadRecord {
            upload_id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: bucket.into(),
            key: key.into(),
            content_type: content_type.into(),
            created_at: Utc::now(),
        };
        self.store.create_multipart_upload(&upload).await?;
        Ok(upload.upload_id)
    }

    /// The upload `upload_id` of `bucket/key` (a mismatch is as good as none).
    pub async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadRecord, Error> {
        let upload = self.store.get_multipart_upload(upload_id).await?;
        if upload.bucket != bucket || upload.key != key {
            return Err(trainyard_store::Error::NotFound { kind: "upload", name: upload_id.into() }.into());
        }
        Ok(upload)
    }

    /// Streams part `number` (1–10 000) of an upload: its MD5, hex.
    pub async fn upload_part<S, E>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i64,
        body: S,
    ) -> Result<String, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        if !(1..=MAX_PARTS).contains(&number) {
            return Err(Error::Upload { reason: format!("part number {number} is not 1 to {MAX_PARTS}") });
        }
        self.upload(bucket, key, upload_id).await?;
        let (size, etag) = self.write(&self.part_location(upload_id, number), key, body).await?;
        let part = PartRecord { part_number: number, size: size as i64, etag: etag.clone() };
        self.store.put_multipart_part(upload_id, &part).await?;
        Ok(etag)
    }

    /// The parts stored so far.
    pub async fn parts(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Vec<PartRecord>, Error> {
        self.upload(bucket, key, upload_id).await?;
        Ok(self.store.list_multipart_parts(upload_id).await?)
    }

    /// Completes an upload with `parts` (number, ETag), ascending: the object is their
    /// bytes in that order. Every part named must be stored with that ETag.
    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(i64, String)],
    ) -> Result<ObjectRecord, Error> {
        let upload = self.upload(bucket, key, upload_id).await?;
        let stored = self.store.list_multipart_parts(upload_id).await?;
        let invalid = |reason: String| Error::Upload { reason };
        if parts.is_empty() {
            return Err(invalid("a multipart upload is completed with at least one part".into()));
        }
        for (i, (number, etag)) in parts.iter().enumerate() {
            if i > 0 && parts[i - 1].0 >= *number {
                return Err(invalid("InvalidPartOrder: parts must be listed in ascending order".into()));
            }
            let found = stored.iter().find(|p| p.part_number == *number);
            if found.is_none_or(|p| p.etag != etag.trim_matches('"')) {
                return Err(invalid(format!("InvalidPart: part {number} with ETag {etag} was not uploaded")));
            }
        }
        let locations: std::collections::VecDeque<StorePath> =
            parts.iter().map(|(n, _)| self.part_location(upload_id, *n)).collect();
        let body = part_bytes(self.backend.clone(), locations);
        // S3's ETag of a multipart object: the MD5 of the parts' MD5s, and their count.
        let mut digests = md5::Md5::new();
        for (number, _) in parts {
            let part = stored.iter().find(|p| p.part_number == *number).map(|p| p.etag.as_str()).unwrap_or_default();
            digests.update(hex_bytes(part));
        }
        let etag = format!("{}-{}", hex(&digests.finalize()), parts.len());
        let record = self
            .put_as(
                bucket,
                key,
                &upload.content_type,
                body,
                Default::default(),
                crate::storage::Origin { etag: Some(etag), reason: "CompleteMultipartUpload" },
            )
            .await?;
        self.forget_upload(upload_id, &stored).await;
        Ok(record)
    }

    /// Aborts an upload: its parts are removed.
    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), Error> {
        self.upload(bucket, key, upload_id).await?;
        let stored = self.store.list_multipart_parts(upload_id).await?;
        self.forget_upload(upload_id, &stored).await;
        Ok(())
    }

    /// Removes an upload's parts and forgets it.
    async fn forget_upload(&self, upload_id: &str, parts: &[PartRecord]) {
        for part in parts {
            let _ = self.backend.delete(&self.part_location(upload_id, part.part_number)).await;
        }
        if let Err(e) = self.store.delete_multipart_upload(upload_id).await {
            tracing::warn!(upload_id, error = %e, "could not forget a finished upload");
        }
    }
}

/// The bytes of the parts at `locations`, one after the other, streamed.
fn part_bytes(
    backend: std::sync::Arc<dyn object_store::ObjectStore>,
    locations: std::collections::VecDeque<StorePath>,
) -> futures::stream::BoxStream<'static, Result<Bytes, object_store::Error>> {
    futures::stream::unfold((backend, locations), |(backend, mut locations)| async move {
        let location = locations.pop_front()?;
        let part = backend.get(&location).await.map(|r| r.into_stream());
        Some((part, (backend, locations)))
    })
    .try_flatten()
    .boxed()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a hex string (an MD5 ETag); what is not hex is skipped.
fn hex_bytes(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter_map(|b| (b as char).to_digit(16).map(|d| d as u8)).collect();
    digits.chunks_exact(2).map(|pair| pair[0] << 4 | pair[1]).collect()
}
