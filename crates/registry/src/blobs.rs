//! Blob bytes: uploads staged in local files (appended chunk by chunk, hashed as they
//! arrive) and committed under their digest to the blob store, a directory or any
//! `object_store` backend; reads stream, with ranges.
//!
//! Invariant: a blob is stored under a digest only after its bytes were hashed to that
//! digest and (on the file backend) synced; memory per upload is one 1 MiB buffer.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use sha2::{Digest as _, Sha256, Sha512};
use tokio_util::io::ReaderStream;

use crate::reference::hex;
use crate::{Algorithm, Digest, Error};

/// The largest blob accepted.
pub const MAX_BLOB_BYTES: u64 = 64 * 1024 * 1024 * 1024;
/// Bytes gathered before each write to the staging file.
const WRITE_BYTES: usize = 1024 * 1024;
/// Bytes per read when serving a blob.
const READ_BYTES: usize = 1024 * 1024;

/// Blob bytes, streamed.
pub type BlobStream = BoxStream<'static, Result<Bytes, Error>>;

/// Where committed blobs live.
pub enum Backend {
    /// `<root>/<algorithm>/<first two hex digits>/<hex>`, committed by rename.
    Files { root: PathBuf },
    /// Any `object_store` (S3, ...), under `prefix`.
    ObjectStore { store: Arc<dyn ObjectStore>, prefix: StorePath },
}

/// An upload's staging file and running hash.
struct Session {
    file: std::fs::File,
    hasher: Sha256,
    size: u64,
}

/// Staged uploads and committed blobs.
pub struct Blobs {
    backend: Backend,
    uploads: PathBuf,
    // Invariant: one async lock per upload serialises its chunks; the map lock is only
    // held to find or insert a session, never across I/O.
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Session>>>>>,
}

impl Blobs {
    /// Blobs on `backend`, uploads staged under `uploads` (a local directory).
    pub fn new(backend: Backend, uploads: PathBuf) -> Result<Blobs, Error> {
        std::fs::create_dir_all(&uploads).map_err(io(&format!("create {}", uploads.display())))?;
        if let Backend::Files { root } = &backend {
            std::fs::create_dir_all(root).map_err(io(&format!("create {}", root.display())))?;
        }
        Ok(Blobs { backend, uploads, sessions: Mutex::new(HashMap::new()) })
    }

    fn staging_path(&self, id: &str) -> PathBuf {
        // Invariant: upload ids are UUIDs (the service makes them); anything else never
        // names a file, whatever a caller passes.
        match uuid::Uuid::parse_str(id) {
            Ok(uuid) => self.uploads.join(uuid.hyphenated().to_string()),
            Err(_) => self.uploads.join("not-an-upload-id"),
        }
    }

