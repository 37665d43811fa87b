//! Buses, rules and targets.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use trainyard_events::{InputShape, RetryPolicy};

use crate::row::Columns;
use crate::{from_millis, Bus, Destination, Error, Rule, Store, Target};

impl Store {
    delegate! {
        pub async fn create_bus(&self, bus: &Bus) -> Result<(), Error>;
        /// Creates the bus unless it exists (used for `default` at start-up).
        pub async fn ensure_bus(&self, bus: &Bus) -> Result<(), Error>;
        pub async fn list_buses(&self) -> Result<Vec<Bus>, Error>;
        pub async fn get_bus(&self, name: &str) -> Result<Bus, Error>;
        pub async fn delete_bus(&self, name: &str) -> Result<(), Error>;
        pub async fn create_rule(&self, rule: &Rule) -> Result<(), Error>;
        /// Writes a rule's pattern or schedule, state, description and next firing.
        pub async fn update_rule(&self, rule: &Rule, now: DateTime<Utc>) -> Result<(), Error>;
        pub async fn get_rule(&self, bus: &str, name: &str) -> Result<Rule, Error>;
        /// Rules of one bus, or of every bus.
        pub async fn list_rules(&self, bus: Option<&str>) -> Result<Vec<Rule>, Error>;
        pub async fn set_rule_state(&self, bus: &str, name: &str, state: &str, now: DateTime<Utc>) -> Result<(), Error>;
        pub async fn set_next_fire(&self, bus: &str, name: &str, next: Option<DateTime<Utc>>) -> Result<(), Error>;
        /// Moves a schedule's next firing from `due` to `next` unless it has moved already
        /// (another replica fired it): true when this call moved it.
        pub async fn advance_schedule(&self, bus: &str, name: &str, due: DateTime<Utc>, next: Option<DateTime<Utc>>) -> Result<bool, Error>;
        /// Deletes a rule; like EventBridge, a rule with targets cannot be deleted.
        pub async fn delete_rule(&self, bus: &str, name: &str) -> Result<(), Error>;
        /// Adds or replaces a target; at most `limit` targets per rule.
        pub async fn put_target(&self, target: &Target, limit: usize, now: DateTime<Utc>) -> Result<(), Error>;
        pub async fn list_targets(&self, bus: &str, rule: &str) -> Result<Vec<Target>, Error>;
        /// Every target of every rule (to build the router's cache).
        pub async fn all_targets(&self) -> Result<Vec<Target>, Error>;
        pub async fn remove_target(&self, bus: &str, rule: &str, id: &str) -> Result<(), Error>;
    }
}

/// The columns `rule_from` reads.
pub(crate) const RULE_COLUMNS: &str =
    "bus, name, arn, event_pattern, schedule, state, description, next_fire_at, created_at";

pub(crate) fn rule_from(row: &impl Columns) -> Rule {
    Rule {
        event_bus_name: row.get("bus"),
        name: row.get("name"),
        arn: row.get("arn"),
        event_pattern: row.get("event_pattern"),
        schedule_expression: row.get("schedule"),
        state: row.get("state"),
        description: row.get("description"),
        next_fire_time: row.get::<Option<i64>>("next_fire_at").map(from_millis),
        creation_time: from_millis(row.get("created_at")),
    }
}

/// A target's destination as its `kind`, `address` and `http_headers` columns (what
/// `target_from` reads back).
pub(crate) fn destination_columns(destination: &Destination) -> (&'static str, String, String) {
    match destination {
        Destination::Function { name } => ("function", name.clone(), "{}".to_string()),
        Destination::Http { url, headers } => ("http", url.clone(), serde_json::to_string(headers).unwrap_or_default()),
    }
}

pub(crate) fn target_from(row: &impl Columns) -> Result<Target, Error> {
    let corrupt = |message: String| Error::Corrupt { context: "target".into(), message };
    let kind: String = row.get("kind");
    let address: String = row.get("address");
    let headers: BTreeMap<String, String> =
        serde_json::from_str(row.get("http_headers")).map_err(|e| corrupt(e.to_string()))?;
    let destination = match kind.as_str() {
        "function" => Destination::Function { name: address },
        _ => Destination::Http { url: address, headers },
    };
    Ok(Target {
        id: row.get("id"),
        rule: row.get("rule"),
        event_bus_name: row.get("bus"),
        destination,
        input: serde_json::from_str::<InputShape>(row.get("input_shape")).map_err(|e| corrupt(e.to_string()))?,
        retry_policy: RetryPolicy {
            maximum_retry_attempts: u32::try_from(row.get::<i64>("max_attempts")).unwrap_or(u32::MAX),
            maximum_event_age_in_seconds: u32::try_from(row.get::<i64>("max_age_secs")).unwrap_or(u32::MAX),
        },
    })
}

pub(crate) fn bus_from(row: &impl Columns) -> Bus {
    Bus { name: row.get("name"), arn: row.get("arn"), creation_time: from_millis(row.get("created_at")) }
}
