//! The records the store keeps, serialised with the AWS API's field names.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trainyard_events::{Event, InputShape, RetryPolicy};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Bus {
    pub name: String,
    pub arn: String,
    pub creation_time: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    pub name: String,
    pub arn: String,
    pub event_bus_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_fire_time: Option<DateTime<Utc>>,
    pub creation_time: DateTime<Utc>,
}

impl Rule {
    pub fn is_enabled(&self) -> bool {
        self.state == "ENABLED"
    }
}

/// Where a target delivers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "Type")]
pub enum Destination {
    /// A function, by name.
    Function {
        #[serde(rename = "FunctionName")]
        name: String,
    },
    /// An HTTP endpoint that receives a POST of the input.
    Http {
        #[serde(rename = "Url")]
        url: String,
        #[serde(rename = "HeaderParameters")]
        headers: BTreeMap<String, String>,
    },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub id: String,
    pub rule: String,
    pub event_bus_name: String,
    pub destination: Destination,
    #[serde(flatten)]
    pub input: InputShape,
    pub retry_policy: RetryPolicy,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Function {
    pub function_name: String,
    pub function_arn: String,
    pub command: String,
    pub environment: BTreeMap<String, String>,
    pub timeout: u32,
    pub description: String,
    pub creation_time: DateTime<Utc>,
    /// The role the function runs as (an ARN): each invocation gets a session of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A Lambda function's handler and code (none for a command function).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda: Option<LambdaConfig>,
}

/// What makes a function a Lambda function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LambdaConfig {
    /// `python3.X` or `provided`.
    pub runtime: String,
    /// `module.function`.
    pub handler: String,
    /// The code's SHA-256 (base64), its version.
    pub code_sha256: String,
    pub code_size: i64,
    /// The directory the code is unpacked in (under the data dir's `functions/code/`).
    pub code_dir: String,
    pub memory_size: u32,
    /// At most this many invocations at once (Lambda's reserved concurrency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<u32>,
    pub last_modified: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Invocation {
    pub id: i64,
    pub function_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub start_time: DateTime<Utc>,
    pub duration_ms: i64,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    pub logs: String,
}

/// An event as stored: the envelope plus where and when it arrived.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub bus: String,
    pub ingested_at: DateTime<Utc>,
    /// The rules whose patterns matched when the event was put.
    pub matched_rules: Vec<String>,
    pub event: Value,
}

/// A new event with its fan-out decided by the caller.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event: Event,
    pub bus: String,
    pub ingested_at: DateTime<Utc>,
    /// The rules that matched (with or without targets).
    pub matched_rules: Vec<String>,
    /// (rule, target id) pairs that receive the event.
    pub deliveries: Vec<(String, String)>,
    /// Archives that keep the event.
    pub archives: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Delivery {
    pub id: i64,
    pub event_id: String,
    pub event_bus_name: String,
    pub rule: String,
    pub target_id: String,
    /// `pending`, `in_progress`, `succeeded` or `dead`.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_time: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_attempt_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_time: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub age_from: DateTime<Utc>,
}

/// A delivery claimed for one attempt, with the event it carries.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: Delivery,
    pub event: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attempt {
    pub attempt: i64,
    pub start_time: DateTime<Utc>,
    pub duration_ms: i64,
    /// `succeeded`, `retriable` or `fatal`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone)]
pub enum AfterAttempt {
    Succeeded,
    RetryAt(DateTime<Utc>),
    Dead { error_code: String, error_message: String },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetter {
    pub id: i64,
    pub delivery_id: i64,
    pub event_id: String,
    pub event_bus_name: String,
    pub rule: String,
    pub target_id: String,
    pub error_code: String,
    pub error_message: String,
    pub attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_attempt_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_time: Option<DateTime<Utc>>,
    pub creation_time: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Archive {
    pub archive_name: String,
    pub archive_arn: String,
    pub event_source_arn: String,
    pub event_bus_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<String>,
    pub retention_days: i64,
    pub description: String,
    pub event_count: i64,
    pub creation_time: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Replay {
    pub replay_name: String,
    pub replay_arn: String,
    pub archive_name: String,
    pub event_bus_name: String,
    pub event_start_time: DateTime<Utc>,
    pub event_end_time: DateTime<Utc>,
    /// `STARTING`, `RUNNING`, `COMPLETED` or `FAILED`.
    pub state: String,
    pub state_reason: String,
    pub events_replayed: i64,
    pub replay_start_time: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_end_time: Option<DateTime<Utc>>,
}

/// Filters for listing events.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub bus: Option<String>,
    pub source: Option<String>,
    pub detail_type: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Only events stored after this sequence number, oldest first (for tailing).
    pub after_seq: Option<i64>,
    pub limit: i64,
}
