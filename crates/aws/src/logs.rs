//! CloudWatch Logs (json 1.1, `X-Amz-Target: Logs_20140328.<Op>`), read-only, onto the
//! jobs' logs: `/aws/sagemaker/TrainingJobs` and `/aws/sagemaker/ProcessingJobs`, one
//! stream per job (`JOB/algo-1`), so the SageMaker SDK's `logs=` streams a job's output.
//! A stream's token is the byte offset in the job's log (`f/OFFSET`).
//!
//! `FilterLogEvents` searches the streams of a group in name order; its token is
//! `JOB/OFFSET`, the next line to read. A job's log keeps no time per line: its lines carry
//! the job's creation time, and a time range matches the lines of every job whose run
//! (creation to end) it overlaps, each stamped within that range.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::protocol::{answer, AwsError, Protocol};
use crate::Call;

const TRAINING: &str = "/aws/sagemaker/TrainingJobs";
const PROCESSING: &str = "/aws/sagemaker/ProcessingJobs";

fn group_arn(group: &str) -> String {
    format!("arn:aws:logs:{}:{}:log-group:{group}", trainyard_identity::REGION, trainyard_identity::ACCOUNT)
}

/// One CloudWatch Logs call.
pub async fn handle(call: &Call<'_>, operation: &str, body: &[u8]) -> Result<Response, AwsError> {
    let input: Value = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|e| AwsError::bad_request("SerializationException", format!("the body is not JSON: {e}")))?;
    let group = input["logGroupName"].as_str().unwrap_or_default();
    if group.starts_with(crate::lambda_logs::PREFIX) && operation != "DescribeLogGroups" {
        let action = format!("logs:{operation}");
        call.authorize(&action, &group_arn(group)).await?;
        let output = crate::lambda_logs::handle(call, operation, group, &input).await?;
        return Ok(answer(
            StatusCode::OK,
            "application/x-amz-json-1.1",
            output.to_string(),
            Protocol::Json,
            &call.request_id,
        ));
    }
    let output = match operation {
        "DescribeLogStreams" => {
            call.authorize("logs:DescribeLogStreams", &group_arn(group)).await?;
            describe_streams(call, group, input["logStreamNamePrefix"].as_str().unwrap_or("")).await?
        }
        "GetLogEvents" => {
            call.authorize("logs:GetLogEvents", &group_arn(group)).await?;
            let stream = input["logStreamName"].as_str().unwrap_or_default();
            get_events(call, group, stream, input["nextToken"].as_str()).await?
        }
        "DescribeLogGroups" => {
            call.authorize("logs:DescribeLogGroups", &group_arn("*")).await?;
            describe_groups(&input, crate::lambda_logs::groups(call).await)
        }
        "FilterLogEvents" => {
            call.authorize("logs:FilterLogEvents", &group_arn(group)).await?;
            filter_events(call, group, &input).await?
        }
        other => {
            return Err(AwsError::bad_request(
                "UnknownOperationException",
                format!("trainyard does not implement Logs_20140328.{other}"),
            ))
        }
    };
    Ok(answer(StatusCode::OK, "application/x-amz-json-1.1", output.to_string(), Protocol::Json, &call.request_id))
}

/// The job a stream (`JOB/algo-1`) or prefix names.
fn job_of(stream: &str) -> &str {
    stream.split('/').next().unwrap_or(stream)
}

async fn describe_streams(call: &Call<'_>, group: &str, prefix: &str) -> Result<Value, AwsError> {
    let job = job_of(prefix);
    let exists = match group {
        TRAINING => call.state.jobs.describe(job).await.is_ok(),
        PROCESSING => call.state.jobs.describe_processing(job).await.is_ok(),
        _ => return Err(missing_group(group)),
    };
    let streams: Vec<Value> = if exists && !job.is_empty() {
        let name = format!("{job}/algo-1");
        vec![json!({"logStreamName": name, "arn": format!("{}:log-stream:{name}", group_arn(group))})]
    } else {
        Vec::new()
    };
    Ok(json!({"logStreams": streams}))
}