    fn session(&self, id: &str) -> Arc<tokio::sync::Mutex<Option<Session>>> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.entry(id.to_string()).or_default().clone()
    }

    fn forget(&self, id: &str) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// Creates an empty staging file for upload `id`.
    pub async fn start_upload(&self, id: &str) -> Result<(), Error> {
        let path = self.staging_path(id);
        let file =
            tokio::task::spawn_blocking(move || std::fs::OpenOptions::new().write(true).create_new(true).open(&path))
                .await
                .map_err(join)?
                .map_err(io("create upload file"))?;
        *self.session(id).lock().await = Some(Session { file, hasher: Sha256::new(), size: 0 });
        Ok(())
    }

    /// Appends `body` to upload `id`, which must hold exactly `expected_start` bytes when
    /// given (else `RangeInvalid`); returns the upload's new size. A body that fails
    /// half-way leaves the upload as it was.
    pub async fn append<S, E>(
        &self,
        id: &str,
        expected_start: Option<u64>,
        expected_length: Option<u64>,
        body: S,
    ) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let lock = self.session(id);
        let mut guard = lock.lock().await;
        let session = match guard.take() {
            Some(session) => session,
            None => self.resume(id).await?,
        };
        if let Some(start) = expected_start {
            if start != session.size {
                let size = session.size;
                *guard = Some(session);
                return Err(Error::RangeInvalid { upload: id.into(), size, start });
            }
        }
        let checkpoint = (session.size, session.hasher.clone());
        let written = match write_body(session, body).await {
            Ok(session) => match expected_length {
                Some(length) if session.size - checkpoint.0 != length => {
                    let received = session.size - checkpoint.0;
                    let error = Error::SizeInvalid {
                        reason: format!("the chunk declared {length} bytes and carried {received}"),
                    };
                    Err((error, Some(session)))
                }
                _ => Ok(session),
            },
            Err(failure) => Err(failure),
        };
        match written {
            Ok(session) => {
                let size = session.size;
                *guard = Some(session);
                Ok(size)
            }
            Err((error, Some(mut session))) => {
                (session.size, session.hasher) = checkpoint;
                // Invariant: a failed chunk leaves no bytes behind; if truncating fails,
                // the session is dropped and the next request rehashes the file.
                let restored = session.file.set_len(session.size).and_then(|()| session.file.seek(SeekFrom::End(0)));
                if restored.is_ok() {
                    *guard = Some(session);
                }
                Err(error)
            }
            Err((error, None)) => Err(error),
        }
    }

    /// Reopens a staging file left by an earlier process, rehashing what it holds.
    async fn resume(&self, id: &str) -> Result<Session, Error> {
        let path = self.staging_path(id);
        let id = id.to_string();
        tokio::task::spawn_blocking(move || {
            let mut file = match std::fs::OpenOptions::new().read(true).append(true).open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::BlobUploadUnknown { id }),
                Err(e) => return Err(io("open upload file")(e)),
            };
            let mut hasher = Sha256::new();
            let size = std::io::copy(&mut file, &mut hasher).map_err(io("rehash upload"))?;
            Ok(Session { file, hasher, size })
        })
        .await
        .map_err(join)?
    }

    /// The number of bytes upload `id` holds.
    pub async fn upload_size(&self, id: &str) -> Result<u64, Error> {
        let lock = self.session(id);
        let mut guard = lock.lock().await;
        if guard.is_none() {
            *guard = Some(self.resume(id).await?);
        }
        Ok(guard.as_ref().map(|s| s.size).unwrap_or_default())
    }

    /// Checks upload `id` against `digest` and commits it under that digest; the upload
    /// is gone afterwards whatever the outcome. Returns the blob's size and a share of
    /// `commits`, taken before the bytes become visible, for the caller to record the blob
    /// under.
    pub async fn finish(
        &self,
        id: &str,
        digest: &Digest,
        commits: &Arc<tokio::sync::RwLock<()>>,
    ) -> Result<(u64, tokio::sync::OwnedRwLockReadGuard<()>), Error> {
        let lock = self.session(id);
        let mut guard = lock.lock().await;
        let session = match guard.take() {
            Some(session) => session,
            None => self.resume(id).await?,
        };
        let staged = self.staging_path(id);
        let result = self.verify_and_commit(session, &staged, digest, commits).await;
        // Invariant: the staged file goes while the upload's lock is held, so a chunk that
        // raced the finish finds no upload to resume.
        let _ = tokio::fs::remove_file(&staged).await;
        drop(guard);
        self.forget(id);
        result
    }

    async fn verify_and_commit(
        &self,
        session: Session,
        staged: &Path,
        digest: &Digest,
        commits: &Arc<tokio::sync::RwLock<()>>,
    ) -> Result<(u64, tokio::sync::OwnedRwLockReadGuard<()>), Error> {
        let Session { file, hasher, size } = session;
        let actual = match digest.algorithm() {
            Algorithm::Sha256 => Digest::from_parts(Algorithm::Sha256, hex(&hasher.finalize())),
            Algorithm::Sha512 => {
                let path = staged.to_path_buf();
                tokio::task::spawn_blocking(move || -> Result<Digest, Error> {
                    let mut hasher = Sha512::new();
                    std::io::copy(&mut std::fs::File::open(path).map_err(io("open upload"))?, &mut hasher)
                        .map_err(io("hash upload"))?;
                    Ok(Digest::from_parts(Algorithm::Sha512, hex(&hasher.finalize())))
                })
                .await
                .map_err(join)??
            }
        };
        if &actual != digest {
            return Err(Error::DigestInvalid {
                digest: digest.to_string(),
                reason: format!("the uploaded content has digest {actual}"),
            });
        }
        match &self.backend {
            Backend::Files { root } => {
                // The slow part (syncing the bytes) happens before the share is taken.
                tokio::task::spawn_blocking(move || file.sync_all()).await.map_err(join)?.map_err(io("sync upload"))?;
                let held = commits.clone().read_owned().await;
                let target = file_path(root, digest);
                let staged = staged.to_path_buf();
                tokio::task::spawn_blocking(move || -> Result<(), Error> {
                    let parent = target.parent().expect("a blob path has a parent");
                    std::fs::create_dir_all(parent).map_err(io("create blob directory"))?;
                    std::fs::rename(&staged, &target).map_err(io("commit blob"))?;
                    std::fs::File::open(parent).and_then(|d| d.sync_all()).map_err(io("sync blob directory"))
                })
                .await
                .map_err(join)??;
                Ok((size, held))
            }
            Backend::ObjectStore { store, prefix } => {
                drop(file);
                let held = commits.clone().read_owned().await;
                let location = object_path(prefix, digest);
                let upload = store.put_multipart(&location).await.map_err(store_error("start blob upload"))?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 * 1024 * 1024);
                let copied = async {
                    let file = tokio::fs::File::open(staged).await.map_err(io("open upload"))?;
                    let mut reader = ReaderStream::with_capacity(file, READ_BYTES);
                    while let Some(chunk) = reader.next().await {
                        let chunk = chunk.map_err(io("read upload"))?;
                        writer.wait_for_capacity(2).await.map_err(store_error("blob upload"))?;
                        writer.write(&chunk);
                    }
                    Ok::<(), Error>(())
                }
                .await;
                match copied {
                    Ok(()) => writer.finish().await.map_err(store_error("finish blob upload"))?,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(e);
                    }
                };
                Ok((size, held))
            }
        }
    }

    /// Drops upload `id` and its staged bytes.
    pub async fn cancel(&self, id: &str) {
        let lock = self.session(id);
        let mut guard = lock.lock().await;
        *guard = None;
        let _ = tokio::fs::remove_file(self.staging_path(id)).await;
        drop(guard);
        self.forget(id);
    }

    /// Stream of the blob's bytes in `range` (clamped to its `size`).
    pub async fn read(&self, digest: &Digest, range: std::ops::Range<u64>) -> Result<BlobStream, Error> {
        match &self.backend {
            Backend::Files { root } => {
                let file = std::fs::File::open(file_path(root, digest)).map_err(io("open blob"))?;
                Ok(read_ahead(file, range))
            }
            Backend::ObjectStore { .. } if range.is_empty() => Ok(futures::stream::empty().boxed()),
            Backend::ObjectStore { store, prefix } => {
                let options = GetOptions { range: Some(GetRange::Bounded(range)), ..Default::default() };
                let result =
                    store.get_opts(&object_path(prefix, digest), options).await.map_err(store_error("read blob"))?;
                Ok(result.into_stream().map_err(store_error("read blob")).boxed())
            }
        }
    }

    /// Deletes a blob's bytes (missing bytes are not an error).
    pub async fn delete(&self, digest: &Digest) -> Result<(), Error> {
        match &self.backend {
            Backend::Files { root } => match tokio::fs::remove_file(file_path(root, digest)).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io("delete blob")(e)),
            },
            Backend::ObjectStore { store, prefix } => match store.delete(&object_path(prefix, digest)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(store_error("delete blob")(e)),
            },
        }
    }

    /// The names of the staging files present now.
    pub async fn staged_names(&self) -> Result<Vec<String>, Error> {
        let mut names = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.uploads).await.map_err(io("list uploads"))?;
        while let Some(entry) = entries.next_entry().await.map_err(io("list uploads"))? {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    /// Removes the staging file `name` (one with no upload on record).
    pub async fn remove_staged(&self, name: &str) {
        if !name.contains('/') && name != ".." && name != "." {
            let _ = tokio::fs::remove_file(self.uploads.join(name)).await;
        }
    }
}

