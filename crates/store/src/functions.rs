//! Functions and their invocation records.

use chrono::{DateTime, Utc};

use crate::row::Columns;
use crate::{from_millis, Error, Function, Invocation, Store};

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

/// The most log text kept per invocation; the tail is what matters.
pub(crate) const MAX_LOG_BYTES: usize = 64 * 1024;

/// Keeps the last `max` bytes of `text`, on a character boundary.
pub(crate) fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
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

pub(crate) fn function_from(row: &impl Columns) -> Result<Function, Error> {
    Ok(Function {
        function_name: row.get("name"),
        function_arn: row.get("arn"),
        command: row.get("command"),
        environment: serde_json::from_str(row.get("environment"))
            .map_err(|e| Error::Corrupt { context: "function environment".into(), message: e.to_string() })?,
        timeout: u32::try_from(row.get::<i64>("timeout_secs")).unwrap_or(u32::MAX),
        description: row.get("description"),
        creation_time: from_millis(row.get("created_at")),
        role: row.get("role"),
        lambda: row
            .get::<Option<String>>("lambda")
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| Error::Corrupt { context: "function lambda".into(), message: e.to_string() })?,
    })
}

pub(crate) fn invocation_from(row: &impl Columns) -> Invocation {
    Invocation {
        id: row.get("id"),
        function_name: row.get("function"),
        event_id: row.get("event_id"),
        start_time: from_millis(row.get("started_at")),
        duration_ms: row.get("duration_ms"),
        outcome: row.get("outcome"),
        result: row.get("result"),
        logs: row.get("logs"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(super::tail("hello", 10), "hello");
        assert_eq!(super::tail("hello", 3), "llo");
        assert_eq!(super::tail("aé", 1), "");
    }
}
