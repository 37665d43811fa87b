//! The metadata store of trainyard: every resource and every event, delivery and
//! dead letter, through `sqlx` on one of two backends, each with its own embedded
//! migrations: SQLite (WAL; the embedded default) or PostgreSQL (`--database`).
//!
//! The store keeps records and enforces uniqueness and atomicity; it never decides
//! policy (what matches, when to retry): callers hand it decisions to persist. It must
//! never hold a transaction open across I/O that is not the database's own, and its two
//! backends must never differ in what a method does (the conformance suite in `tests/it`
//! runs every test on both).

/// Declares `Store` methods that run the same-named method of the store's backend.
/// Invariant: every backend implements every method (a missing one fails to compile).
macro_rules! delegate {
    ($($(#[$meta:meta])* pub async fn $name:ident $(<$lt:lifetime>)? (&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;)*) => {
        $($(#[$meta])* pub async fn $name $(<$lt>)? (&self $(, $arg: $ty)*) -> $ret {
            match &self.backend {
                $crate::Backend::Sqlite(b) => b.$name($($arg),*).await,
                $crate::Backend::Postgres(b) => b.$name($($arg),*).await,
            }
        })*
    };
}

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
mod postgres;
mod processing;
mod records;
mod registry;
mod replicas;
mod row;
mod rules;
mod sources;
mod sqlite;

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};

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
pub use postgres::redact as redact_url;
pub use processing::ProcessingJobRecord;
pub use records::*;
pub use registry::{ManifestRecord, RepositoryRecord, TagRecord};
pub use replicas::{Change, Replica};
pub use sources::{PushRecord, SourceRecord};

/// A handle on the metadata store; cheap to clone. Each method runs on the backend the
/// store was opened on; the backends keep the same records with the same rules, which
/// the conformance suite (`tests/it`) checks against both.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens (creating if needed) the SQLite database file and runs the migrations.
    pub async fn open(path: &Path) -> Result<Store, Error> {
        Ok(Store { backend: Backend::Sqlite(sqlite::SqliteStore::open(path).await?) })
    }

    /// Connects to a PostgreSQL database (`postgres://…`) and runs its migrations.
    pub async fn open_postgres(url: &str) -> Result<Store, Error> {
        Ok(Store { backend: Backend::Postgres(postgres::PgStore::open(url).await?) })
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(b) => b.close().await,
            Backend::Postgres(b) => b.close().await,
        }
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
