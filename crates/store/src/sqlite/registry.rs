//! registry: the SQLite queries.
use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::registry::*;
use crate::{db, to_millis, Error};

/// Creates `name` if no repository has it (pushes create repositories on first use).
async fn ensure_repository(tx: &mut sqlx::SqliteConnection, name: &str, now: i64) -> Result<(), Error> {
    sqlx::query("INSERT OR IGNORE INTO registry_repositories (name, created_at) VALUES (?, ?)")
        .bind(name)
        .bind(now)
        .execute(tx)
        .await
        .map_err(db("create repository"))?;
    Ok(())
}

impl SqliteStore {
    pub async fn create_repository(&self, name: &str, now: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query("INSERT INTO registry_repositories (name, created_at) VALUES (?, ?)")
            .bind(name)
            .bind(to_millis(now))
            .execute(&self.writer)
            .await
            .map_err(Error::on_insert("repository", name))?;
        Ok(())
    }

    pub async fn get_repository(&self, name: &str) -> Result<RepositoryRecord, Error> {
        let row = sqlx::query(&format!("{REPOSITORY_COLUMNS} WHERE r.name = ?"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get repository"))?;
        row.as_ref().map(repository_from).ok_or_else(|| Error::NotFound { kind: "repository", name: name.into() })
    }

    pub async fn set_immutable_tags(&self, name: &str, immutable: bool) -> Result<(), Error> {
        let updated = sqlx::query("UPDATE registry_repositories SET immutable_tags = ? WHERE name = ?")
            .bind(immutable)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db("set tag mutability"))?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "repository", name: name.into() });
        }
        Ok(())
    }

    pub async fn list_repositories(&self, last: Option<&str>, limit: i64) -> Result<Vec<RepositoryRecord>, Error> {
        let rows = sqlx::query(&format!("{REPOSITORY_COLUMNS} WHERE r.name > ? ORDER BY r.name LIMIT ?"))
            .bind(last.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db("list repositories"))?;
        Ok(rows.iter().map(repository_from).collect())
    }

    pub async fn delete_repository(&self, name: &str) -> Result<Vec<String>, Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let deleted = sqlx::query("DELETE FROM registry_repositories WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("delete repository"))?;
        if deleted.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "repository", name: name.into() });
        }
        let orphans: Vec<String> = sqlx::query_scalar(
            "DELETE FROM registry_blobs WHERE digest NOT IN (SELECT digest FROM registry_repository_blobs)
             RETURNING digest",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db("delete orphaned blobs"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(orphans)
    }

    pub async fn link_blob(&self, repository: &str, digest: &str, size: i64, now: DateTime<Utc>) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        ensure_repository(&mut tx, repository, to_millis(now)).await?;
        sqlx::query("INSERT OR IGNORE INTO registry_blobs (digest, size, created_at) VALUES (?, ?, ?)")
            .bind(digest)
            .bind(size)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await
            .map_err(db("insert blob"))?;
        sqlx::query(
            "INSERT OR IGNORE INTO registry_repository_blobs (repository, digest, created_at) VALUES (?, ?, ?)",
        )
        .bind(repository)
        .bind(digest)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db("link blob"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn repository_blob(&self, repository: &str, digest: &str) -> Result<Option<i64>, Error> {
        sqlx::query_scalar(
            "SELECT b.size FROM registry_repository_blobs l JOIN registry_blobs b ON b.digest = l.digest
             WHERE l.repository = ? AND l.digest = ?",
        )
        .bind(repository)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("get repository blob"))
    }

    pub async fn blob(&self, digest: &str) -> Result<Option<i64>, Error> {
        sqlx::query_scalar("SELECT size FROM registry_blobs WHERE digest = ?")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get blob"))
    }

    pub async fn unlink_blob(&self, repository: &str, digest: &str) -> Result<(bool, bool), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let unlinked = sqlx::query("DELETE FROM registry_repository_blobs WHERE repository = ? AND digest = ?")
            .bind(repository)
            .bind(digest)
            .execute(&mut *tx)
            .await
            .map_err(db("unlink blob"))?
            .rows_affected()
            > 0;
        let orphaned = sqlx::query(
            "DELETE FROM registry_blobs WHERE digest = ?
             AND NOT EXISTS (SELECT 1 FROM registry_repository_blobs WHERE digest = ?)",
        )
        .bind(digest)
        .bind(digest)
        .execute(&mut *tx)
        .await
        .map_err(db("delete orphaned blob"))?
        .rows_affected()
            > 0;
        tx.commit().await.map_err(db("commit"))?;
        Ok((unlinked, orphaned))
    }

    pub async fn put_manifest(&self, manifest: &ManifestRecord, tag: Option<&str>) -> Result<Option<String>, Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let now = to_millis(manifest.created_at);
        ensure_repository(&mut tx, &manifest.repository, now).await?;
        sqlx::query(
            "INSERT OR IGNORE INTO registry_manifests
             (repository, digest, media_type, content, subject, artifact_type, annotations, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&manifest.repository)
        .bind(&manifest.digest)
        .bind(&manifest.media_type)
        .bind(&manifest.content)
        .bind(&manifest.subject)
        .bind(&manifest.artifact_type)
        .bind(&manifest.annotations)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db("insert manifest"))?;
        let mut previous = None;
        if let Some(tag) = tag {
            previous = sqlx::query_scalar("SELECT digest FROM registry_tags WHERE repository = ? AND tag = ?")
                .bind(&manifest.repository)
                .bind(tag)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("get tag"))?;
            if previous.as_ref().is_some_and(|digest| digest != &manifest.digest) {
                let immutable: bool =
                    sqlx::query_scalar("SELECT immutable_tags != 0 FROM registry_repositories WHERE name = ?")
                        .bind(&manifest.repository)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db("get tag mutability"))?;
                if immutable {
                    return Err(Error::InUse {
                        kind: "tag",
                        name: format!("{}:{tag}", manifest.repository),
                        reason: "the repository's tags are immutable".into(),
                    });
                }
            }
            sqlx::query(
                "INSERT INTO registry_tags (repository, tag, digest, updated_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
            )
            .bind(&manifest.repository)
            .bind(tag)
            .bind(&manifest.digest)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db("put tag"))?;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(previous)
    }

    pub async fn get_manifest(&self, repository: &str, digest: &str) -> Result<Option<ManifestRecord>, Error> {
        let row = sqlx::query("SELECT * FROM registry_manifests WHERE repository = ? AND digest = ?")
            .bind(repository)
            .bind(digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get manifest"))?;
        Ok(row.as_ref().map(manifest_from))
    }

    pub async fn list_manifests(&self, repository: &str) -> Result<Vec<ManifestRecord>, Error> {
        let rows =
            sqlx::query("SELECT * FROM registry_manifests WHERE repository = ? ORDER BY created_at DESC, digest")
                .bind(repository)
                .fetch_all(&self.pool)
                .await
                .map_err(db("list manifests"))?;
        Ok(rows.iter().map(manifest_from).collect())
    }

    pub async fn resolve_tag(&self, repository: &str, tag: &str) -> Result<Option<String>, Error> {
        sqlx::query_scalar("SELECT digest FROM registry_tags WHERE repository = ? AND tag = ?")
            .bind(repository)
            .bind(tag)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("resolve tag"))
    }

    pub async fn list_tags(&self, repository: &str, last: Option<&str>, limit: i64) -> Result<Vec<TagRecord>, Error> {
        let rows = sqlx::query(
            "SELECT t.repository, t.tag, t.digest, t.updated_at, m.media_type, length(m.content) AS size
             FROM registry_tags t JOIN registry_manifests m ON m.repository = t.repository AND m.digest = t.digest
             WHERE t.repository = ? AND t.tag > ? ORDER BY t.tag LIMIT ?",
        )
        .bind(repository)
        .bind(last.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db("list tags"))?;
        Ok(rows.iter().map(tag_from).collect())
    }

    pub async fn delete_tag(&self, repository: &str, tag: &str) -> Result<Option<String>, Error> {
        sqlx::query_scalar("DELETE FROM registry_tags WHERE repository = ? AND tag = ? RETURNING digest")
            .bind(repository)
            .bind(tag)
            .fetch_optional(&self.writer)
            .await
            .map_err(db("delete tag"))
    }

    pub async fn delete_manifest(&self, repository: &str, digest: &str) -> Result<Option<Vec<String>>, Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        let mut tags: Vec<String> =
            sqlx::query_scalar("DELETE FROM registry_tags WHERE repository = ? AND digest = ? RETURNING tag")
                .bind(repository)
                .bind(digest)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("delete tags"))?;
        let deleted = sqlx::query("DELETE FROM registry_manifests WHERE repository = ? AND digest = ?")
            .bind(repository)
            .bind(digest)
            .execute(&mut *tx)
            .await
            .map_err(db("delete manifest"))?;
        if deleted.rows_affected() == 0 {
            return Ok(None);
        }
        tx.commit().await.map_err(db("commit"))?;
        tags.sort();
        Ok(Some(tags))
    }

    pub async fn referrers(&self, repository: &str, digest: &str) -> Result<Vec<ManifestRecord>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM registry_manifests WHERE repository = ? AND subject = ? ORDER BY created_at, digest",
        )
        .bind(repository)
        .bind(digest)
        .fetch_all(&self.pool)
        .await
        .map_err(db("list referrers"))?;
        Ok(rows.iter().map(manifest_from).collect())
    }

    pub async fn create_upload(&self, id: &str, repository: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        ensure_repository(&mut tx, repository, to_millis(now)).await?;
        sqlx::query("INSERT INTO registry_uploads (id, repository, created_at, updated_at) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(repository)
            .bind(to_millis(now))
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await
            .map_err(Error::on_insert("upload", id))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn upload_repository(&self, id: &str) -> Result<Option<String>, Error> {
        sqlx::query_scalar("SELECT repository FROM registry_uploads WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get upload"))
    }

    pub async fn touch_upload(&self, id: &str, now: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query("UPDATE registry_uploads SET updated_at = ? WHERE id = ?")
            .bind(to_millis(now))
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db("touch upload"))?;
        Ok(())
    }

    pub async fn delete_upload(&self, id: &str) -> Result<bool, Error> {
        let deleted = sqlx::query("DELETE FROM registry_uploads WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db("delete upload"))?;
        Ok(deleted.rows_affected() > 0)
    }

    pub async fn stale_uploads(&self, before: DateTime<Utc>) -> Result<Vec<String>, Error> {
        sqlx::query_scalar("SELECT id FROM registry_uploads WHERE updated_at < ? ORDER BY updated_at")
            .bind(to_millis(before))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list stale uploads"))
    }

    pub async fn upload_ids(&self) -> Result<Vec<String>, Error> {
        sqlx::query_scalar("SELECT id FROM registry_uploads").fetch_all(&self.pool).await.map_err(db("list uploads"))
    }
}
