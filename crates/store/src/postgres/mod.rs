//! The PostgreSQL backend: several server replicas on one database.
//!
//! The same records as the SQLite backend, in PostgreSQL's own types
//! (`migrations-postgres`). It must never rely on a single writer: where SQLite's one
//! writer connection serialises work, these queries take row locks (`FOR UPDATE`, `SKIP
//! LOCKED`) or advisory locks instead.

mod archives;
mod audit;
mod builds;
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
mod rules;
mod sources;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::{db, Error};

/// The PostgreSQL backend; cheap to clone.
#[derive(Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
    /// The database's URL without its password, for messages.
    url: String,
    /// The connection holding the single-server lock, once taken; dropping the last
    /// clone of the store closes it, which releases the lock.
    server_lock: Arc<tokio::sync::Mutex<Option<sqlx::PgConnection>>>,
}

/// The advisory lock key of the single-server lock (`trainyard` in ASCII).
const SERVER_LOCK_KEY: i64 = 0x7472_6169_6e79_6172;

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
            .connect_with(options)
            .await
            .map_err(|e| Error::Unreachable { url: redact(url), source: e })?;
        let migrator = sqlx::migrate!("./migrations-postgres");
        refuse_newer_schema(&pool, &migrator, url).await?;
        migrator.run(&pool).await.map_err(|e| Error::Migration { message: e.to_string() })?;
        Ok(PgStore { pool, url: redact(url), server_lock: Arc::default() })
    }

    /// Takes the lock that lets one server at a time use the database. Invariant: until
    /// replicas share work (deliveries under leases, singletons under a leader), a second
    /// server on the same database would run every schedule and delivery twice, so it is
    /// refused. The lock is the session's: it ends with the connection, also on a crash.
    pub async fn lock_single_server(&self) -> Result<(), Error> {
        let mut held = self.server_lock.lock().await;
        if held.is_some() {
            return Ok(());
        }
        let mut connection = self.pool.acquire().await.map_err(db("server lock"))?.detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(SERVER_LOCK_KEY)
            .fetch_one(&mut connection)
            .await
            .map_err(db("server lock"))?;
        if !taken {
            return Err(Error::InUse {
                kind: "database",
                name: self.url.clone(),
                reason: "another trainyard server uses it (several servers on one database are not supported yet)"
                    .into(),
            });
        }
        *held = Some(connection);
        Ok(())
    }

    pub async fn close(&self) {
        if let Some(connection) = self.server_lock.lock().await.take() {
            let _ = sqlx::Connection::close(connection).await;
        }
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
