//! S3 multipart uploads in progress and their parts.

use chrono::{DateTime, Utc};

use crate::row::Columns;
use crate::{from_millis, Error, Store};

/// An upload in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRecord {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub content_type: String,
    pub created_at: DateTime<Utc>,
}

/// A stored part: its number, size and MD5 (hex).
#[derive(Debug, Clone, PartialEq)]
pub struct PartRecord {
    pub part_number: i64,
    pub size: i64,
    pub etag: String,
}

impl Store {
    delegate! {
        pub async fn create_multipart_upload(&self, upload: &UploadRecord) -> Result<(), Error>;
        pub async fn get_multipart_upload(&self, upload_id: &str) -> Result<UploadRecord, Error>;
        /// Records a part (a part sent again replaces the earlier one).
        pub async fn put_multipart_part(&self, upload_id: &str, part: &PartRecord) -> Result<(), Error>;
        /// The upload's parts, by number.
        pub async fn list_multipart_parts(&self, upload_id: &str) -> Result<Vec<PartRecord>, Error>;
        /// Forgets an upload and its parts.
        pub async fn delete_multipart_upload(&self, upload_id: &str) -> Result<(), Error>;
    }
}

pub(crate) fn upload_from(row: &impl Columns) -> UploadRecord {
    UploadRecord {
        upload_id: row.get("upload_id"),
        bucket: row.get("bucket"),
        key: row.get("key"),
        content_type: row.get("content_type"),
        created_at: from_millis(row.get("created_at")),
    }
}
