//! EventBridge (json 1.1, `X-Amz-Target: AWSEvents.<Op>`), onto the bus: events, rules and
//! targets. A target's Lambda ARN names a trainyard function.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};
use trainyard_bus::{RuleRequest, TargetRequest};
use trainyard_events::PutEntry;

use crate::protocol::{answer, AwsError, Protocol};
use crate::Call;

fn arn(resource: &str) -> String {
    format!("arn:aws:events:{}:{}:{resource}", trainyard_identity::REGION, trainyard_identity::ACCOUNT)
}

/// A bus named by name or ARN; the default bus when none.
pub(crate) fn bus_name(input: &Value) -> String {
    let bus = input["EventBusName"].as_str().filter(|b| !b.is_empty()).unwrap_or("default");
    bus.rsplit('/').next().unwrap_or(bus).to_string()
}

fn rule_arn(bus: &str, name: &str) -> String {
    if bus == "default" {
        arn(&format!("rule/{name}"))
    } else {
        arn(&format!("rule/{bus}/{name}"))
    }
}

pub(crate) fn required<'a>(input: &'a Value, field: &str) -> Result<&'a str, AwsError> {
    input[field].as_str().ok_or_else(|| AwsError::bad_request("ValidationException", format!("{field} is required")))
}

/// One EventBridge call.
pub async fn handle(call: &Call<'_>, operation: &str, body: &[u8]) -> Result<Response, AwsError> {
    let input: Value = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|e| AwsError::bad_request("SerializationException", format!("the body is not JSON: {e}")))?;
    let output = match operation {
        "PutEvents" => put_events(call, &input).await?,
        "PutRule" => put_rule(call, &input).await?,
        "DescribeRule" => {
            let (bus, name) = (bus_name(&input), required(&input, "Name")?);
            call.authorize("events:DescribeRule", &rule_arn(&bus, name)).await?;
            let rule = call.state.bus.store().get_rule(&bus, name).await.map_err(store_error)?;
            json!(rule)
        }
        "ListRules" => {
            let bus = bus_name(&input);
            call.authorize("events:ListRules", "*").await?;
            let prefix = input["NamePrefix"].as_str().unwrap_or("");
            let rules = call.state.bus.store().list_rules(Some(&bus)).await.map_err(store_error)?;
            json!({"Rules": rules.into_iter().filter(|r| r.name.starts_with(prefix)).collect::<Vec<_>>()})
        }
        "DeleteRule" | "EnableRule" | "DisableRule" => {
            let (bus, name) = (bus_name(&input), required(&input, "Name")?);
            let resource = rule_arn(&bus, name);
            let action = format!("events:{operation}");
            call.authorize(&action, &resource).await?;
            let bus_service = &call.state.bus;
            let done = match operation {
                "DeleteRule" => bus_service.delete_rule(&bus, name).await.map(|_| ()),
                "EnableRule" => bus_service.set_rule_state(&bus, name, true).await.map(|_| ()),
                _ => bus_service.set_rule_state(&bus, name, false).await.map(|_| ()),
            }
            .map_err(bus_error);
            call.audit(&action, &resource, false, done.as_ref().err()).await;
            done?;
            json!({})
        }
        "PutTargets" => put_targets(call, &input).await?,
        "RemoveTargets" => {
            let (bus, rule) = (bus_name(&input), required(&input, "Rule")?);
            let resource = rule_arn(&bus, rule);
            call.authorize("events:RemoveTargets", &resource).await?;
            let mut failed = Vec::new();
            for id in input["Ids"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if let Err(e) = call.state.bus.remove_target(&bus, rule, id).await {
                    failed.push(json!({"TargetId": id, "ErrorCode": "ResourceNotFoundException", "ErrorMessage": e.to_string()}));
                }
            }
            call.audit("events:RemoveTargets", &resource, false, None).await;
            json!({"FailedEntryCount": failed.len(), "FailedEntries": failed})
        }
        "ListTargetsByRule" => {
            let (bus, rule) = (bus_name(&input), required(&input, "Rule")?);
            call.authorize("events:ListTargetsByRule", &rule_arn(&bus, rule)).await?;
            call.state.bus.store().get_rule(&bus, rule).await.map_err(store_error)?;
            let targets = call.state.bus.store().list_targets(&bus, rule).await.map_err(store_error)?;
            // botocore's model gives Targets a minimum length of 1: none is no member.
            if targets.is_empty() {
                json!({})
            } else {
                json!({"Targets": targets.iter().map(|t| target_view(t, &call.caller.region)).collect::<Vec<_>>()})
            }
        }
        other => match crate::events_resources::handle(call, other, &input).await {
            Some(result) => result?,
            None => {
                return Err(AwsError::bad_request(
                    "UnknownOperationException",
                    format!("trainyard does not implement AWSEvents.{other} yet"),
                ))
            }
        },
    };
    Ok(answer(StatusCode::OK, "application/x-amz-json-1.1", output.to_string(), Protocol::Json, &call.request_id))
}

