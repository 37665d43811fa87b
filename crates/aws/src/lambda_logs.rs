//! CloudWatch Logs for Lambda functions: `/aws/lambda/NAME`, one stream of the function's
//! recorded invocations (each framed by START, END and REPORT lines), oldest first.

use serde_json::{json, Value};

use crate::protocol::AwsError;
use crate::Call;

pub const PREFIX: &str = "/aws/lambda/";
const STREAM: &str = "[$LATEST]invocations";
/// The invocations a stream covers (the most recent ones the store keeps).
const INVOCATIONS: i64 = 1000;

fn missing(what: &str) -> AwsError {
    AwsError::bad_request("ResourceNotFoundException", format!("The specified {what} does not exist."))
}

/// Every line of the function's recent invocations, oldest first, with its invocation's time.
async fn lines(call: &Call<'_>, function: &str) -> Result<Vec<(i64, String)>, AwsError> {
    let bus = &call.state.bus;
    bus.store().get_function(function).await.map_err(|_| missing("log group"))?;
    let mut invocations = bus.list_invocations(function, INVOCATIONS).await.map_err(|_| missing("log group"))?;
    invocations.reverse();
    Ok(invocations
        .iter()
        .flat_map(|i| {
            let time = i.start_time.timestamp_millis();
            i.logs.lines().map(move |line| (time, line.to_string())).collect::<Vec<_>>()
        })
        .collect())
}

/// The `/aws/lambda/NAME` groups there are.
pub async fn groups(call: &Call<'_>) -> Vec<String> {
    let functions = call.state.bus.store().list_functions().await.unwrap_or_default();
    functions.iter().map(|f| format!("{PREFIX}{}", f.function_name)).collect()
}

/// One Logs call on a Lambda group.
pub async fn handle(call: &Call<'_>, operation: &str, group: &str, input: &Value) -> Result<Value, AwsError> {
    let function = group.strip_prefix(PREFIX).unwrap_or_default();
    match operation {
        "DescribeLogStreams" => {
            let all = lines(call, function).await?;
            let prefix = input["logStreamNamePrefix"].as_str().unwrap_or("");
            let streams: Vec<Value> = if STREAM.starts_with(prefix) && !all.is_empty() {
                vec![json!({"logStreamName": STREAM, "firstEventTimestamp": all[0].0,
                            "lastEventTimestamp": all[all.len() - 1].0, "creationTime": all[0].0})]
            } else {
                Vec::new()
            };
            Ok(json!({"logStreams": streams}))
        }
        "GetLogEvents" => {
            if input["logStreamName"].as_str() != Some(STREAM) {
                return Err(missing("log stream"));
            }
            let all = lines(call, function).await?;
            let offset = match input["nextToken"].as_str() {
                Some(token) => token.strip_prefix("f/").and_then(|o| o.parse::<usize>().ok()).ok_or_else(|| {
                    AwsError::bad_request("InvalidParameterException", "The specified nextToken is invalid.")
                })?,
                None => 0,
            };
            let limit = input["limit"].as_u64().unwrap_or(10_000).clamp(1, 10_000) as usize;
            let page: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(limit)
                .map(|(time, line)| json!({"timestamp": time, "message": line, "ingestionTime": time}))
                .collect();
            let next = (offset + page.len()).min(all.len());
            Ok(json!({"events": page, "nextForwardToken": format!("f/{next}"), "nextBackwardToken": "b/0"}))
        }
        "FilterLogEvents" => {
            let all = lines(call, function).await?;
            let terms: Vec<String> = input["filterPattern"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
                .map(|t| t.trim_matches('"').to_string())
                .collect();
            let start = input["startTime"].as_i64().unwrap_or(i64::MIN);
            let end = input["endTime"].as_i64().unwrap_or(i64::MAX);
            let events: Vec<Value> = all
                .iter()
                .filter(|(time, line)| *time >= start && *time <= end && terms.iter().all(|t| line.contains(t.as_str())))
                .take(10_000)
                .map(|(time, line)| json!({"logStreamName": STREAM, "timestamp": time, "message": line, "ingestionTime": time}))
                .collect();
            Ok(json!({"events": events, "searchedLogStreams": [{"logStreamName": STREAM, "searchedCompletely": true}]}))
        }
        _ => Err(AwsError::bad_request("InvalidParameterException", format!("{operation} on {group}"))),
    }
}
