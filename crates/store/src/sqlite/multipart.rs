//! multipart: the SQLite queries.
use sqlx::Row;

use super::SqliteStore;
use crate::multipart::*;
use crate::{db, to_millis, Error};

impl SqliteStore {
    pub async fn create_multipart_upload(&self, upload: &UploadRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO multipart_uploads (upload_id, bucket, key, content_type, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&upload.upload_id)
        .bind(&upload.bucket)
        .bind(&upload.key)
        .bind(&upload.content_type)
        .bind(to_millis(upload.created_at))
        .execute(&self.writer)
        .await
        .map_err(Error::on_insert("upload", &upload.upload_id))?;
        Ok(())
    }

    pub async fn get_multipart_upload(&self, upload_id: &str) -> Result<UploadRecord, Error> {
        let row = sqlx::query("SELECT * FROM multipart_uploads WHERE upload_id = ?")
            .bind(upload_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get upload"))?
            .ok_or_else(|| Error::NotFound { kind: "upload", name: upload_id.to_string() })?;
        Ok(upload_from(&row))
    }

    pub async fn put_multipart_part(&self, upload_id: &str, part: &PartRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO multipart_parts (upload_id, part_number, size, etag) VALUES (?, ?, ?, ?)
             ON CONFLICT (upload_id, part_number) DO UPDATE SET size = excluded.size, etag = excluded.etag",
        )
        .bind(upload_id)
        .bind(part.part_number)
        .bind(part.size)
        .bind(&part.etag)
        .execute(&self.writer)
        .await
        .map_err(db("put part"))?;
        Ok(())
    }

    pub async fn list_multipart_parts(&self, upload_id: &str) -> Result<Vec<PartRecord>, Error> {
        let rows =
            sqlx::query("SELECT part_number, size, etag FROM multipart_parts WHERE upload_id = ? ORDER BY part_number")
                .bind(upload_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db("list parts"))?;
        Ok(rows.iter().map(|r| PartRecord { part_number: r.get(0), size: r.get(1), etag: r.get(2) }).collect())
    }

    pub async fn delete_multipart_upload(&self, upload_id: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM multipart_uploads WHERE upload_id = ?")
            .bind(upload_id)
            .execute(&self.writer)
            .await
            .map_err(db("delete upload"))?;
        Ok(())
    }
}