async fn get_events(call: &Call<'_>, group: &str, stream: &str, token: Option<&str>) -> Result<Value, AwsError> {
    let offset = match token {
        Some(token) => token
            .strip_prefix("f/")
            .and_then(|o| o.parse::<u64>().ok())
            .ok_or_else(|| AwsError::bad_request("InvalidParameterException", "The specified nextToken is invalid."))?,
        None => 0,
    };
    let job = job_of(stream);
    let chunk = match group {
        TRAINING => call.state.jobs.logs(job, offset).await,
        PROCESSING => call.state.jobs.processing_logs(job, offset).await,
        _ => return Err(missing_group(group)),
    }
    .map_err(|_| AwsError::bad_request("ResourceNotFoundException", "The specified log stream does not exist."))?;
    let now = chrono::Utc::now().timestamp_millis();
    let events: Vec<Value> =
        chunk.text.lines().map(|line| json!({"timestamp": now, "message": line, "ingestionTime": now})).collect();
    let token = format!("f/{}", chunk.next_offset);
    Ok(json!({"events": events, "nextForwardToken": token, "nextBackwardToken": "b/0"}))
}

/// The groups there are (every job kind's, whether or not a job has run), by name.
fn describe_groups(input: &Value, lambda_groups: Vec<String>) -> Value {
    let prefix = input["logGroupNamePrefix"].as_str().unwrap_or("");
    let pattern = input["logGroupNamePattern"].as_str().unwrap_or("");
    let mut all: Vec<String> = lambda_groups;
    all.extend([PROCESSING.to_string(), TRAINING.to_string()]);
    all.sort();
    let groups: Vec<Value> = all
        .iter()
        .map(String::as_str)
        .filter(|group| group.starts_with(prefix) && group.contains(pattern))
        .map(|group| {
            json!({
                "logGroupName": group,
                "arn": format!("{}:*", group_arn(group)),
                "logGroupArn": group_arn(group),
                "storedBytes": 0,
                "metricFilterCount": 0,
                "logGroupClass": "STANDARD",
            })
        })
        .collect();
    json!({"logGroups": groups})
}

/// The most events one `FilterLogEvents` page returns (AWS's default and maximum).
const MAX_EVENTS: usize = 10_000;

/// A job's stream: its name and the time its run spans (milliseconds; no end while it runs).
struct Stream {
    job: String,
    created: i64,
    ended: Option<i64>,
}

/// The streams of `group`, in name order.
async fn streams(call: &Call<'_>, group: &str) -> Result<Vec<Stream>, AwsError> {
    let (listed, key, name, end) = match group {
        TRAINING => {
            (call.state.jobs.list(None, 10_000).await, "TrainingJobSummaries", "TrainingJobName", "TrainingEndTime")
        }
        PROCESSING => (
            call.state.jobs.list_processing(None, 10_000).await,
            "ProcessingJobSummaries",
            "ProcessingJobName",
            "ProcessingEndTime",
        ),
        _ => return Err(missing_group(group)),
    };
    let listed = listed.map_err(|e| {
        let id = uuid::Uuid::new_v4();
        tracing::error!(error = %e, %id, "could not list jobs for FilterLogEvents");
        AwsError::new(StatusCode::INTERNAL_SERVER_ERROR, "ServiceUnavailableException", format!("internal error {id}"))
    })?;
    let millis = |value: &Value| {
        value.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis())
    };
    let mut streams: Vec<Stream> = listed[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|job| {
            Some(Stream {
                job: job[name].as_str()?.to_string(),
                created: millis(&job["CreationTime"]).unwrap_or(0),
                ended: millis(&job[end]),
            })
        })
        .collect();
    streams.sort_by(|a, b| a.job.cmp(&b.job));
    Ok(streams)
}

