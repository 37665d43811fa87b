//! `DescribeTrainingJob`'s answer and the state-change event's detail.

use serde_json::{json, Value};
use trainyard_store::TrainingJobRecord;

/// The DescribeTrainingJob response for a stored job.
pub fn describe(job: &TrainingJobRecord) -> Value {
    let request = &job.request;
    let mut answer = json!({
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "TrainingJobStatus": job.status,
        "SecondaryStatus": job.secondary_status,
        "SecondaryStatusTransitions": job.transitions,
        "FinalMetricDataList": job.final_metrics,
        "CreationTime": job.created_at,
        "LastModifiedTime": job.updated_at,
        "DatasetSnapshot": job.dataset,
        "RetryAttempts": job.attempts.saturating_sub(1).max(0),
    });
    for field in [
        "AlgorithmSpecification",
        "HyperParameters",
        "InputDataConfig",
        "OutputDataConfig",
        "ResourceConfig",
        "StoppingCondition",
        "Environment",
        "RetryStrategy",
        "RoleArn",
    ] {
        if let Some(value) = request.get(field) {
            answer[field] = value.clone();
        }
    }
    if let Some(reason) = &job.failure_reason {
        answer["FailureReason"] = json!(reason);
    }
    if let Some(artifacts) = &job.model_artifacts {
        answer["ModelArtifacts"] = json!({"S3ModelArtifacts": artifacts});
    }
    if let Some(start) = job.training_start {
        answer["TrainingStartTime"] = json!(start);
        let end = job.training_end.unwrap_or(job.updated_at);
        // SageMaker counts whole seconds, at least one.
        let seconds = (end - start).num_seconds().max(1);
        answer["TrainingTimeInSeconds"] = json!(seconds);
        answer["BillableTimeInSeconds"] = json!(seconds);
    }
    if let Some(end) = job.training_end {
        answer["TrainingEndTime"] = json!(end);
    }
    answer
}

/// The `SageMaker Training Job State Change` detail: the describe answer, as AWS does.
pub fn event_detail(job: &TrainingJobRecord) -> Value {
    let mut detail = describe(job);
    if let Some(object) = detail.as_object_mut() {
        object.remove("DatasetSnapshot");
    }
    detail
}
