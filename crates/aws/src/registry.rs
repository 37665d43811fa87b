//! SageMaker's model registry operations (model package groups and packages), onto the
//! models service: a package's `InferenceSpecification` names its model artifact, its
//! approval raises the registry's usual state-change event.

use serde_json::{json, Map, Value};

use crate::protocol::AwsError;
use crate::Call;

fn arn(resource: &str) -> String {
    format!("arn:aws:sagemaker:{}:{}:{resource}", trainyard_identity::REGION, trainyard_identity::ACCOUNT)
}

/// `(group, version)` of a `ModelPackageName`/`ModelPackageArn`: `…:model-package/GROUP/N`.
fn package(text: &str) -> Result<(String, String), AwsError> {
    let path = text.rsplit_once(":model-package/").map_or(text, |(_, path)| path);
    path.rsplit_once('/').map(|(group, version)| (group.to_string(), version.to_string())).ok_or_else(|| {
        AwsError::bad_request("ValidationException", format!("{text:?} is not a versioned model package"))
    })
}

/// One registry call, if `operation` is one; `None` otherwise.
pub async fn handle(call: &Call<'_>, operation: &str, input: &Value) -> Option<Result<Value, AwsError>> {
    let models = &call.state.models;
    let field = |name: &str| -> Result<String, AwsError> {
        input[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| AwsError::bad_request("ValidationException", format!("{name} is required")))
    };
    let result = async {
        Ok(match operation {
            "CreateModelPackageGroup" => {
                let group = field("ModelPackageGroupName")?;
                let resource = arn(&format!("model-package-group/{group}"));
                call.authorize("sagemaker:CreateModelPackageGroup", &resource).await?;
                let mut request = Map::new();
                request.insert("ModelPackageGroupName".into(), json!(group));
                if let Some(description) = input["ModelPackageGroupDescription"].as_str() {
                    request.insert("ModelPackageGroupDescription".into(), json!(description));
                }
                let request = serde_json::from_value(Value::Object(request)).map_err(invalid)?;
                let created = models.create_group(request).await.map_err(models_error);
                call.audit("sagemaker:CreateModelPackageGroup", &resource, false, created.as_ref().err()).await;
                json!({"ModelPackageGroupArn": created?["ModelPackageGroupArn"]})
            }
            "DescribeModelPackageGroup" => {
                let group = field("ModelPackageGroupName")?;
                call.authorize("sagemaker:DescribeModelPackageGroup", &arn(&format!("model-package-group/{group}")))
                    .await?;
                models.describe_group(&group).await.map_err(models_error)?
            }
            "ListModelPackageGroups" => {
                call.authorize("sagemaker:ListModelPackageGroups", "*").await?;
                let mut listed = models.list_groups().await.map_err(models_error)?;
                for summary in listed["ModelPackageGroupSummaryList"].as_array_mut().into_iter().flatten() {
                    summary["ModelPackageGroupStatus"] = json!("Completed");
                }
                listed
            }
            "DeleteModelPackageGroup" => {
                let group = field("ModelPackageGroupName")?;
                let resource = arn(&format!("model-package-group/{group}"));
                call.authorize("sagemaker:DeleteModelPackageGroup", &resource).await?;
                let deleted = models.delete_group(&group, false).await.map_err(models_error);
                call.audit("sagemaker:DeleteModelPackageGroup", &resource, false, deleted.as_ref().err()).await;
                deleted?;
                json!({})
            }
            "CreateModelPackage" => {
                let group = field("ModelPackageGroupName")?;
                let resource = arn(&format!("model-package/{group}/*"));
                call.authorize("sagemaker:CreateModelPackage", &resource).await?;
                let request = serde_json::from_value(register_request(input, &group)).map_err(invalid)?;
                let created = models.register(request, &call.caller.identity.arn).await;
                let created = created.map_err(models_error);
                call.audit("sagemaker:CreateModelPackage", &resource, false, created.as_ref().err()).await;
                json!({"ModelPackageArn": created?["ModelPackageArn"]})
            }
            "DescribeModelPackage" => {
                let (group, version) = package(&field("ModelPackageName")?)?;
                call.authorize("sagemaker:DescribeModelPackage", &arn(&format!("model-package/{group}/{version}")))
                    .await?;
                package_shape(models.describe_version(&group, &version).await.map_err(models_error)?)
            }
            "ListModelPackages" => {
                let group = field("ModelPackageGroupName")?;
                call.authorize("sagemaker:ListModelPackages", &arn(&format!("model-package-group/{group}"))).await?;
                let mut listed = models.list_versions(&group).await.map_err(models_error)?;
                for summary in listed["ModelPackageSummaryList"].as_array_mut().into_iter().flatten() {
                    summary["ModelPackageStatus"] = json!("Completed");
                }
                listed
            }
            "UpdateModelPackage" => {
                let (group, version) = package(&field("ModelPackageArn")?)?;
                let resource = arn(&format!("model-package/{group}/{version}"));
                call.authorize("sagemaker:UpdateModelPackage", &resource).await?;
                let request = json!({"ModelApprovalStatus": field("ModelApprovalStatus")?,
                                     "ApprovalDescription": input["ApprovalDescription"].as_str().unwrap_or("")});
                let request = serde_json::from_value(request).map_err(invalid)?;
                let updated = models.update_status(&group, &version, request, &call.caller.identity.arn).await;
                let updated = updated.map_err(models_error);
                call.audit("sagemaker:UpdateModelPackage", &resource, false, updated.as_ref().err()).await;
                json!({"ModelPackageArn": updated?["ModelPackageArn"]})
            }
            _ => return Err(None),
        })
    }
    .await;
    match result {
        Ok(value) => Some(Ok(value)),
        Err(Some(error)) => Some(Err(error)),
        Err(None) => None,
    }
}

