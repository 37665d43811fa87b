//! Events, their deliveries, delivery attempts and dead letters.

use chrono::{DateTime, Utc};

use crate::{AfterAttempt, Attempt, Claimed, DeadLetter, Delivery, Error, EventFilter, NewEvent, Store, StoredEvent};

impl Store {
    delegate! {
        /// Persists events with their deliveries and archive copies in one transaction:
        /// when this returns, every event is durable and every delivery is recorded.
        pub async fn put_events(&self, events: &[NewEvent]) -> Result<(), Error>;
        pub async fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, Error>;
        pub async fn get_event(&self, id: &str) -> Result<StoredEvent, Error>;
        /// The deliveries of one event, each with its attempts.
        pub async fn deliveries_of(&self, event_id: &str) -> Result<Vec<(Delivery, Vec<Attempt>)>, Error>;
        /// Returns every delivery left `in_progress` by a previous process to `pending`.
        /// Called once at start-up, before any worker claims.
        pub async fn release_in_progress(&self) -> Result<u64, Error>;
        /// Claims up to `limit` due deliveries for one attempt each, leasing them until
        /// `lease_until` (a lease that runs out makes the delivery claimable again).
        pub async fn claim_due(&self, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64) -> Result<Vec<Claimed>, Error>;
        /// Records attempts and moves their deliveries on, all in one transaction.
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
