//! Events, their deliveries, delivery attempts and dead letters.

use chrono::{DateTime, Utc};

use crate::row::Columns;
use crate::{
    from_millis, AfterAttempt, Attempt, Claimed, DeadLetter, Delivery, Error, EventFilter, NewEvent, Store, StoredEvent,
};

impl Store {
    delegate! {
        /// Persists events with their deliveries and archive copies in one transaction:
        /// when this returns, every event is durable and every delivery is recorded.
        pub async fn put_events(&self, events: &[NewEvent]) -> Result<(), Error>;
        pub async fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, Error>;
        pub async fn get_event(&self, id: &str) -> Result<StoredEvent, Error>;
        /// The deliveries of one event, each with its attempts.
        pub async fn deliveries_of(&self, event_id: &str) -> Result<Vec<(Delivery, Vec<Attempt>)>, Error>;
        /// Claims up to `limit` due deliveries for one attempt each for replica `claimer`,
        /// leasing them until `lease_until` (a lease that runs out, or a claimer that
        /// departs, makes the delivery claimable again).
        pub async fn claim_due(&self, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64, claimer: &str) -> Result<Vec<Claimed>, Error>;
        /// Records attempts and moves their deliveries on, all in one transaction.
        /// Invariant: an attempt moves its delivery only while the claim it ran under
        /// holds (still in progress, no later claim); a stale one is recorded in the
        /// history and changes nothing else.
        pub async fn finish_attempts(&self, finished: &[(Delivery, Attempt, AfterAttempt)]) -> Result<(), Error>;
        /// Counts deliveries by state (for health and tests).
        pub async fn delivery_counts(&self) -> Result<Vec<(String, i64)>, Error>;
        /// The earliest time a pending delivery becomes due, if any.
        pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, Error>;
        pub async fn list_dead_letters(&self, limit: i64) -> Result<Vec<DeadLetter>, Error>;
        /// Sends dead letters back for delivery: `ids` or, when `None`, all of them.
        /// Attempts and event age start again; the attempt history stays.
        pub async fn redrive(&self, ids: Option<&[i64]>, now: DateTime<Utc>) -> Result<u64, Error>;
        /// Deletes events ingested before `before` whose deliveries are all final.
        pub async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, Error>;
    }
}

/// The columns of `deliveries d` that `delivery_from` reads.
pub(crate) const DELIVERY_COLUMNS: &str = "d.id, d.event_id, d.bus, d.rule, d.target_id, d.state, d.attempts, \
     d.next_attempt_at, d.first_attempt_at, d.last_attempt_at, d.age_from";

pub(crate) fn delivery_from(row: &impl Columns) -> Delivery {
    Delivery {
        id: row.get("id"),
        event_id: row.get("event_id"),
        event_bus_name: row.get("bus"),
        rule: row.get("rule"),
        target_id: row.get("target_id"),
        state: row.get("state"),
        attempts: row.get("attempts"),
        next_attempt_time: from_millis(row.get("next_attempt_at")),
        first_attempt_time: row.get::<Option<i64>>("first_attempt_at").map(from_millis),
        last_attempt_time: row.get::<Option<i64>>("last_attempt_at").map(from_millis),
        age_from: from_millis(row.get("age_from")),
    }
}

pub(crate) fn attempt_from(row: &impl Columns) -> Attempt {
    Attempt {
        attempt: row.get("attempt"),
        start_time: from_millis(row.get("started_at")),
        duration_ms: row.get("duration_ms"),
        outcome: row.get("outcome"),
        error_code: row.get("error_code"),
        message: row.get("message"),
    }
}

pub(crate) fn event_from(row: &impl Columns) -> Result<StoredEvent, Error> {
    Ok(StoredEvent {
        seq: row.get("seq"),
        bus: row.get("bus"),
        ingested_at: from_millis(row.get("ingested_at")),
        matched_rules: serde_json::from_str(row.get("matched_rules")).unwrap_or_default(),
        event: serde_json::from_str(row.get("body"))
            .map_err(|e| Error::Corrupt { context: "event body".into(), message: e.to_string() })?,
    })
}

/// A dead letter joined with its delivery (`DELIVERY_COLUMNS`).
pub(crate) fn dead_letter_from(row: &impl Columns) -> DeadLetter {
    let d = delivery_from(row);
    DeadLetter {
        id: row.get("letter_id"),
        delivery_id: d.id,
        event_id: d.event_id,
        event_bus_name: d.event_bus_name,
        rule: d.rule,
        target_id: d.target_id,
        error_code: row.get("error_code"),
        error_message: row.get("error_message"),
        attempts: d.attempts,
        first_attempt_time: d.first_attempt_time,
        last_attempt_time: d.last_attempt_time,
        creation_time: from_millis(row.get("letter_created")),
    }
}
