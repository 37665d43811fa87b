//! The PostgreSQL backend: several server replicas on one database.
//!
//! The same records as the SQLite backend, in PostgreSQL's own types
//! (`migrations-postgres`). It must never rely on a single writer: where SQLite's one
//! writer connection serialises work, these queries take row locks (`FOR UPDATE`, `SKIP
//! LOCKED`) or advisory locks instead.

mod archives;
mod audit;
mod builds;
mod cluster;
mod definitions;
mod endpoints;
mod events;
mod functions;
mod iam;
mod jobs;
mod models;
mod multipart;
mod objects;
mod pipelines;
mod processing;
mod registry;
mod replicas;
mod rules;
mod sources;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::Error;

/// The PostgreSQL backend; cheap to clone.
#[derive(Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
    /// How to open connections of its own (the leader's, the listener's).
    options: PgConnectOptions,
    /// Tells this store's own change notices from other replicas'.
    instance: String,
    /// Other replicas' changes, once someone listens.
    changes: Arc<std::sync::OnceLock<tokio::sync::broadcast::Sender<crate::Change>>>,
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) and runs the migrations. Invariant: several
    /// replicas may start at once; sqlx's migrator holds an advisory lock while it runs,
    /// so each migration is applied once.
    pub async fn open(url: &str) -> Result<PgStore, Error> {
        let options: PgConnectOptions =
            url.parse().map_err(|e| Error::Database { context: format!("database URL {}", redact(url)), source: e })?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(|e| Error::Unreachable { url: redact(url), source: e })?;
        let migrator = sqlx::migrate!("./migrations-postgres");
        refuse_newer_schema(&pool, &migrator, url).await?;
        migrator.run(&pool).await.map_err(|e| Error::Migration { message: e.to_string() })?;
        Ok(PgStore { pool, options, instance: uuid::Uuid::new_v4().simple().to_string(), changes: Arc::default() })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Invariant: a database migrated by a newer trainyard is never changed by an older one.
async fn refuse_newer_schema(pool: &PgPool, migrator: &sqlx::migrate::Migrator, url: &str) -> Result<(), Error> {
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .ok()
        .flatten();
    match applied {
        Some(found) if found > known => Err(Error::NewerSchema { path: redact(url), found, known }),
        _ => Ok(()),
    }
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{}{user}{hidden}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(super::redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("postgres://h/db"), "postgres://h/db");
    }
}