/// `FilterLogEvents`: lines of the group's streams that hold every term of `filterPattern`.
async fn filter_events(call: &Call<'_>, group: &str, input: &Value) -> Result<Value, AwsError> {
    let invalid = |message: &str| AwsError::bad_request("InvalidParameterException", message);
    let pattern = Pattern::parse(input["filterPattern"].as_str().unwrap_or(""))
        .ok_or_else(|| invalid("trainyard matches filter patterns of plain terms and quoted phrases only"))?;
    let limit = match input["limit"].as_u64() {
        None => MAX_EVENTS,
        Some(n) if (1..=MAX_EVENTS as u64).contains(&n) => n as usize,
        Some(_) => return Err(invalid("limit must be between 1 and 10000")),
    };
    let (from, to) = (input["startTime"].as_i64().unwrap_or(0), input["endTime"].as_i64().unwrap_or(i64::MAX));
    if from > to {
        return Err(invalid("startTime must not be after endTime"));
    }
    let names: Option<Vec<&str>> =
        input["logStreamNames"].as_array().map(|n| n.iter().filter_map(Value::as_str).collect());
    let prefix = input["logStreamNamePrefix"].as_str().unwrap_or("");
    // Where the last page stopped: a job, and the byte of its log to read next.
    let resume = match input["nextToken"].as_str() {
        Some(token) => Some(
            token
                .rsplit_once('/')
                .and_then(|(job, offset)| Some((job.to_string(), offset.parse::<u64>().ok()?)))
                .ok_or_else(|| invalid("The specified nextToken is invalid."))?,
        ),
        None => None,
    };
    let now = chrono::Utc::now().timestamp_millis();
    let (mut events, mut searched) = (Vec::new(), Vec::new());
    for stream in streams(call, group).await? {
        let name = format!("{}/algo-1", stream.job);
        let wanted = names.as_ref().map_or(name.starts_with(prefix), |names| names.contains(&name.as_str()));
        let overlaps = stream.created <= to && stream.ended.unwrap_or(now) >= from;
        let mut offset = match &resume {
            Some((job, _)) if job > &stream.job => continue,
            Some((job, offset)) if job == &stream.job => *offset,
            _ => 0,
        };
        if !wanted || !overlaps {
            continue;
        }
        let stamp = stream.created.clamp(from, to);
        loop {
            let chunk = match group {
                TRAINING => call.state.jobs.logs(&stream.job, offset).await,
                _ => call.state.jobs.processing_logs(&stream.job, offset).await,
            };
            // A job deleted since it was listed has nothing more to show.
            let Ok(chunk) = chunk else { break };
            let read = chunk.next_offset - offset;
            // Offsets count bytes of lines, exact unless the log holds invalid UTF-8.
            let exact = chunk.text.len() as u64 == read;
            for line in chunk.text.split_inclusive('\n') {
                if events.len() == limit && exact {
                    return Ok(page(events, searched, Some(format!("{}/{offset}", stream.job))));
                }
                if exact {
                    offset += line.len() as u64;
                }
                let message = line.trim_end_matches('\n');
                if pattern.matches(message) {
                    events.push(json!({
                        "logStreamName": name,
                        "timestamp": stamp,
                        "message": message,
                        "ingestionTime": stamp,
                        "eventId": format!("{}/{offset}", stream.job),
                    }));
                }
            }
            offset = chunk.next_offset;
            if read == 0 || chunk.complete {
                break;
            }
        }
        searched.push(json!({"logStreamName": name, "searchedCompletely": true}));
    }
    Ok(page(events, searched, None))
}

fn page(events: Vec<Value>, searched: Vec<Value>, token: Option<String>) -> Value {
    let mut page = json!({"events": events, "searchedLogStreams": searched});
    if let Some(token) = token {
        page["nextToken"] = json!(token);
    }
    page
}

/// A filter pattern of plain terms and `"quoted phrases"`: a line matches when it holds
/// every one (case-sensitive, as CloudWatch Logs matches terms). The empty pattern
/// matches every line.
#[derive(Debug)]
struct Pattern(Vec<String>);

impl Pattern {
    /// `None` for what this matcher does not speak (JSON and space-delimited patterns,
    /// regular expressions, `?`/`-` terms).
    fn parse(text: &str) -> Option<Pattern> {
        let text = text.trim();
        if text.starts_with('{') || text.starts_with('[') || text.starts_with('%') {
            return None;
        }
        let mut terms = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
            rest = &rest[start..];
            if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted.find('"')?;
                terms.push(quoted[..end].to_string());
                rest = &quoted[end + 1..];
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let term = &rest[..end];
                if term.starts_with('?') || term.starts_with('-') {
                    return None;
                }
                terms.push(term.to_string());
                rest = &rest[end..];
            }
        }
        Some(Pattern(terms))
    }

    fn matches(&self, line: &str) -> bool {
        self.0.iter().all(|term| line.contains(term.as_str()))
    }
}

fn missing_group(group: &str) -> AwsError {
    AwsError::bad_request("ResourceNotFoundException", format!("The specified log group {group} does not exist."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns_match_every_term_and_phrase() {
        let pattern = Pattern::parse(r#"train-rmse "round 3""#).unwrap();
        assert!(pattern.matches("[round 3] train-rmse:0.41"));
        assert!(!pattern.matches("[round 4] train-rmse:0.41"), "{pattern:?}");
        assert!(!pattern.matches("[round 3] validation-rmse:0.5"));
        assert!(Pattern::parse("").unwrap().matches("anything"));
        assert!(Pattern::parse("ERROR").unwrap().matches("an ERROR here"));
        assert!(!Pattern::parse("ERROR").unwrap().matches("an error here"), "terms are case-sensitive");
        for unsupported in [r#"{ $.level = "error" }"#, "[ip, user]", "?ERROR ?WARN", "-DEBUG", r#""open"#] {
            assert!(Pattern::parse(unsupported).is_none(), "{unsupported}");
        }
    }
}
