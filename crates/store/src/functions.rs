//! Functions and their invocation records.

use chrono::{DateTime, Utc};

use crate::{Error, Function, Invocation, Store};

/// An invocation to record.
#[derive(Debug, Clone)]
pub struct NewInvocation {
    pub function: String,
    pub event_id: Option<String>,
    pub started: DateTime<Utc>,
    pub duration_ms: i64,
    pub outcome: String,
    pub result: Option<String>,
    pub logs: String,
}

impl Store {
    delegate! {
        pub async fn create_function(&self, function: &Function) -> Result<(), Error>;
        /// Replaces a function's definition (its code or configuration), name and ARN kept.
        pub async fn update_function(&self, function: &Function) -> Result<(), Error>;
        pub async fn get_function(&self, name: &str) -> Result<Function, Error>;
        pub async fn list_functions(&self) -> Result<Vec<Function>, Error>;
        /// Deletes a function that no target refers to.
        pub async fn delete_function(&self, name: &str) -> Result<(), Error>;
        /// Records invocations, in one transaction (one fsync for many).
        pub async fn record_invocations(&self, invocations: &[NewInvocation]) -> Result<(), Error>;
        /// The most recent invocations of a function, newest last.
        pub async fn list_invocations(&self, function: &str, limit: i64) -> Result<Vec<Invocation>, Error>;
    }
}