/// Gathers the body into 1 MiB buffers, each hashed and written off the async threads
/// while the next one is received (one write in flight, so memory stays two buffers).
/// Hands the session back (unless a blocking task died with it) with the outcome.
async fn write_body<S, E>(session: Session, body: S) -> Result<Session, (Error, Option<Session>)>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    type Write = tokio::task::JoinHandle<(Session, std::io::Result<()>)>;
    // Waits for the write in flight; gives the session back, or the failure.
    async fn settle(write: Write) -> Result<Session, (Error, Option<Session>)> {
        match write.await {
            Ok((session, Ok(()))) => Ok(session),
            Ok((session, Err(e))) => Err((io("write upload")(e), Some(session))),
            Err(e) => Err((join(e), None)),
        }
    }
    fn spawn_write(mut session: Session, data: Bytes) -> Write {
        tokio::task::spawn_blocking(move || {
            session.hasher.update(&data);
            let result = session.file.write_all(&data);
            if result.is_ok() {
                writeback::start(&session.file, session.size, data.len() as u64);
            }
            session.size += data.len() as u64;
            (session, result)
        })
    }
    let mut idle = Some(session);
    let mut in_flight: Option<Write> = None;
    let mut received = 0u64;
    let start = idle.as_ref().map_or(0, |s| s.size);
    let mut buffer = BytesMut::with_capacity(WRITE_BYTES);
    let mut body = std::pin::pin!(body);
    loop {
        let next = body.next().await;
        let finished = next.is_none();
        let failure = match next {
            Some(Err(e)) => Some(Error::UploadInterrupted { reason: e.to_string() }),
            Some(Ok(chunk)) if start + received + chunk.len() as u64 > MAX_BLOB_BYTES => {
                Some(Error::TooLarge { limit: MAX_BLOB_BYTES })
            }
            Some(Ok(chunk)) => {
                received += chunk.len() as u64;
                buffer.extend_from_slice(&chunk);
                None
            }
            None => None,
        };
        if let Some(error) = failure {
            let session = match in_flight.take() {
                Some(write) => match settle(write).await {
                    Ok(session) => Some(session),
                    Err((_, session)) => session,
                },
                None => idle.take(),
            };
            return Err((error, session));
        }
        if buffer.len() >= WRITE_BYTES || (finished && !buffer.is_empty()) {
            let session = match in_flight.take() {
                Some(write) => settle(write).await?,
                None => idle.take().expect("a session is idle when no write is in flight"),
            };
            in_flight = Some(spawn_write(session, buffer.split().freeze()));
        }
        if finished {
            return match in_flight.take() {
                Some(write) => settle(write).await,
                None => Ok(idle.take().expect("a session is idle when no write is in flight")),
            };
        }
    }
}

