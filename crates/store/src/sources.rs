//! Followed git branches, their pushes (an outbox) and webhook deliveries.
//!
//! Invariant: a source's `head` moves only by compare-and-set together with the push that
//! moved it, in one transaction; so a commit is recorded in exactly one push, however
//! polls and webhooks interleave. (An update to a new url or branch sets it outright: the
//! new branch is followed from its head, as a new source is.)

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::row::Columns;
use crate::{from_millis, Error, Store};

#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    pub name: String,
    pub url: String,
    pub branch: String,
    pub poll_seconds: Option<i64>,
    pub webhook_secret: Option<String>,
    pub head: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A push waiting to be announced.
#[derive(Debug, Clone, PartialEq)]
pub struct PushRecord {
    pub id: i64,
    pub source: String,
    pub after: String,
    pub detail: Value,
    pub created_at: DateTime<Utc>,
}

impl Store {
    delegate! {
        pub async fn create_source(&self, source: &SourceRecord) -> Result<(), Error>;
        /// Writes a source's url, branch, poll interval and webhook secret; `new_head` when
        /// a new url or branch is followed from its current head.
        pub async fn update_source(&self, source: &SourceRecord, new_head: Option<&str>) -> Result<(), Error>;
        pub async fn get_source(&self, name: &str) -> Result<SourceRecord, Error>;
        pub async fn list_sources(&self) -> Result<Vec<SourceRecord>, Error>;
        pub async fn delete_source(&self, name: &str) -> Result<(), Error>;
        /// Moves the source's head from `before` to `after` and records the push, in one
        /// transaction. Returns false (and changes nothing) when the head was no longer
        /// `before`.
        pub async fn record_push(&self, source: &str, before: Option<&str>, after: &str, detail: &Value, now: DateTime<Utc>) -> Result<bool, Error>;
        /// Pushes recorded but not yet announced, oldest first.
        pub async fn unannounced_pushes(&self) -> Result<Vec<PushRecord>, Error>;
        pub async fn mark_push_announced(&self, id: i64) -> Result<(), Error>;
        /// Forgets a delivery that could not be acted on, so GitHub's redelivery is.
        pub async fn forget_delivery(&self, delivery: &str) -> Result<(), Error>;
        /// Records a webhook delivery id; false when it was already seen.
        pub async fn record_delivery(&self, delivery: &str, now: DateTime<Utc>) -> Result<bool, Error>;
    }
}

pub(crate) fn source_from(row: &impl Columns) -> SourceRecord {
    SourceRecord {
        name: row.get("name"),
        url: row.get("url"),
        branch: row.get("branch"),
        poll_seconds: row.get("poll_seconds"),
        webhook_secret: row.get("webhook_secret"),
        head: row.get("head"),
        created_at: from_millis(row.get("created_at")),
        updated_at: from_millis(row.get("updated_at")),
    }
}

pub(crate) fn push_from(row: &impl Columns) -> PushRecord {
    PushRecord {
        id: row.get("id"),
        source: row.get("source"),
        after: row.get("after"),
        detail: serde_json::from_str(row.get::<&str>("detail")).unwrap_or(Value::Null),
        created_at: from_millis(row.get("created_at")),
    }
}
