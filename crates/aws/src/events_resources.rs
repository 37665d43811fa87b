//! EventBridge beyond rules and events: event buses, archives and replays,
//! `ListRuleNamesByTarget` and `TestEventPattern`, onto the bus service. Times are epoch
//! seconds, as the json protocol writes timestamps.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use trainyard_bus::{ArchiveRequest, ReplayRequest};

use crate::events::{bus_error, bus_name, required, store_error};
use crate::protocol::AwsError;
use crate::Call;

fn arn(resource: &str) -> String {
    format!("arn:aws:events:{}:{}:{resource}", trainyard_identity::REGION, trainyard_identity::ACCOUNT)
}

fn seconds(time: DateTime<Utc>) -> f64 {
    time.timestamp_millis() as f64 / 1000.0
}

/// The name at the end of an ARN (`…:event-bus/NAME`, `…:archive/NAME`), or the name itself.
fn last(text: &str) -> &str {
    text.rsplit('/').next().unwrap_or(text)
}

fn time(input: &Value, field: &str) -> Result<DateTime<Utc>, AwsError> {
    let invalid = || AwsError::bad_request("ValidationException", format!("{field} is required: a time"));
    match &input[field] {
        Value::Number(n) => {
            let millis = (n.as_f64().ok_or_else(invalid)? * 1000.0) as i64;
            DateTime::from_timestamp_millis(millis).ok_or_else(invalid)
        }
        Value::String(s) => s.parse().map_err(|_| invalid()),
        _ => Err(invalid()),
    }
}

fn archive_view(a: &trainyard_store::Archive) -> Value {
    json!({"ArchiveName": a.archive_name, "ArchiveArn": a.archive_arn, "EventSourceArn": a.event_source_arn,
           "EventPattern": a.event_pattern, "Description": a.description, "State": "ENABLED",
           "RetentionDays": a.retention_days, "EventCount": a.event_count, "SizeBytes": 0,
           "CreationTime": seconds(a.creation_time)})
}

fn replay_view(r: &trainyard_store::Replay) -> Value {
    let mut view = json!({"ReplayName": r.replay_name, "ReplayArn": r.replay_arn, "State": r.state,
        "EventSourceArn": arn(&format!("archive/{}", r.archive_name)),
        "Destination": {"Arn": arn(&format!("event-bus/{}", r.event_bus_name))},
        "EventStartTime": seconds(r.event_start_time), "EventEndTime": seconds(r.event_end_time),
        "ReplayStartTime": seconds(r.replay_start_time)});
    if !r.state_reason.is_empty() {
        view["StateReason"] = json!(r.state_reason);
    }
    if let Some(end) = r.replay_end_time {
        view["ReplayEndTime"] = json!(seconds(end));
    }
    view
}

/// One of these calls, if `operation` is one; `None` otherwise.
pub async fn handle(call: &Call<'_>, operation: &str, input: &Value) -> Option<Result<Value, AwsError>> {
    let result = match operation {
        "CreateEventBus" | "DeleteEventBus" | "DescribeEventBus" | "ListEventBuses" => {
            buses(call, operation, input).await
        }
        "CreateArchive" | "DeleteArchive" | "DescribeArchive" | "ListArchives" => {
            archives(call, operation, input).await
        }
        "StartReplay" | "DescribeReplay" | "ListReplays" => replays(call, operation, input).await,
        "ListRuleNamesByTarget" => rule_names_by_target(call, input).await,
        "TestEventPattern" => test_event_pattern(call, input).await,
        _ => return None,
    };
    Some(result)
}

async fn buses(call: &Call<'_>, operation: &str, input: &Value) -> Result<Value, AwsError> {
    let bus = &call.state.bus;
    if operation == "ListEventBuses" {
        call.authorize("events:ListEventBuses", "*").await?;
        let prefix = input["NamePrefix"].as_str().unwrap_or("");
        let buses = bus.store().list_buses().await.map_err(store_error)?;
        let listed: Vec<Value> = buses
            .iter()
            .filter(|b| b.name.starts_with(prefix))
            .map(|b| json!({"Name": b.name, "Arn": b.arn, "CreationTime": seconds(b.creation_time)}))
            .collect();
        return Ok(json!({"EventBuses": listed}));
    }
    let name = match input["Name"].as_str() {
        Some(name) => last(name).to_string(),
        None if operation == "DescribeEventBus" => "default".to_string(),
        None => required(input, "Name")?.to_string(),
    };
    let resource = arn(&format!("event-bus/{name}"));
    let action = format!("events:{operation}");
    call.authorize(&action, &resource).await?;
    match operation {
        "CreateEventBus" => {
            let created = bus.create_bus(&name).await.map_err(bus_error);
            call.audit(&action, &resource, false, created.as_ref().err()).await;
            Ok(json!({"EventBusArn": created?.arn}))
        }
        "DeleteEventBus" => {
            let deleted = bus.delete_bus(&name).await.map_err(bus_error);
            call.audit(&action, &resource, false, deleted.as_ref().err()).await;
            deleted.map(|()| json!({}))
        }
        _ => {
            let found = bus.store().get_bus(&name).await.map_err(store_error)?;
            Ok(json!({"Name": found.name, "Arn": found.arn, "CreationTime": seconds(found.creation_time)}))
        }
    }
}

