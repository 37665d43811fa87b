//! builds: the SQLite queries.

use super::SqliteStore;
use crate::builds::*;
use crate::{db, to_millis, Error};

impl SqliteStore {
    pub async fn unbuilt_pushes(&self) -> Result<Vec<UnbuiltPush>, Error> {
        let rows = sqlx::query(
            "SELECT p.id, p.source, p.after, s.url, s.branch FROM source_pushes p JOIN sources s ON s.name = p.source
             WHERE p.emitted = 1 AND NOT EXISTS (SELECT 1 FROM builds b WHERE b.push_id = p.id) ORDER BY p.id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("unbuilt pushes"))?;
        Ok(rows.iter().map(unbuilt_push_from).collect())
    }

    pub async fn create_build(&self, build: &BuildRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO builds (id, push_id, source, branch, commit_id, status, reason, repository, image_digest,
                                 tags, started_at, ended_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&build.id)
        .bind(build.push_id)
        .bind(&build.source)
        .bind(&build.branch)
        .bind(&build.commit)
        .bind(&build.status)
        .bind(&build.reason)
        .bind(&build.repository)
        .bind(&build.image_digest)
        .bind(serde_json::to_string(&build.tags).unwrap_or_else(|_| "[]".into()))
        .bind(to_millis(build.started_at))
        .bind(build.ended_at.map(to_millis))
        .execute(&self.writer)
        .await
        .map_err(Error::on_insert("build", &build.id))?;
        Ok(())
    }

    pub async fn finish_build(&self, build: &BuildRecord) -> Result<(), Error> {
        sqlx::query(
            "UPDATE builds SET status = ?, reason = ?, repository = ?, image_digest = ?, tags = ?, ended_at = ?
             WHERE id = ?",
        )
        .bind(&build.status)
        .bind(&build.reason)
        .bind(&build.repository)
        .bind(&build.image_digest)
        .bind(serde_json::to_string(&build.tags).unwrap_or_else(|_| "[]".into()))
        .bind(build.ended_at.map(to_millis))
        .bind(&build.id)
        .execute(&self.writer)
        .await
        .map_err(db("finish build"))?;
        Ok(())
    }

    pub async fn get_build(&self, id: &str) -> Result<BuildRecord, Error> {
        let row = sqlx::query("SELECT * FROM builds WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get build"))?;
        row.as_ref().map(build_from).ok_or_else(|| Error::NotFound { kind: "build", name: id.into() })
    }

    pub async fn list_builds(
        &self,
        source: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<BuildRecord>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM builds WHERE (? IS NULL OR source = ?) AND (? IS NULL OR status = ?)
             ORDER BY started_at DESC, id DESC LIMIT ?",
        )
        .bind(source)
        .bind(source)
        .bind(status)
        .bind(status)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db("list builds"))?;
        Ok(rows.iter().map(build_from).collect())
    }
}
