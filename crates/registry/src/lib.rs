//! The OCI registry of trainyard (the platform's ECR): the OCI Distribution v2 operations
//! (blobs pulled with ranges and pushed monolithically or in chunks, cross-repository
//! mounts, manifests and indexes stored byte-exact, tags, the catalog, referrers,
//! deletes), blobs content-addressed on a directory or any `object_store`, abandoned
//! uploads cleaned up, and `ECR Image Action` events for tagged pushes and deletes.
//!
//! The HTTP protocol (routes, headers, status codes) lives in `api`; this crate holds the
//! rules. It must never store a blob under a digest its bytes do not hash to, never hold
//! a blob in memory, and never show a manifest whose blobs the repository does not hold.

mod blobs;
mod describe;
mod layout;
mod manifest;
mod reference;
mod service;

pub use blobs::{Backend, BlobStream, MAX_BLOB_BYTES};
pub use describe::ImageSummary;
pub use layout::{read_layout, LayoutImage};
pub use manifest::{
    Descriptor, Manifest, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, MAX_MANIFEST_BYTES, OCI_INDEX, OCI_MANIFEST,
};
pub use reference::{validate_repository, validate_tag, Algorithm, Digest, ImageName, Reference};
pub use service::{BlobRead, Image, PutManifest, Registry};
pub use trainyard_store::{ManifestRecord, RepositoryRecord, TagRecord};

/// Every way a registry operation can fail; `api` maps each to the distribution spec's
/// error code and status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid repository name {name:?}: {reason}")]
    NameInvalid { name: String, reason: String },
    #[error("repository {name:?} is not known")]
    NameUnknown { name: String },
    #[error("invalid tag {tag:?}: tags are [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    TagInvalid { tag: String },
    #[error("invalid digest {digest:?}: {reason}")]
    DigestInvalid { digest: String, reason: String },
    #[error("blob {digest} is not known in repository {repository:?}")]
    BlobUnknown { repository: String, digest: String },
    #[error("upload {id:?} is not known (it finished, was cancelled or expired)")]
    BlobUploadUnknown { id: String },
    #[error("upload {upload:?} holds {size} bytes; a chunk starting at {start} is out of order")]
    RangeInvalid { upload: String, size: u64, start: u64 },
    #[error("invalid upload: {reason}")]
    BlobUploadInvalid { reason: String },
    #[error("upload interrupted: {reason}")]
    UploadInterrupted { reason: String },
    #[error("invalid size: {reason}")]
    SizeInvalid { reason: String },
    #[error("content is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("invalid manifest: {reason}")]
    ManifestInvalid { reason: String },
    #[error("the image tag {tag:?} already exists in the {repository:?} repository and cannot be overwritten because the repository is immutable")]
    TagImmutable { repository: String, tag: String },
    #[error("the repository {name:?} cannot be deleted because it still contains images")]
    RepositoryNotEmpty { name: String },
    #[error("manifest {reference:?} is not known in repository {repository:?}")]
    ManifestUnknown { repository: String, reference: String },
    #[error("the manifest references {digest}, which repository {repository:?} does not hold")]
    ManifestBlobUnknown { repository: String, digest: String },
    #[error("requested range is not satisfiable: the blob is {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("registry I/O ({context}): {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("blob storage ({context}): {source}")]
    Storage {
        context: String,
        #[source]
        source: object_store::Error,
    },
    #[error(transparent)]
    Store(#[from] trainyard_store::Error),
}
