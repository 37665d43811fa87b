//! registry: the PostgreSQL queries.
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::registry::*;
use crate::{db, to_millis, Error};

/// Creates `name` if no repository has it (pushes create repositories on first use).
async fn ensure_repository(tx: &mut sqlx::PgConnection, name: &str, now: i64) -> Result<(), Error> {
    sqlx::query("INSERT INTO registry_repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(now)
        .execute(tx)
        .await
        .map_err(db("create repository"))?;
    Ok(())
}

/// The key of the transaction-scoped advisory lock that serialises every change to the
/// links of blob `digest` (`$1`): link, unlink and a repository's deletion each decide
/// "does any repository still link it?" under it, so a blob row exists exactly while some
/// repository links it, and bytes reported orphaned are not re-linked meanwhile.
const BLOB_LOCK: &str = "hashtextextended('registry-blob:' || $1, 0)";

/// A repository deleted between `ensure_repository` and an insert that refers to it fails
/// the insert's foreign-key check (23503) once the deletion commits: `NotFound`, as if the
/// deletion had come first.
fn repository_gone(repository: &str, context: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    let repository = repository.to_string();
    move |source| match &source {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            Error::NotFound { kind: "repository", name: repository }
        }
        _ => Error::Database { context: context.into(), source },
    }
}

async fn lock_blob(tx: &mut sqlx::PgConnection, digest: &str) -> Result<(), Error> {
    sqlx::query(&format!("SELECT pg_advisory_xact_lock({BLOB_LOCK})"))
        .bind(digest)
        .execute(tx)
        .await
        .map_err(db("lock blob"))?;
    Ok(())
}

impl PgStore {
    pub async fn create_repository(&self, name: &str, now: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query("INSERT INTO registry_repositories (name, created_at) VALUES ($1, $2)")
            .bind(name)
            .bind(to_millis(now))
            .execute(&self.pool)
            .await
            .map_err(Error::on_insert("repository", name))?;
        Ok(())
    }

    pub async fn get_repository(&self, name: &str) -> Result<RepositoryRecord, Error> {
        let row = sqlx::query(&format!("{REPOSITORY_COLUMNS} WHERE r.name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get repository"))?;
        row.as_ref().map(repository_from).ok_or_else(|| Error::NotFound { kind: "repository", name: name.into() })
    }

