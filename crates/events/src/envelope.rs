//! The EventBridge event envelope and the validation of `PutEvents` entries.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// At most this many entries in one `PutEvents` call, as EventBridge.
pub const MAX_ENTRIES_PER_PUT: usize = 10;
/// At most this many bytes in one entry (EventBridge's 256 KiB).
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// One event, exactly in EventBridge's envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub version: String,
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    pub account: String,
    #[serde(with = "rfc3339_seconds")]
    pub time: DateTime<Utc>,
    pub region: String,
    pub resources: Vec<String>,
    pub detail: Value,
    #[serde(rename = "replay-name", default, skip_serializing_if = "Option::is_none")]
    pub replay_name: Option<String>,
}

impl Event {
    /// A fresh event with a new UUID v4 id.
    pub fn new(
        source: impl Into<String>,
        detail_type: impl Into<String>,
        detail: Value,
        resources: Vec<String>,
        time: DateTime<Utc>,
        account: &str,
        region: &str,
    ) -> Event {
        Event {
            version: "0".to_string(),
            id: uuid::Uuid::new_v4().to_string(),
            detail_type: detail_type.into(),
            source: source.into(),
            account: account.to_string(),
            time,
            region: region.to_string(),
            resources,
            detail,
            replay_name: None,
        }
    }

    /// The envelope as a JSON value (what patterns match and targets receive).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// One entry of a `PutEvents` request, in the AWS API's shape.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutEntry {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub detail_type: Option<String>,
    /// A JSON object, given as a string (AWS) or inline.
    #[serde(default)]
    pub detail: Option<Value>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub event_bus_name: Option<String>,
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
}

/// A validated entry: everything needed to build the [`Event`].
#[derive(Debug, Clone)]
pub struct ValidEntry {
    pub source: String,
    pub detail_type: String,
    pub detail: Value,
    pub resources: Vec<String>,
    pub bus: Option<String>,
    pub time: Option<DateTime<Utc>>,
}

/// Validates one entry as EventBridge does. `allow_reserved` is true only for the
/// platform itself, which may use `aws.` sources.
pub fn validate_put_entry(entry: &PutEntry, allow_reserved: bool) -> Result<ValidEntry, Error> {
    let invalid = |message: String| Error::InvalidEvent { message };
    let source =
        entry.source.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| invalid("Source is required".into()))?;
    let detail_type = entry
        .detail_type
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("DetailType is required".into()))?;
    let detail = match &entry.detail {
        None => return Err(invalid("Detail is required".into())),
        Some(Value::String(text)) => {
            serde_json::from_str::<Value>(text).map_err(|e| invalid(format!("Detail is not valid JSON: {e}")))?
        }
        Some(other) => other.clone(),
    };
    if !detail.is_object() {
        return Err(invalid("Detail must be a JSON object".into()));
    }
    if !allow_reserved && source.starts_with("aws.") {
        return Err(Error::ReservedSource { source_name: source.to_string() });
    }
    let size = 14
        + source.len()
        + detail_type.len()
        + detail.to_string().len()
        + entry.resources.iter().map(String::len).sum::<usize>();
    if size > MAX_ENTRY_BYTES {
        return Err(invalid(format!("entry is {size} bytes; the limit is {MAX_ENTRY_BYTES} bytes")));
    }
    Ok(ValidEntry {
        source: source.to_string(),
        detail_type: detail_type.to_string(),
        detail,
        resources: entry.resources.clone(),
        bus: entry.event_bus_name.clone(),
        time: entry.time,
    })
}

/// Serialises times as EventBridge does: `2026-11-27T05:26:24Z`.
mod rfc3339_seconds {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(detail: Value) -> PutEntry {
        PutEntry {
            source: Some("my.app".into()),
            detail_type: Some("Thing".into()),
            detail: Some(detail),
            ..Default::default()
        }
    }

    #[test]
    fn detail_may_be_a_string_or_an_object() {
        assert!(validate_put_entry(&entry(json!("{\"a\":1}")), false).is_ok());
        assert!(validate_put_entry(&entry(json!({"a": 1})), false).is_ok());
    }

    #[test]
    fn detail_must_be_an_object() {
        let err = validate_put_entry(&entry(json!("[1]")), false).unwrap_err();
        assert!(err.to_string().contains("JSON object"), "{err}");
        let err = validate_put_entry(&entry(json!("{nope")), false).unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }

    #[test]
    fn aws_sources_are_reserved_for_the_platform() {
        let mut e = entry(json!({}));
        e.source = Some("aws.s3".into());
        assert!(matches!(validate_put_entry(&e, false), Err(Error::ReservedSource { .. })));
        assert!(validate_put_entry(&e, true).is_ok());
    }

    #[test]
    fn oversized_entries_are_refused() {
        let big = "x".repeat(MAX_ENTRY_BYTES);
        let err = validate_put_entry(&entry(json!({ "big": big })), false).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }

    #[test]
    fn envelope_serialises_with_eventbridge_names() {
        let time = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z").unwrap().with_timezone(&Utc);
        let e = Event::new("s", "t", json!({}), vec![], time, "000000000000", "local");
        let v = e.to_value();
        assert_eq!(v["detail-type"], "t");
        assert_eq!(v["time"], "2026-01-02T03:04:05Z");
        assert_eq!(v["version"], "0");
        assert!(v.get("replay-name").is_none());
    }
}
