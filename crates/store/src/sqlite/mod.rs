//! The SQLite backend: the embedded default, one file beside the data.

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
mod replicas;
mod rules;
mod sources;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::Error;

/// The SQLite backend: one database file in WAL mode; cheap to clone.
#[derive(Clone)]
pub(crate) struct SqliteStore {
    /// Readers: many connections, concurrent with the writer under WAL.
    pool: SqlitePool,
    /// The one writer connection. Invariant: every write goes through it, so writers
    /// queue in process (fairly) instead of spinning on SQLITE_BUSY.
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs the migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore, Error> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| Error::Database { context: "connect options".into(), source: e })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Invariant: FULL syncs the WAL on every commit, so an acknowledged write
            // survives a process crash (kill -9) and an OS crash or power loss alike.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let open_error = |e| Error::Database { context: format!("open {}", path.display()), source: e };
        let writer =
            SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await.map_err(open_error)?;
        let migrator = sqlx::migrate!("./migrations");
        refuse_newer_schema(&writer, &migrator, path).await?;
        migrator.run(&writer).await.map_err(|e| Error::Migration { message: e.to_string() })?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.create_if_missing(false))
            .await
            .map_err(open_error)?;
        Ok(SqliteStore { pool, writer })
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Invariant: a database migrated by a newer trainyard is never opened (nor changed) by an
/// older one, which would not know what the newer schema means.
async fn refuse_newer_schema(
    writer: &SqlitePool,
    migrator: &sqlx::migrate::Migrator,
    path: &Path,
) -> Result<(), Error> {
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    // (A new database has no migrations table yet: nothing applied.)
    let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(writer)
        .await
        .ok()
        .flatten();
    match applied {
        Some(found) if found > known => Err(Error::NewerSchema { path: path.display().to_string(), found, known }),
        _ => Ok(()),
    }
}
