//! The metadata store of trainyard: every resource and every event, delivery and
//! dead letter, in SQLite (WAL) through `sqlx`, with embedded migrations.
//!
//! The store keeps records and enforces uniqueness and atomicity; it never decides
//! policy (what matches, when to retry): callers hand it decisions to persist. It must
//! never hold a transaction open across I/O that is not the database's own.

mod archives;
mod error;
mod events;
mod functions;
mod records;
mod rules;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use error::Error;
pub use records::*;

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database file and runs the migrations.
    pub async fn open(path: &Path) -> Result<Store, Error> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| Error::Database { context: "connect options".into(), source: e })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Invariant: with WAL, NORMAL survives process crashes (kill -9) without losing
            // committed transactions; only an OS crash may lose the last ones.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| Error::Database { context: format!("open {}", path.display()), source: e })?;
        sqlx::migrate!("./migrations").run(&pool).await.map_err(|e| Error::Migration { message: e.to_string() })?;
        Ok(Store { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
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