    pub async fn set_immutable_tags(&self, name: &str, immutable: bool) -> Result<(), Error> {
        let updated = sqlx::query("UPDATE registry_repositories SET immutable_tags = $1 WHERE name = $2")
            .bind(immutable)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("set tag mutability"))?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "repository", name: name.into() });
        }
        Ok(())
    }

    pub async fn list_repositories(&self, last: Option<&str>, limit: i64) -> Result<Vec<RepositoryRecord>, Error> {
        let rows = sqlx::query(&format!("{REPOSITORY_COLUMNS} WHERE r.name > $1 ORDER BY r.name LIMIT $2"))
            .bind(last.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db("list repositories"))?;
        Ok(rows.iter().map(repository_from).collect())
    }

    pub async fn delete_repository(&self, name: &str) -> Result<Vec<String>, Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // The row lock keeps new links out (their foreign-key check waits for it), so the
        // digests read next are every blob the repository links until it is gone.
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM registry_repositories WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("lock repository"))?;
        if found.is_none() {
            return Err(Error::NotFound { kind: "repository", name: name.into() });
        }
        let digests: Vec<String> =
            sqlx::query_scalar("SELECT digest FROM registry_repository_blobs WHERE repository = $1")
                .bind(name)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("list repository blobs"))?;
        // Every blob lock, in one order (by key), so two deletions cannot deadlock.
        sqlx::query(
            "SELECT pg_advisory_xact_lock(k) FROM
             (SELECT DISTINCT hashtextextended('registry-blob:' || d, 0) AS k FROM unnest($1::TEXT[]) AS d ORDER BY k) l",
        )
        .bind(&digests)
        .execute(&mut *tx)
        .await
        .map_err(db("lock blobs"))?;
        sqlx::query("DELETE FROM registry_repositories WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("delete repository"))?;
        let orphans: Vec<String> = sqlx::query_scalar(
            "DELETE FROM registry_blobs b WHERE b.digest = ANY($1)
             AND NOT EXISTS (SELECT 1 FROM registry_repository_blobs l WHERE l.digest = b.digest)
             RETURNING b.digest",
        )
        .bind(&digests)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("delete orphaned blobs"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(orphans)
    }

    pub async fn link_blob(&self, repository: &str, digest: &str, size: i64, now: DateTime<Utc>) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        lock_blob(&mut tx, digest).await?;
        ensure_repository(&mut tx, repository, to_millis(now)).await?;
        sqlx::query(
            "INSERT INTO registry_blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest)
        .bind(size)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db("insert blob"))?;
        sqlx::query(
            "INSERT INTO registry_repository_blobs (repository, digest, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (repository, digest) DO NOTHING",
        )
        .bind(repository)
        .bind(digest)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(repository_gone(repository, "link blob"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn repository_blob(&self, repository: &str, digest: &str) -> Result<Option<i64>, Error> {
        sqlx::query_scalar(
            "SELECT b.size FROM registry_repository_blobs l JOIN registry_blobs b ON b.digest = l.digest
             WHERE l.repository = $1 AND l.digest = $2",
        )
        .bind(repository)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("get repository blob"))
    }

    pub async fn blob(&self, digest: &str) -> Result<Option<i64>, Error> {
        sqlx::query_scalar("SELECT size FROM registry_blobs WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get blob"))
    }

    pub async fn unlink_blob(&self, repository: &str, digest: &str) -> Result<(bool, bool), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        lock_blob(&mut tx, digest).await?;
        let unlinked = sqlx::query("DELETE FROM registry_repository_blobs WHERE repository = $1 AND digest = $2")
            .bind(repository)
            .bind(digest)
            .execute(&mut *tx)
            .await
            .map_err(db("unlink blob"))?
            .rows_affected()
            > 0;
        let orphaned = sqlx::query(
            "DELETE FROM registry_blobs WHERE digest = $1
             AND NOT EXISTS (SELECT 1 FROM registry_repository_blobs WHERE digest = $1)",
        )
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
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        let now = to_millis(manifest.created_at);
        ensure_repository(&mut tx, &manifest.repository, now).await?;
        // Tag writes of one repository take turns on its row, so two pushes of one tag
        // cannot both see it unset: an immutable tag is set once, and `previous` is right.
        let immutable: Option<bool> =
            sqlx::query_scalar("SELECT immutable_tags FROM registry_repositories WHERE name = $1 FOR NO KEY UPDATE")
                .bind(&manifest.repository)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("lock repository"))?;
        let Some(immutable) = immutable else {
            // Deleted between the two statements.
            return Err(Error::NotFound { kind: "repository", name: manifest.repository.clone() });
        };
        sqlx::query(
            "INSERT INTO registry_manifests
             (repository, digest, media_type, content, subject, artifact_type, annotations, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (repository, digest) DO NOTHING",
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
            previous = sqlx::query_scalar("SELECT digest FROM registry_tags WHERE repository = $1 AND tag = $2")
                .bind(&manifest.repository)
                .bind(tag)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("get tag"))?;
            if immutable && previous.as_ref().is_some_and(|digest| digest != &manifest.digest) {
                return Err(Error::InUse {
                    kind: "tag",
                    name: format!("{}:{tag}", manifest.repository),
                    reason: "the repository's tags are immutable".into(),
                });
            }
            sqlx::query(
                "INSERT INTO registry_tags (repository, tag, digest, updated_at) VALUES ($1, $2, $3, $4)
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
        let row = sqlx::query("SELECT * FROM registry_manifests WHERE repository = $1 AND digest = $2")
            .bind(repository)
            .bind(digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get manifest"))?;
        Ok(row.as_ref().map(manifest_from))
    }

    pub async fn list_manifests(&self, repository: &str) -> Result<Vec<ManifestRecord>, Error> {
        let rows =
            sqlx::query("SELECT * FROM registry_manifests WHERE repository = $1 ORDER BY created_at DESC, digest")
                .bind(repository)
                .fetch_all(&self.pool)
                .await
                .map_err(db("list manifests"))?;
        Ok(rows.iter().map(manifest_from).collect())
    }

    pub async fn resolve_tag(&self, repository: &str, tag: &str) -> Result<Option<String>, Error> {
        sqlx::query_scalar("SELECT digest FROM registry_tags WHERE repository = $1 AND tag = $2")
            .bind(repository)
            .bind(tag)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("resolve tag"))
    }

    pub async fn list_tags(&self, repository: &str, last: Option<&str>, limit: i64) -> Result<Vec<TagRecord>, Error> {
        let rows = sqlx::query(
            "SELECT t.repository, t.tag, t.digest, t.updated_at, m.media_type, octet_length(m.content)::BIGINT AS size
             FROM registry_tags t JOIN registry_manifests m ON m.repository = t.repository AND m.digest = t.digest
             WHERE t.repository = $1 AND t.tag > $2 ORDER BY t.tag LIMIT $3",
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
        sqlx::query_scalar("DELETE FROM registry_tags WHERE repository = $1 AND tag = $2 RETURNING digest")
            .bind(repository)
            .bind(tag)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("delete tag"))
    }

    pub async fn delete_manifest(&self, repository: &str, digest: &str) -> Result<Option<Vec<String>>, Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // Takes turns with put_manifest, so no tag is added to the manifest meanwhile.
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM registry_repositories WHERE name = $1 FOR NO KEY UPDATE")
                .bind(repository)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("lock repository"))?;
        if found.is_none() {
            return Ok(None);
        }
        let mut tags: Vec<String> =
            sqlx::query_scalar("DELETE FROM registry_tags WHERE repository = $1 AND digest = $2 RETURNING tag")
                .bind(repository)
                .bind(digest)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("delete tags"))?;
        let deleted = sqlx::query("DELETE FROM registry_manifests WHERE repository = $1 AND digest = $2")
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
            "SELECT * FROM registry_manifests WHERE repository = $1 AND subject = $2 ORDER BY created_at, digest",
        )
        .bind(repository)
        .bind(digest)
        .fetch_all(&self.pool)
        .await
        .map_err(db("list referrers"))?;
        Ok(rows.iter().map(manifest_from).collect())
    }

    pub async fn create_upload(&self, id: &str, repository: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        ensure_repository(&mut tx, repository, to_millis(now)).await?;
        sqlx::query("INSERT INTO registry_uploads (id, repository, created_at, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(repository)
            .bind(to_millis(now))
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                    Error::NotFound { kind: "repository", name: repository.into() }
                }
                _ => Error::on_insert("upload", id)(e),
            })?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(())
    }

    pub async fn upload_repository(&self, id: &str) -> Result<Option<String>, Error> {
        sqlx::query_scalar("SELECT repository FROM registry_uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get upload"))
    }

    pub async fn touch_upload(&self, id: &str, now: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query("UPDATE registry_uploads SET updated_at = $1 WHERE id = $2")
            .bind(to_millis(now))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db("touch upload"))?;
        Ok(())
    }

    pub async fn delete_upload(&self, id: &str) -> Result<bool, Error> {
        let deleted = sqlx::query("DELETE FROM registry_uploads WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db("delete upload"))?;
        Ok(deleted.rows_affected() > 0)
    }

    pub async fn stale_uploads(&self, before: DateTime<Utc>) -> Result<Vec<String>, Error> {
        sqlx::query_scalar("SELECT id FROM registry_uploads WHERE updated_at < $1 ORDER BY updated_at")
            .bind(to_millis(before))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list stale uploads"))
    }

    pub async fn upload_ids(&self) -> Result<Vec<String>, Error> {
        sqlx::query_scalar("SELECT id FROM registry_uploads").fetch_all(&self.pool).await.map_err(db("list uploads"))
    }
}
