//! Archives of events and replays from them.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{Archive, Error, Replay, Store};

impl Store {
    delegate! {
        pub async fn create_archive(&self, archive: &Archive) -> Result<(), Error>;
        pub async fn list_archives(&self) -> Result<Vec<Archive>, Error>;
        pub async fn get_archive(&self, name: &str) -> Result<Archive, Error>;
        pub async fn delete_archive(&self, name: &str) -> Result<(), Error>;
        /// Drops archived events older than each archive's retention (0 = forever).
        pub async fn expire_archived(&self, now: DateTime<Utc>) -> Result<u64, Error>;
        /// Archived events of `archive` with `from <= time < to`, oldest first, after
        /// the event id `after` (for batching), at most `limit`.
        pub async fn archived_events(&self, archive: &str, from: DateTime<Utc>, to: DateTime<Utc>, after: Option<(i64, &str)>, limit: i64) -> Result<Vec<(i64, String, Value)>, Error>;
        pub async fn create_replay(&self, replay: &Replay) -> Result<(), Error>;
        pub async fn update_replay(&self, name: &str, state: &str, reason: &str, replayed: i64, ended: Option<DateTime<Utc>>) -> Result<(), Error>;
        pub async fn get_replay(&self, name: &str) -> Result<Replay, Error>;
        pub async fn list_replays(&self) -> Result<Vec<Replay>, Error>;
    }
}