async fn archives(call: &Call<'_>, operation: &str, input: &Value) -> Result<Value, AwsError> {
    let bus = &call.state.bus;
    if operation == "ListArchives" {
        call.authorize("events:ListArchives", "*").await?;
        let prefix = input["NamePrefix"].as_str().unwrap_or("");
        let archives = bus.store().list_archives().await.map_err(store_error)?;
        let listed: Vec<Value> =
            archives.iter().filter(|a| a.archive_name.starts_with(prefix)).map(archive_view).collect();
        return Ok(json!({"Archives": listed}));
    }
    let name = required(input, "ArchiveName")?;
    let resource = arn(&format!("archive/{name}"));
    let action = format!("events:{operation}");
    call.authorize(&action, &resource).await?;
    match operation {
        "CreateArchive" => {
            let pattern = match input["EventPattern"].as_str() {
                Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                    AwsError::bad_request("InvalidEventPatternException", format!("EventPattern is not JSON: {e}"))
                })?),
                None => None,
            };
            let request = ArchiveRequest {
                archive_name: name.to_string(),
                event_bus_name: Some(last(required(input, "EventSourceArn")?).to_string()),
                event_pattern: pattern,
                retention_days: input["RetentionDays"].as_i64().unwrap_or(0),
                description: input["Description"].as_str().unwrap_or("").to_string(),
            };
            let created = bus.create_archive(&request).await.map_err(bus_error);
            call.audit(&action, &resource, false, created.as_ref().err()).await;
            let created = created?;
            Ok(json!({"ArchiveArn": created.archive_arn, "State": "ENABLED",
                      "CreationTime": seconds(created.creation_time)}))
        }
        "DeleteArchive" => {
            let deleted = bus.delete_archive(name).await.map_err(bus_error);
            call.audit(&action, &resource, false, deleted.as_ref().err()).await;
            deleted.map(|()| json!({}))
        }
        _ => Ok(archive_view(&bus.store().get_archive(name).await.map_err(store_error)?)),
    }
}

async fn replays(call: &Call<'_>, operation: &str, input: &Value) -> Result<Value, AwsError> {
    let bus = &call.state.bus;
    if operation == "ListReplays" {
        call.authorize("events:ListReplays", "*").await?;
        let prefix = input["NamePrefix"].as_str().unwrap_or("");
        let replays = bus.store().list_replays().await.map_err(store_error)?;
        let listed: Vec<Value> =
            replays.iter().filter(|r| r.replay_name.starts_with(prefix)).map(replay_view).collect();
        return Ok(json!({"Replays": listed}));
    }
    let name = required(input, "ReplayName")?;
    let resource = arn(&format!("replay/{name}"));
    let action = format!("events:{operation}");
    call.authorize(&action, &resource).await?;
    if operation == "DescribeReplay" {
        return Ok(replay_view(&bus.store().get_replay(name).await.map_err(store_error)?));
    }
    let request = ReplayRequest {
        replay_name: name.to_string(),
        archive_name: last(required(input, "EventSourceArn")?).to_string(),
        event_start_time: time(input, "EventStartTime")?,
        event_end_time: time(input, "EventEndTime")?,
        event_bus_name: input["Destination"]["Arn"].as_str().map(|a| last(a).to_string()),
    };
    let started = bus.start_replay(&request).await.map_err(bus_error);
    call.audit(&action, &resource, false, started.as_ref().err()).await;
    let started = started?;
    Ok(json!({"ReplayArn": started.replay_arn, "State": started.state,
              "ReplayStartTime": seconds(started.replay_start_time)}))
}

/// The rules of a bus with a target whose ARN is `TargetArn` (a function's Lambda ARN).
async fn rule_names_by_target(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    call.authorize("events:ListRuleNamesByTarget", "*").await?;
    let target = required(input, "TargetArn")?;
    let function = target.split(":function:").nth(1).map(|f| f.split(':').next().unwrap_or(f));
    let bus = bus_name(input);
    let store = call.state.bus.store();
    let mut names = Vec::new();
    for rule in store.list_rules(Some(&bus)).await.map_err(store_error)? {
        let targets = store.list_targets(&bus, &rule.name).await.map_err(store_error)?;
        let named = targets.iter().any(|t| match &t.destination {
            trainyard_store::Destination::Function { name } => Some(name.as_str()) == function,
            trainyard_store::Destination::Http { url, .. } => url == target,
        });
        if named {
            names.push(rule.name);
        }
    }
    Ok(json!({"RuleNames": names}))
}

async fn test_event_pattern(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    call.authorize("events:TestEventPattern", "*").await?;
    let invalid = |e: String| AwsError::bad_request("InvalidEventPatternException", e);
    let pattern =
        trainyard_events::Pattern::parse_str(required(input, "EventPattern")?).map_err(|e| invalid(e.to_string()))?;
    let event: Value = serde_json::from_str(required(input, "Event")?)
        .map_err(|e| AwsError::bad_request("ValidationException", format!("Event is not JSON: {e}")))?;
    Ok(json!({"Result": pattern.matches(&event)}))
}