/// Early write-back of staged bytes. The kernel otherwise keeps a large upload's pages
/// dirty until the final `fsync`, which then writes the whole blob while the client waits;
/// starting each chunk's write-back as it lands overlaps the disk with the network, and
/// waiting for the chunk written `LAG` bytes earlier keeps dirty memory per upload bounded.
/// Hints only: a failure here changes no outcome (the final `fsync` still decides).
mod writeback {
    /// How far behind the newest chunk the write-back is waited for.
    const LAG: u64 = 16 * 1024 * 1024;

    #[cfg(target_os = "linux")]
    pub(super) fn start(file: &std::fs::File, offset: u64, len: u64) {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        let range = |offset: u64, len: u64, flags: libc::c_uint| {
            // SAFETY: `fd` is an open descriptor owned by `file`, borrowed for the call;
            // sync_file_range reads no memory of ours.
            #[allow(unsafe_code)]
            let _ = unsafe { libc::sync_file_range(fd, offset as libc::off64_t, len as libc::off64_t, flags) };
        };
        range(offset, len, libc::SYNC_FILE_RANGE_WRITE);
        if offset >= LAG {
            let wait =
                libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
            range(offset - LAG, len, wait);
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn start(_file: &std::fs::File, _offset: u64, _len: u64) {}
}

fn file_path(root: &Path, digest: &Digest) -> PathBuf {
    root.join(digest.algorithm().name()).join(&digest.hex()[..2]).join(digest.hex())
}

fn object_path(prefix: &StorePath, digest: &Digest) -> StorePath {
    prefix.child(digest.algorithm().name()).child(&digest.hex()[..2]).child(digest.hex())
}

fn io(context: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { context: context.to_string(), source }
}

fn store_error(context: &'static str) -> impl Fn(object_store::Error) -> Error {
    move |source| Error::Storage { context: context.to_string(), source }
}

fn join(e: tokio::task::JoinError) -> Error {
    Error::Io { context: "blocking task".into(), source: std::io::Error::other(e.to_string()) }
}

/// Streams `range` of a file, read by a blocking task up to two chunks ahead of the
/// consumer, so disk reads overlap sending.
fn read_ahead(mut file: std::fs::File, range: std::ops::Range<u64>) -> BlobStream {
    use std::io::Read;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, Error>>(2);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = file.seek(SeekFrom::Start(range.start)) {
            let _ = sender.blocking_send(Err(io("seek blob")(e)));
            return;
        }
        let mut remaining = range.end.saturating_sub(range.start);
        while remaining > 0 {
            let mut chunk = BytesMut::zeroed(READ_BYTES.min(remaining as usize));
            match file.read(&mut chunk) {
                Ok(0) => {
                    let _ = sender.blocking_send(Err(Error::Io {
                        context: "read blob".into(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the blob is shorter than recorded",
                        ),
                    }));
                    return;
                }
                Ok(n) => {
                    chunk.truncate(n);
                    remaining -= n as u64;
                    // A closed channel means the client went away: stop reading.
                    if sender.blocking_send(Ok(chunk.freeze())).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = sender.blocking_send(Err(io("read blob")(e)));
                    return;
                }
            }
        }
    });
    futures::stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) })
        .boxed()
}

/// Reads a whole small blob (an image config) into memory, refusing one over `limit`.
pub(crate) async fn read_small(blobs: &Blobs, digest: &Digest, size: u64, limit: u64) -> Result<Vec<u8>, Error> {
    if size > limit {
        return Err(Error::TooLarge { limit });
    }
    let mut stream = blobs.read(digest, 0..size).await?;
    let mut bytes = Vec::with_capacity(size as usize);
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(bytes)
}