async fn put_events(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let entries = input["Entries"].as_array().cloned().unwrap_or_default();
    let mut buses: Vec<String> = entries.iter().map(bus_name).collect();
    buses.sort();
    buses.dedup();
    for bus in buses.iter().chain(buses.is_empty().then_some(&"default".to_string())) {
        call.authorize("events:PutEvents", &arn(&format!("event-bus/{bus}"))).await?;
    }
    let entries: Vec<PutEntry> = entries
        .into_iter()
        .map(|mut entry| {
            // boto3 sends `Time` as epoch seconds; the bus takes RFC 3339.
            if let Some(seconds) = entry["Time"].as_f64() {
                let time = chrono::DateTime::from_timestamp(seconds as i64, 0).unwrap_or_default();
                entry["Time"] = json!(time.to_rfc3339());
            }
            if let Some(map) = entry.as_object_mut() {
                map.remove("TraceHeader");
            }
            serde_json::from_value(entry).map_err(|e| AwsError::bad_request("ValidationException", e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let results = call.state.bus.put_events(&entries, false).await.map_err(bus_error)?;
    let failed = results.iter().filter(|r| r.error_code.is_some()).count();
    Ok(json!({"FailedEntryCount": failed, "Entries": results}))
}

async fn put_rule(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let (bus, name) = (bus_name(input), required(input, "Name")?);
    let resource = rule_arn(&bus, name);
    call.authorize("events:PutRule", &resource).await?;
    let mut fields = Map::new();
    for key in ["Name", "EventPattern", "ScheduleExpression", "State", "Description"] {
        if let Some(value) = input.get(key).filter(|v| !v.is_null()) {
            fields.insert(key.to_string(), value.clone());
        }
    }
    fields.insert("EventBusName".into(), json!(bus));
    let request: RuleRequest = serde_json::from_value(Value::Object(fields))
        .map_err(|e| AwsError::bad_request("ValidationException", e.to_string()))?;
    let exists = call.state.bus.store().get_rule(&bus, name).await.is_ok();
    let done =
        if exists { call.state.bus.update_rule(&request).await } else { call.state.bus.create_rule(&request).await };
    let done = done.map_err(bus_error);
    call.audit("events:PutRule", &resource, false, done.as_ref().err()).await;
    Ok(json!({"RuleArn": done?.arn}))
}

async fn put_targets(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let (bus, rule) = (bus_name(input), required(input, "Rule")?);
    let resource = rule_arn(&bus, rule);
    call.authorize("events:PutTargets", &resource).await?;
    let mut failed = Vec::new();
    for target in input["Targets"].as_array().into_iter().flatten() {
        let id = target["Id"].as_str().unwrap_or_default();
        let fail = |code: &str, message: String| json!({"TargetId": id, "ErrorCode": code, "ErrorMessage": message});
        let target_arn = target["Arn"].as_str().unwrap_or_default();
        // A Lambda ARN (`…:function:NAME[:qualifier]`) names a trainyard function.
        let Some(function) = target_arn.split(":function:").nth(1).map(|f| f.split(':').next().unwrap_or(f)) else {
            failed.push(fail("ValidationException", format!("target {target_arn:?} is not a Lambda function ARN")));
            continue;
        };
        let mut fields = Map::new();
        fields.insert("Id".into(), json!(id));
        fields.insert("FunctionName".into(), json!(function));
        for key in ["Input", "InputPath", "InputTransformer", "RetryPolicy"] {
            if let Some(value) = target.get(key).filter(|v| !v.is_null()) {
                fields.insert(key.to_string(), value.clone());
            }
        }
        let request: Result<TargetRequest, _> = serde_json::from_value(Value::Object(fields));
        let outcome = match request {
            Ok(request) => call.state.bus.put_target(&bus, rule, &request).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(message) = outcome {
            failed.push(fail("ValidationException", message));
        }
    }
    call.audit("events:PutTargets", &resource, false, None).await;
    Ok(json!({"FailedEntryCount": failed.len(), "FailedEntries": failed}))
}

/// A target as EventBridge lists it (a function as its Lambda ARN).
/// `region`: the caller's, as the ARN it put named it.
fn target_view(target: &trainyard_store::Target, region: &str) -> Value {
    let mut view = json!({"Id": target.id});
    if let trainyard_store::Destination::Function { name } = &target.destination {
        view["Arn"] = json!(format!("arn:aws:lambda:{region}:{}:function:{name}", trainyard_identity::ACCOUNT));
    }
    if let Ok(Value::Object(input)) = serde_json::to_value(&target.input) {
        for (key, value) in input {
            view[key] = value;
        }
    }
    view
}

pub(crate) fn store_error(error: trainyard_store::Error) -> AwsError {
    match error {
        trainyard_store::Error::NotFound { kind, name } => {
            AwsError::bad_request("ResourceNotFoundException", format!("{kind} {name} does not exist."))
        }
        trainyard_store::Error::AlreadyExists { kind, name } => {
            AwsError::bad_request("ResourceAlreadyExistsException", format!("{kind} {name} already exists."))
        }
        trainyard_store::Error::InUse { kind, name, reason } => {
            AwsError::bad_request("ValidationException", format!("{kind} {name} is in use: {reason}"))
        }
        other => internal(&other),
    }
}

pub(crate) fn bus_error(error: trainyard_bus::Error) -> AwsError {
    use trainyard_bus::Error as Bus;
    match error {
        Bus::Store(e) => store_error(e),
        Bus::Events(e) => AwsError::bad_request("InvalidEventPatternException", e.to_string()),
        Bus::LimitExceeded { message } => AwsError::bad_request("LimitExceededException", message),
        Bus::InvalidArgument { message } => AwsError::bad_request("ValidationException", message),
        Bus::Function(e) => AwsError::bad_request("ValidationException", e.to_string()),
    }
}

fn internal(error: &dyn std::fmt::Display) -> AwsError {
    let id = uuid::Uuid::new_v4();
    tracing::error!(%error, %id, "internal error in AWSEvents.*");
    AwsError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalException", format!("internal error {id}"))
}
