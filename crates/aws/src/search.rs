//! SageMaker `Search`: training jobs (and endpoints) whose description matches every filter
//! of the `SearchExpression`, and model cards, of which trainyard keeps none (the SDK's
//! `register()` asks for them). A filter's `Name` is a dotted path into the description
//! (`TrainingJobStatus`, `ModelArtifacts.S3ModelArtifacts`, `HyperParameters.eta`).

use serde_json::{json, Value};

use crate::protocol::AwsError;
use crate::Call;

/// The value at a dotted path of a description, if there is one.
fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, part| v.get(part)).filter(|v| !v.is_null())
}

fn text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_string)
}

/// Whether `item` passes one filter (`Equals`, `NotEquals`, `Contains`, `Exists`, `NotExists`).
fn passes(item: &Value, filter: &Value) -> Result<bool, AwsError> {
    let name = filter["Name"].as_str().unwrap_or_default();
    let wanted = filter["Value"].as_str().unwrap_or_default();
    let found = at(item, name);
    Ok(match filter["Operator"].as_str().unwrap_or("Equals") {
        "Equals" => found.is_some_and(|v| text(v) == wanted),
        "NotEquals" => found.is_none_or(|v| text(v) != wanted),
        "Contains" => found.is_some_and(|v| text(v).contains(wanted)),
        "Exists" => found.is_some(),
        "NotExists" => found.is_none(),
        other => {
            return Err(AwsError::bad_request(
                "ValidationException",
                format!("trainyard's Search takes Equals, NotEquals, Contains, Exists and NotExists, not {other}"),
            ))
        }
    })
}

fn matches(item: &Value, expression: &Value) -> Result<bool, AwsError> {
    let filters = expression["Filters"].as_array().map(Vec::as_slice).unwrap_or_default();
    let results = filters.iter().map(|f| passes(item, f)).collect::<Result<Vec<bool>, _>>()?;
    Ok(match expression["Operator"].as_str().unwrap_or("And") {
        "Or" => results.is_empty() || results.contains(&true),
        _ => results.iter().all(|r| *r),
    })
}

/// `Search`.
pub async fn search(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    call.authorize("sagemaker:Search", "*").await?;
    let expression = &input["SearchExpression"];
    let limit = input["MaxResults"].as_u64().unwrap_or(50).clamp(1, 100) as usize;
    let mut results = Vec::new();
    match input["Resource"].as_str().unwrap_or_default() {
        // trainyard keeps no model cards.
        "ModelCard" => {}
        "TrainingJob" => {
            let jobs = &call.state.jobs;
            let listed = jobs.list(None, 10_000).await.map_err(crate::sagemaker::jobs_error)?;
            for summary in listed["TrainingJobSummaries"].as_array().into_iter().flatten() {
                let name = summary["TrainingJobName"].as_str().unwrap_or_default();
                let Ok(described) = jobs.describe(name).await else { continue };
                if matches(&described, expression)? {
                    results.push(json!({"TrainingJob": described}));
                }
                if results.len() == limit {
                    break;
                }
            }
        }
        "Endpoint" => {
            let endpoints = &call.state.endpoints;
            let listed =
                endpoints.list().await.map_err(|e| AwsError::bad_request("ValidationException", e.to_string()))?;
            for summary in listed["Endpoints"].as_array().into_iter().flatten() {
                let name = summary["EndpointName"].as_str().unwrap_or_default();
                let Ok(described) = endpoints.describe(name).await else { continue };
                if matches(&described, expression)? {
                    results.push(json!({"Endpoint": described}));
                }
                if results.len() == limit {
                    break;
                }
            }
        }
        other => {
            return Err(AwsError::bad_request(
                "ValidationException",
                format!("trainyard's Search covers TrainingJob, Endpoint and ModelCard, not {other:?}"),
            ))
        }
    }
    Ok(json!({"Results": results}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_follow_dotted_paths() {
        let job = json!({"TrainingJobName": "a", "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tar.gz"},
                         "HyperParameters": {"eta": "0.1"}});
        let expression = |filters: Value| json!({"Filters": filters});
        let one =
            |name: &str, op: &str, value: &str| expression(json!([{"Name": name, "Operator": op, "Value": value}]));
        assert!(matches(&job, &one("ModelArtifacts.S3ModelArtifacts", "Equals", "s3://b/m.tar.gz")).unwrap());
        assert!(!matches(&job, &one("ModelArtifacts.S3ModelArtifacts", "Equals", "s3://b/x")).unwrap());
        assert!(matches(&job, &one("HyperParameters.eta", "Contains", "0.")).unwrap());
        assert!(matches(&job, &one("FailureReason", "NotExists", "")).unwrap());
        assert!(matches(&job, &one("TrainingJobName", "NotEquals", "b")).unwrap());
        assert!(matches(&job, &one("TrainingJobName", "GreaterThan", "b")).is_err());
        let either = json!({"Operator": "Or", "Filters": [{"Name": "TrainingJobName", "Value": "x"},
                                                         {"Name": "TrainingJobName", "Value": "a"}]});
        assert!(matches(&job, &either).unwrap());
    }
}
