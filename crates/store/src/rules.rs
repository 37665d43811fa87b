//! Buses, rules and targets.

use chrono::{DateTime, Utc};

use crate::{Bus, Error, Rule, Store, Target};

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
