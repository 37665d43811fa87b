//! The metadata store of trainyard: every resource and every event, delivery and
//! dead letter, in SQLite (WAL) through `sqlx`, with embedded migrations.
//!
//! The store keeps records and enforces uniqueness and atomicity; it never decides
//! policy (what matches, when to retry): callers hand it decisions to persist. It must
//! never hold a transaction open across I/O that is not the database's own.

mod archives;
mod audit;
mod builds;
mod definitions;
mod endpoints;
mod error;
mod events;
mod functions;
mod iam;
mod jobs;
mod models;
mod multipart;
mod objects;
mod pipelines;
mod processing;
mod records;
mod registry;
mod rules;
mod sources;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use audit::{AuditQuery, AuditRow, NewAuditRecord};
pub use builds::{BuildRecord, UnbuiltPush};
pub use definitions::DefinitionRecord;
pub use endpoints::EndpointRecord;
pub use error::Error;
pub use functions::NewInvocation;
pub use iam::{AccessKeyRecord, IamRecords, ManagedPolicyRecord, PrincipalRecord, SessionRecord};
pub use jobs::{JobPage, JobSort, MetricPoint, TrainingJobRecord};
pub use models::{ModelGroupRecord, ModelPackageRecord, NewModelPackage};
pub use multipart::{PartRecord, UploadRecord};
pub use objects::{Bucket, ObjectRecord};
pub use pipelines::{PipelineRecord, RetrainingWindow, RunRecord};
pub use processing::ProcessingJobRecord;
pub use records::*;
pub use registry::{ManifestRecord, RepositoryRecord, TagRecord};
pub use sources::{PushRecord, SourceRecord};

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// Readers: many connections, concurrent with the writer under WAL.
    pool: SqlitePool,
    /// The one writer connection. Invariant: every write goes through it, so writers
    /// queue in process (fairly) instead of spinning on SQLITE_BUSY.
    writer: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database file and runs the migrations.
    pub async fn open(path: &Path) -> Result<Store, Error> {
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
        Ok(Store { pool, writer })
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

/// Milliseconds since the epoch, as stored.
pub fn to_millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// A stored millisecond timestamp as a time.
pub fn from_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis).single().unwrap_or_default()
}

pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Error {
    let context = context.into();
    move |source| Error::Database { context, source }
}
