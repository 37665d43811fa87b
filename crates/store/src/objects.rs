//! Buckets and object metadata.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::row::Columns;
use crate::{from_millis, Error, Store};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Bucket {
    pub name: String,
    pub creation_date: DateTime<Utc>,
}

/// One object's metadata, in S3's field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectRecord {
    #[serde(skip)]
    pub bucket: String,
    pub key: String,
    pub size: i64,
    /// The MD5 of the content, hex, without quotes.
    #[serde(rename = "ETag")]
    pub etag: String,
    pub content_type: String,
    pub last_modified: DateTime<Utc>,
    /// S3 user metadata (`x-amz-meta-NAME`), names lowercase.
    #[serde(rename = "Metadata", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(rename = "Tags", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl Store {
    delegate! {
        pub async fn create_bucket(&self, name: &str, now: DateTime<Utc>) -> Result<Bucket, Error>;
        pub async fn list_buckets(&self) -> Result<Vec<Bucket>, Error>;
        pub async fn get_bucket(&self, name: &str) -> Result<Bucket, Error>;
        /// Deletes an empty bucket.
        pub async fn delete_bucket(&self, name: &str) -> Result<(), Error>;
        /// Records (or replaces) an object's metadata once its bytes are in place.
        pub async fn put_object(&self, object: &ObjectRecord) -> Result<(), Error>;
        /// Replaces an object's tags.
        pub async fn set_object_tags(&self, bucket: &str, key: &str, tags: &BTreeMap<String, String>) -> Result<(), Error>;
        pub async fn get_object(&self, bucket: &str, key: &str) -> Result<ObjectRecord, Error>;
        /// Removes an object's metadata; returns it, or `None` when there was none.
        pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, Error>;
        /// Objects of `bucket` whose keys start with `prefix` and sort after `start_after`,
        /// in key order, at most `limit`.
        pub async fn list_objects(&self, bucket: &str, prefix: &str, start_after: Option<&str>, limit: i64) -> Result<Vec<ObjectRecord>, Error>;
    }
}

fn string_map(row: &impl Columns, column: &str) -> BTreeMap<String, String> {
    serde_json::from_str(&row.get::<String>(column)).unwrap_or_default()
}

pub(crate) fn object_from(row: &impl Columns) -> ObjectRecord {
    ObjectRecord {
        bucket: row.get("bucket"),
        key: row.get("key"),
        size: row.get("size"),
        etag: row.get("etag"),
        content_type: row.get("content_type"),
        last_modified: from_millis(row.get("last_modified")),
        metadata: string_map(row, "metadata"),
        tags: string_map(row, "tags"),
    }
}

pub(crate) fn bucket_from(row: &impl Columns) -> Bucket {
    Bucket { name: row.get("name"), creation_date: from_millis(row.get("created_at")) }
}
