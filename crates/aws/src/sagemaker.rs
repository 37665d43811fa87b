//! SageMaker's control plane (json 1.1, `X-Amz-Target: SageMaker.<Op>`), onto the jobs
//! service. "Not found" is `ValidationException`, as on AWS: the SDK's waiters depend on it.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::protocol::{answer, AwsError, Protocol};
use crate::Call;

const SERVICE: &str = "sagemaker.amazonaws.com";

fn arn(resource: &str) -> String {
    format!("arn:aws:sagemaker:{}:{}:{resource}", trainyard_identity::REGION, trainyard_identity::ACCOUNT)
}

/// One SageMaker call: `operation` from `X-Amz-Target`, `body` its JSON input.
pub async fn handle(call: &Call<'_>, operation: &str, body: &[u8]) -> Result<Response, AwsError> {
    let input: Value = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|e| AwsError::bad_request("SerializationException", format!("the body is not JSON: {e}")))?;
    let name = |field: &str| -> Result<String, AwsError> {
        input[field].as_str().map(str::to_string).ok_or_else(|| {
            AwsError::bad_request("ValidationException", format!("1 validation error detected: {field} is required"))
        })
    };
    let jobs = &call.state.jobs;
    let output = match operation {
        "CreateTrainingJob" => {
            let job = name("TrainingJobName")?;
            let resource = arn(&format!("training-job/{job}"));
            call.authorize("sagemaker:CreateTrainingJob", &resource).await?;
            if let Some(role) = input["RoleArn"].as_str() {
                call.pass_role(role, SERVICE).await?;
            }
            let request = serde_json::from_value(input.clone())
                .map_err(|e| AwsError::bad_request("ValidationException", e.to_string()))?;
            let created = jobs.create(request).await.map_err(jobs_error);
            call.audit("sagemaker:CreateTrainingJob", &resource, false, created.as_ref().err()).await;
            json!({"TrainingJobArn": created?["TrainingJobArn"]})
        }
        "DescribeTrainingJob" => {
            let job = name("TrainingJobName")?;
            call.authorize("sagemaker:DescribeTrainingJob", &arn(&format!("training-job/{job}"))).await?;
            let mut described = jobs.describe(&job).await.map_err(jobs_error)?;
            // botocore's model requires ModelArtifacts even before there are any.
            if described.get("ModelArtifacts").is_none() {
                described["ModelArtifacts"] = json!({"S3ModelArtifacts": ""});
            }
            described
        }
        "ListTrainingJobs" => {
            call.authorize("sagemaker:ListTrainingJobs", "*").await?;
            let limit = input["MaxResults"].as_i64().unwrap_or(100).clamp(1, 100);
            jobs.list(input["StatusEquals"].as_str(), limit).await.map_err(jobs_error)?
        }
        "StopTrainingJob" => {
            let job = name("TrainingJobName")?;
            let resource = arn(&format!("training-job/{job}"));
            call.authorize("sagemaker:StopTrainingJob", &resource).await?;
            let stopped = jobs.stop(&job).await.map_err(jobs_error);
            call.audit("sagemaker:StopTrainingJob", &resource, false, stopped.as_ref().err()).await;
            stopped?;
            json!({})
        }
        "CreateProcessingJob" => {
            let job = name("ProcessingJobName")?;
            let resource = arn(&format!("processing-job/{job}"));
            call.authorize("sagemaker:CreateProcessingJob", &resource).await?;
            if let Some(role) = input["RoleArn"].as_str() {
                call.pass_role(role, SERVICE).await?;
            }
            let request = serde_json::from_value(input.clone())
                .map_err(|e| AwsError::bad_request("ValidationException", e.to_string()))?;
            let created = jobs.create_processing(request).await.map_err(jobs_error);
            call.audit("sagemaker:CreateProcessingJob", &resource, false, created.as_ref().err()).await;
            json!({"ProcessingJobArn": created?["ProcessingJobArn"]})
        }
        "DescribeProcessingJob" => {
            let job = name("ProcessingJobName")?;
            call.authorize("sagemaker:DescribeProcessingJob", &arn(&format!("processing-job/{job}"))).await?;
            jobs.describe_processing(&job).await.map_err(jobs_error)?
        }
        "ListProcessingJobs" => {
            call.authorize("sagemaker:ListProcessingJobs", "*").await?;
            let limit = input["MaxResults"].as_i64().unwrap_or(100).clamp(1, 100);
            jobs.list_processing(input["StatusEquals"].as_str(), limit).await.map_err(jobs_error)?
        }
        "StopProcessingJob" => {
            let job = name("ProcessingJobName")?;
            let resource = arn(&format!("processing-job/{job}"));
            call.authorize("sagemaker:StopProcessingJob", &resource).await?;
            let stopped = jobs.stop_processing(&job).await.map_err(jobs_error);
            call.audit("sagemaker:StopProcessingJob", &resource, false, stopped.as_ref().err()).await;
            stopped?;
            json!({})
        }
        other => {
            if other == "Search" {
                crate::search::search(call, &input).await?
            } else if let Some(result) = crate::registry::handle(call, other, &input).await {
                result?
            } else if let Some(result) = crate::endpoints::handle(call, other, &input).await {
                result?
            } else {
                return Err(AwsError::bad_request(
                    "UnknownOperationException",
                    format!("trainyard does not implement SageMaker.{other} yet"),
                ));
            }
        }
    };
    Ok(answer(StatusCode::OK, "application/x-amz-json-1.1", output.to_string(), Protocol::Json, &call.request_id))
}

/// A jobs error as SageMaker words it.
pub(crate) fn jobs_error(error: trainyard_jobs::Error) -> AwsError {
    use trainyard_jobs::Error as Jobs;
    match &error {
        Jobs::Store(trainyard_store::Error::NotFound { .. }) => {
            AwsError::bad_request("ValidationException", "Requested resource not found.")
        }
        Jobs::Store(trainyard_store::Error::AlreadyExists { .. }) => {
            AwsError::bad_request("ResourceInUse", error.to_string())
        }
        Jobs::InvalidRequest { .. } | Jobs::WrongState { .. } | Jobs::Unsupported { .. } => {
            AwsError::bad_request("ValidationException", error.to_string())
        }
        Jobs::Objects(trainyard_objects::Error::InvalidUri { .. } | trainyard_objects::Error::InvalidBucket { .. }) => {
            AwsError::bad_request("ValidationException", error.to_string())
        }
        _ => {
            let id = uuid::Uuid::new_v4();
            tracing::error!(%error, %id, "internal error in SageMaker.*");
            AwsError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", format!("internal error {id}"))
        }
    }
}
