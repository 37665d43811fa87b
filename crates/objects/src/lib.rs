//! Object storage, the S3 of trainyard: buckets and objects whose bytes live on an
//! `object_store` backend (the local file system under the data directory by default,
//! any S3-compatible store by URL) and whose metadata (size, MD5 ETag, content type)
//! lives in the metadata store. Every write and delete emits the S3 EventBridge events.
//!
//! This crate must never hold a whole object in memory (bytes stream in both
//! directions), never accept a key that could escape its bucket, and never make an
//! object visible before its bytes are complete.

mod multipart;
mod names;
mod storage;

pub use multipart::MAX_PARTS;
pub use names::{validate_bucket, validate_key, S3Uri};
pub use storage::{open_backend, Attributes, Listing, ObjectStream, Objects, MAX_OBJECT_BYTES};

/// Every way an object operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid bucket name {name:?}: {reason}")]
    InvalidBucket { name: String, reason: String },
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("invalid S3 URI {uri:?}: {reason}")]
    InvalidUri { uri: String, reason: String },
    /// Metadata or tags beyond S3's limits.
    #[error("{reason}")]
    InvalidAttributes { reason: String },
    #[error("object is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("object store URL {url:?}: {reason}")]
    Backend { url: String, reason: String },
    /// The object store did not answer at start.
    #[error("cannot reach the object store at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("object storage I/O ({context}): {source}")]
    Io {
        context: String,
        #[source]
        source: object_store::Error,
    },
    #[error("upload interrupted: {reason}")]
    Upload { reason: String },
    #[error(transparent)]
    Store(#[from] trainyard_store::Error),
}
