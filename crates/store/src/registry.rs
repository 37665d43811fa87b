//! The OCI registry's records: repositories, blobs and their links to repositories,
//! manifests (byte-exact), tags and uploads in progress.
//!
//! Invariant: a blob row exists exactly while some repository links it; the link that
//! removes the last one reports the blob orphaned, so its bytes can go.

use chrono::{DateTime, Utc};

use crate::row::Columns;
use crate::{from_millis, Error, Store};

/// A stored manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRecord {
    pub repository: String,
    pub digest: String,
    pub media_type: String,
    pub content: Vec<u8>,
    pub subject: Option<String>,
    pub artifact_type: Option<String>,
    /// The manifest's `annotations` object as JSON text.
    pub annotations: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A tag and what it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct TagRecord {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub media_type: String,
    pub size: i64,
    pub updated_at: DateTime<Utc>,
}

/// A repository with its counts.
#[derive(Debug, Clone, PartialEq)]
pub struct RepositoryRecord {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub manifests: i64,
    pub tags: i64,
    /// ECR's `IMMUTABLE`: a tag, once set, never moves to another image.
    pub immutable_tags: bool,
}

impl Store {
    delegate! {
        /// Creates a repository; `AlreadyExists` if it does.
        pub async fn create_repository(&self, name: &str, now: DateTime<Utc>) -> Result<(), Error>;
        pub async fn get_repository(&self, name: &str) -> Result<RepositoryRecord, Error>;
        /// Makes a repository's tags immutable (or mutable again).
        pub async fn set_immutable_tags(&self, name: &str, immutable: bool) -> Result<(), Error>;
        /// Repositories in name order after `last`, at most `limit`.
        pub async fn list_repositories(&self, last: Option<&str>, limit: i64) -> Result<Vec<RepositoryRecord>, Error>;
        /// Deletes a repository with its manifests, tags, uploads and blob links; returns the
        /// digests of blobs no repository links any more.
        pub async fn delete_repository(&self, name: &str) -> Result<Vec<String>, Error>;
        /// Records that `repository` holds blob `digest` of `size` bytes, creating the
        /// repository on first use.
        pub async fn link_blob(&self, repository: &str, digest: &str, size: i64, now: DateTime<Utc>) -> Result<(), Error>;
        /// The size of blob `digest` if `repository` holds it.
        pub async fn repository_blob(&self, repository: &str, digest: &str) -> Result<Option<i64>, Error>;
        /// The size of blob `digest` if any repository holds it.
        pub async fn blob(&self, digest: &str) -> Result<Option<i64>, Error>;
        /// Removes `repository`'s link to a blob. Returns whether there was a link, and
        /// whether the blob is now orphaned (its row gone, its bytes to delete).
        pub async fn unlink_blob(&self, repository: &str, digest: &str) -> Result<(bool, bool), Error>;
        /// Stores a manifest (if new) and points `tag` at it; returns the digest the tag
        /// pointed at before, if any. A tag of a repository with immutable tags that points at
        /// another image is not moved: `InUse` (kind `tag`), and nothing is stored.
        pub async fn put_manifest(&self, manifest: &ManifestRecord, tag: Option<&str>) -> Result<Option<String>, Error>;
        pub async fn get_manifest(&self, repository: &str, digest: &str) -> Result<Option<ManifestRecord>, Error>;
        /// Every manifest of `repository`, newest first.
        pub async fn list_manifests(&self, repository: &str) -> Result<Vec<ManifestRecord>, Error>;
        pub async fn resolve_tag(&self, repository: &str, tag: &str) -> Result<Option<String>, Error>;
        /// Tags of `repository` in lexical order after `last`, at most `limit`, with the
        /// manifest each points at.
        pub async fn list_tags(&self, repository: &str, last: Option<&str>, limit: i64) -> Result<Vec<TagRecord>, Error>;
        /// Removes a tag; returns the digest it pointed at.
        pub async fn delete_tag(&self, repository: &str, tag: &str) -> Result<Option<String>, Error>;
        /// Deletes a manifest and every tag pointing at it; returns those tags, or `None`
        /// when the repository has no such manifest.
        pub async fn delete_manifest(&self, repository: &str, digest: &str) -> Result<Option<Vec<String>>, Error>;
        /// Manifests of `repository` whose `subject` is `digest` (the referrers API).
        pub async fn referrers(&self, repository: &str, digest: &str) -> Result<Vec<ManifestRecord>, Error>;
        /// Records an upload session, creating the repository on first use.
        pub async fn create_upload(&self, id: &str, repository: &str, now: DateTime<Utc>) -> Result<(), Error>;
        /// The repository of upload `id`, if it is in progress.
        pub async fn upload_repository(&self, id: &str) -> Result<Option<String>, Error>;
        pub async fn touch_upload(&self, id: &str, now: DateTime<Utc>) -> Result<(), Error>;
        /// Forgets an upload; returns whether it existed.
        pub async fn delete_upload(&self, id: &str) -> Result<bool, Error>;
        /// Uploads not written to since `before`.
        pub async fn stale_uploads(&self, before: DateTime<Utc>) -> Result<Vec<String>, Error>;
        /// Every upload id on record.
        pub async fn upload_ids(&self) -> Result<Vec<String>, Error>;
    }
}

pub(crate) fn manifest_from(row: &impl Columns) -> ManifestRecord {
    ManifestRecord {
        repository: row.get("repository"),
        digest: row.get("digest"),
        media_type: row.get("media_type"),
        content: row.get("content"),
        subject: row.get("subject"),
        artifact_type: row.get("artifact_type"),
        annotations: row.get("annotations"),
        created_at: from_millis(row.get("created_at")),
    }
}

/// Repositories with their manifest and tag counts, as `repository_from` reads them.
pub(crate) const REPOSITORY_COLUMNS: &str = "SELECT r.name, r.created_at, r.immutable_tags,
    (SELECT COUNT(*) FROM registry_manifests m WHERE m.repository = r.name) AS manifests,
    (SELECT COUNT(*) FROM registry_tags t WHERE t.repository = r.name) AS tags
    FROM registry_repositories r";

pub(crate) fn repository_from(row: &impl Columns) -> RepositoryRecord {
    RepositoryRecord {
        name: row.get("name"),
        created_at: from_millis(row.get("created_at")),
        manifests: row.get("manifests"),
        tags: row.get("tags"),
        immutable_tags: row.flag("immutable_tags"),
    }
}

pub(crate) fn tag_from(row: &impl Columns) -> TagRecord {
    TagRecord {
        repository: row.get("repository"),
        tag: row.get("tag"),
        digest: row.get("digest"),
        media_type: row.get("media_type"),
        size: row.get("size"),
        updated_at: from_millis(row.get("updated_at")),
    }
}