/// `CreateModelPackage` as the registry takes it: the first container's `ModelDataUrl`.
fn register_request(input: &Value, group: &str) -> Value {
    let model_data = input.pointer("/InferenceSpecification/Containers/0/ModelDataUrl").and_then(Value::as_str);
    let mut request = Map::new();
    request.insert("ModelPackageGroupName".into(), json!(group));
    request.insert("ModelDataUrl".into(), json!(model_data));
    for key in [
        "InferenceSpecification",
        "ModelMetrics",
        "CustomerMetadataProperties",
        "ModelApprovalStatus",
        "MetadataProperties",
    ] {
        if let Some(value) = input.get(key).filter(|v| !v.is_null()) {
            request.insert(key.into(), value.clone());
        }
    }
    Value::Object(request)
}

/// `DescribeModelPackage`'s output as botocore's model shapes it: the registry's own fields
/// that SageMaker has, with `CreatedBy`/`LastModifiedBy` as SageMaker's `UserContext`.
fn package_shape(described: Value) -> Value {
    const FIELDS: &[&str] = &[
        "ModelPackageName",
        "ModelPackageGroupName",
        "ModelPackageVersion",
        "ModelPackageArn",
        "ModelPackageDescription",
        "CreationTime",
        "InferenceSpecification",
        "ModelApprovalStatus",
        "ApprovalDescription",
        "CustomerMetadataProperties",
        "LastModifiedTime",
        "MetadataProperties",
        "ModelMetrics",
    ];
    let mut out = Map::new();
    for field in FIELDS {
        if let Some(value) = described.get(*field).filter(|v| !v.is_null()) {
            out.insert((*field).to_string(), value.clone());
        }
    }
    if !out.contains_key("ModelPackageName") {
        // A versioned package is named by its group, as on SageMaker.
        if let Some(group) = out.get("ModelPackageGroupName").cloned() {
            out.insert("ModelPackageName".into(), group);
        }
    }
    out.insert("ModelPackageStatus".into(), json!("Completed"));
    out.insert("ModelPackageStatusDetails".into(), json!({"ValidationStatuses": [], "ImageScanStatuses": []}));
    for by in ["CreatedBy", "LastModifiedBy"] {
        if let Some(who) = described.get(by).and_then(Value::as_str) {
            out.insert(by.into(), json!({"UserProfileName": who}));
        }
    }
    // Only what botocore's shapes allow: metadata values must be strings.
    if let Some(Value::Object(properties)) = out.get_mut("CustomerMetadataProperties") {
        for value in properties.values_mut() {
            if !value.is_string() {
                *value = json!(value.to_string());
            }
        }
    }
    if !out.get("ModelMetrics").is_some_and(Value::is_object) {
        out.remove("ModelMetrics");
    }
    if !out.get("MetadataProperties").is_some_and(Value::is_object) {
        out.remove("MetadataProperties");
    }
    Value::Object(out)
}

fn invalid(error: impl std::fmt::Display) -> AwsError {
    AwsError::bad_request("ValidationException", error.to_string())
}

/// A registry error as SageMaker words it (not found is `ValidationException`, as on AWS).
fn models_error(error: trainyard_models::Error) -> AwsError {
    use trainyard_models::Error as Models;
    match &error {
        Models::Store(trainyard_store::Error::NotFound { .. }) => {
            AwsError::bad_request("ValidationException", "Requested resource not found.")
        }
        Models::Store(trainyard_store::Error::AlreadyExists { .. } | trainyard_store::Error::InUse { .. }) => {
            AwsError::bad_request("ResourceInUse", error.to_string())
        }
        Models::Store(_) | Models::Io { .. } => {
            let id = uuid::Uuid::new_v4();
            tracing::error!(%error, %id, "internal error in the SageMaker registry");
            AwsError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                format!("internal error {id}"),
            )
        }
        _ => AwsError::bad_request("ValidationException", error.to_string()),
    }
}
