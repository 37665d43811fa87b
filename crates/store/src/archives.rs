//! Archives of events and replays from them.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::row::Columns;
use crate::{from_millis, Archive, Error, Replay, Store};

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

pub(crate) fn archive_from(row: &impl Columns) -> Archive {
    Archive {
        archive_name: row.get("name"),
        archive_arn: row.get("arn"),
        event_source_arn: row.get("bus_arn"),
        event_bus_name: row.get("bus"),
        event_pattern: row.get("event_pattern"),
        retention_days: row.get("retention_days"),
        description: row.get("description"),
        event_count: row.get("event_count"),
        creation_time: from_millis(row.get("created_at")),
    }
}

pub(crate) fn replay_from(row: &impl Columns) -> Replay {
    Replay {
        replay_name: row.get("name"),
        replay_arn: row.get("arn"),
        archive_name: row.get("archive"),
        event_bus_name: row.get("bus"),
        event_start_time: from_millis(row.get("start_time")),
        event_end_time: from_millis(row.get("end_time")),
        state: row.get("state"),
        state_reason: row.get("state_reason"),
        events_replayed: row.get("events_replayed"),
        replay_start_time: from_millis(row.get("started_at")),
        replay_end_time: row.get::<Option<i64>>("ended_at").map(from_millis),
    }
}

/// Archives with their bus's ARN and event count, as `archive_from` reads them.
pub(crate) const ARCHIVE_SELECT: &str = "SELECT a.*, b.arn AS bus_arn,
     (SELECT COUNT(*) FROM archived_events e WHERE e.archive = a.name) AS event_count
     FROM archives a JOIN buses b ON b.name = a.bus";

/// An archived event as (time, event id, body).
pub(crate) fn archived_event_from(row: &impl Columns) -> Result<(i64, String, Value), Error> {
    let body: String = row.get("body");
    let value = serde_json::from_str(&body)
        .map_err(|e| Error::Corrupt { context: "archived event".into(), message: e.to_string() })?;
    Ok((row.get("time"), row.get("event_id"), value))
}
