//! builds: the PostgreSQL queries.

use super::PgStore;
use crate::builds::*;
use crate::{db, to_millis, Error};

impl PgStore {
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
        .execute(&self.pool)
        .await
        .map_err(Error::on_insert("build", &build.id))?;
        Ok(())
    }

    pub async fn finish_build(&self, build: &BuildRecord) -> Result<(), Error> {
        sqlx::query(
            "UPDATE builds SET status = $1, reason = $2, repository = $3, image_digest = $4, tags = $5, ended_at = $6
             WHERE id = $7",
        )
        .bind(&build.status)
        .bind(&build.reason)
        .bind(&build.repository)
        .bind(&build.image_digest)
        .bind(serde_json::to_string(&build.tags).unwrap_or_else(|_| "[]".into()))
        .bind(build.ended_at.map(to_millis))
        .bind(&build.id)
        .execute(&self.pool)
        .await
        .map_err(db("finish build"))?;
        Ok(())
    }

    pub async fn get_build(&self, id: &str) -> Result<BuildRecord, Error> {
        let row = sqlx::query("SELECT * FROM builds WHERE id = $1")
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
            "SELECT * FROM builds WHERE ($1::TEXT IS NULL OR source = $1) AND ($2::TEXT IS NULL OR status = $2)
             ORDER BY started_at DESC, id COLLATE \"C\" DESC LIMIT $3",
        )
        .bind(source)
        .bind(status)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db("list builds"))?;
        Ok(rows.iter().map(build_from).collect())
    }
}
