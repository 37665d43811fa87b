//! CloudWatch Logs (json 1.1, `X-Amz-Target: Logs_20140328.<Op>`), read-only, onto the
//! jobs' logs: `/aws/sagemaker/TrainingJobs` and `/aws/sagemaker/ProcessingJobs`, one
//! stream per job (`JOB/algo-1`), so the SageMaker SDK's `logs=` streams a job's output.
//! A stream's token is the byte offset in the job's log (`f/OFFSET`).

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

fn missing_group(group: &str) -> AwsError {
    AwsError::bad_request("ResourceNotFoundException", format!("The specified log group {group} does not exist."))
}
