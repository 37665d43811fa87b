//! SageMaker's serving control plane — models, endpoint configurations, endpoints and
//! resource tags — onto the endpoints service: `CreateEndpoint`/`UpdateEndpoint` deploy a
//! named configuration blue/green (with the `DeploymentConfig` given), as every deployment.

use serde_json::{json, Value};
use trainyard_endpoints::Error as Endpoints;

use crate::protocol::AwsError;
use crate::Call;

fn arn(resource: &str) -> String {
    format!("arn:aws:sagemaker:{}:{}:{resource}", trainyard_identity::REGION, trainyard_identity::ACCOUNT)
}

fn required<'a>(input: &'a Value, name: &str) -> Result<&'a str, AwsError> {
    input[name].as_str().ok_or_else(|| {
        AwsError::bad_request("ValidationException", format!("1 validation error detected: {name} is required"))
    })
}

/// `[{Key, Value}]` as pairs.
fn tags(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (t["Key"].as_str().unwrap_or_default().to_string(), t["Value"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

fn tags_json(tags: Vec<(String, String)>) -> Value {
    json!(tags.into_iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>())
}

fn limit(input: &Value) -> usize {
    input["MaxResults"].as_u64().unwrap_or(100).clamp(1, 100) as usize
}

/// One serving call, if `operation` is one; `None` otherwise.
pub async fn handle(call: &Call<'_>, operation: &str, input: &Value) -> Option<Result<Value, AwsError>> {
    let result = match operation {
        "CreateModel" | "CreateEndpointConfig" => create_definition(call, operation, input).await,
        "DescribeModel" => describe(call, "model", "ModelName", input).await,
        "DescribeEndpointConfig" => describe(call, "endpoint-config", "EndpointConfigName", input).await,
        "DeleteModel" => delete(call, "model", "ModelName", input).await,
        "DeleteEndpointConfig" => delete(call, "endpoint-config", "EndpointConfigName", input).await,
        "ListModels" => list(call, "model", "Models", input).await,
        "ListEndpointConfigs" => list(call, "endpoint-config", "EndpointConfigs", input).await,
        "CreateEndpoint" | "UpdateEndpoint" => deploy(call, operation, input).await,
        "DescribeEndpoint" => describe_endpoint(call, input).await,
        "DeleteEndpoint" => delete_endpoint(call, input).await,
        "ListEndpoints" => list_endpoints(call, input).await,
        "UpdateEndpointWeightsAndCapacities" => update_weights(call, input).await,
        "AddTags" | "ListTags" | "DeleteTags" => tag(call, operation, input).await,
        _ => return None,
    };
    Some(result)
}

async fn create_definition(call: &Call<'_>, operation: &str, input: &Value) -> Result<Value, AwsError> {
    let endpoints = &call.state.endpoints;
    let (name, resource) = if operation == "CreateModel" {
        let name = required(input, "ModelName")?;
        if let Some(role) = input["ExecutionRoleArn"].as_str() {
            call.pass_role(role, "sagemaker.amazonaws.com").await?;
        }
        (name, arn(&format!("model/{}", name.to_lowercase())))
    } else {
        let name = required(input, "EndpointConfigName")?;
        (name, arn(&format!("endpoint-config/{}", name.to_lowercase())))
    };
    let action = format!("sagemaker:{operation}");
    call.authorize(&action, &resource).await?;
    let created = match operation {
        "CreateModel" => endpoints.create_model(input).await,
        _ => endpoints.create_endpoint_config(input).await,
    }
    .map_err(|e| endpoints_error(e, name));
    if created.is_ok() {
        endpoints.add_tags(&resource, &tags(&input["Tags"])).await.map_err(|e| endpoints_error(e, name))?;
    }
    call.audit(&action, &resource, false, created.as_ref().err()).await;
    created
}

async fn describe(call: &Call<'_>, kind: &'static str, field: &str, input: &Value) -> Result<Value, AwsError> {
    let name = required(input, field)?;
    let action = if kind == "model" { "sagemaker:DescribeModel" } else { "sagemaker:DescribeEndpointConfig" };
    call.authorize(action, &arn(&format!("{kind}/{}", name.to_lowercase()))).await?;
    call.state.endpoints.describe_definition(kind, name).await.map_err(|e| endpoints_error(e, name))
}

async fn delete(call: &Call<'_>, kind: &'static str, field: &str, input: &Value) -> Result<Value, AwsError> {
    let name = required(input, field)?;
    let action = if kind == "model" { "sagemaker:DeleteModel" } else { "sagemaker:DeleteEndpointConfig" };
    let resource = arn(&format!("{kind}/{}", name.to_lowercase()));
    call.authorize(action, &resource).await?;
    let deleted = call.state.endpoints.delete_definition(kind, name).await.map_err(|e| endpoints_error(e, name));
    call.audit(action, &resource, false, deleted.as_ref().err()).await;
    deleted.map(|()| json!({}))
}

async fn list(call: &Call<'_>, kind: &'static str, field: &str, input: &Value) -> Result<Value, AwsError> {
    let action = if kind == "model" { "sagemaker:ListModels" } else { "sagemaker:ListEndpointConfigs" };
    call.authorize(action, "*").await?;
    let contains = input["NameContains"].as_str().unwrap_or("");
    let found = call.state.endpoints.list_definitions(kind, contains, limit(input)).await;
    Ok(json!({field: found.map_err(|e| endpoints_error(e, contains))?}))
}

async fn deploy(call: &Call<'_>, operation: &str, input: &Value) -> Result<Value, AwsError> {
    let (name, config) = (required(input, "EndpointName")?, required(input, "EndpointConfigName")?);
    let resource = arn(&format!("endpoint/{}", name.to_lowercase()));
    let action = format!("sagemaker:{operation}");
    call.authorize(&action, &resource).await?;
    let endpoints = &call.state.endpoints;
    let deployment = input.get("DeploymentConfig").cloned();
    let by = &call.caller.identity.arn;
    let deployed = match operation {
        "CreateEndpoint" => endpoints.create_endpoint(name, config, deployment, by).await,
        _ => endpoints.update_endpoint(name, config, deployment, by).await,
    }
    .map_err(|e| endpoints_error(e, name));
    if deployed.is_ok() {
        endpoints.add_tags(&resource, &tags(&input["Tags"])).await.map_err(|e| endpoints_error(e, name))?;
    }
    call.audit(&action, &resource, false, deployed.as_ref().err()).await;
    Ok(json!({"EndpointArn": deployed?["EndpointArn"]}))
}

async fn describe_endpoint(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let name = required(input, "EndpointName")?;
    call.authorize("sagemaker:DescribeEndpoint", &arn(&format!("endpoint/{}", name.to_lowercase()))).await?;
    let mut described = call.state.endpoints.describe(name).await.map_err(|e| endpoints_error(e, name))?;
    // botocore's model gives ProductionVariants a minimum length of 1: while creating, none.
    if described["ProductionVariants"].as_array().is_some_and(Vec::is_empty) {
        described.as_object_mut().map(|m| m.remove("ProductionVariants"));
    }
    Ok(described)
}

async fn delete_endpoint(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let name = required(input, "EndpointName")?;
    let resource = arn(&format!("endpoint/{}", name.to_lowercase()));
    call.authorize("sagemaker:DeleteEndpoint", &resource).await?;
    let deleted = call.state.endpoints.delete(name).await.map_err(|e| endpoints_error(e, name));
    call.audit("sagemaker:DeleteEndpoint", &resource, false, deleted.as_ref().err()).await;
    deleted.map(|()| json!({}))
}

async fn list_endpoints(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    call.authorize("sagemaker:ListEndpoints", "*").await?;
    let mut listed = call.state.endpoints.list().await.map_err(|e| endpoints_error(e, ""))?;
    let contains = input["NameContains"].as_str().unwrap_or("").to_lowercase();
    let status = input["StatusEquals"].as_str();
    if let Some(all) = listed["Endpoints"].as_array_mut() {
        all.retain(|e| {
            e["EndpointName"].as_str().is_some_and(|n| n.to_lowercase().contains(&contains))
                && status.is_none_or(|s| e["EndpointStatus"] == s)
        });
        all.truncate(limit(input));
    }
    Ok(listed)
}

async fn update_weights(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let name = required(input, "EndpointName")?;
    let resource = arn(&format!("endpoint/{}", name.to_lowercase()));
    call.authorize("sagemaker:UpdateEndpointWeightsAndCapacities", &resource).await?;
    let weights: Vec<(String, f64)> = input["DesiredWeightsAndCapacities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| Some((w["VariantName"].as_str()?.to_string(), w["DesiredWeight"].as_f64()?)))
        .collect();
    let updated = call.state.endpoints.update_weights(name, &weights).await.map_err(|e| endpoints_error(e, name));
    call.audit("sagemaker:UpdateEndpointWeightsAndCapacities", &resource, false, updated.as_ref().err()).await;
    Ok(json!({"EndpointArn": updated?["EndpointArn"]}))
}

async fn tag(call: &Call<'_>, operation: &str, input: &Value) -> Result<Value, AwsError> {
    let resource = required(input, "ResourceArn")?;
    if !resource.starts_with("arn:aws:sagemaker:") {
        return Err(AwsError::bad_request("ValidationException", format!("{resource:?} is not a SageMaker ARN")));
    }
    let action = format!("sagemaker:{operation}");
    call.authorize(&action, resource).await?;
    let endpoints = &call.state.endpoints;
    let error = |e| endpoints_error(e, resource);
    match operation {
        "AddTags" => {
            let added = tags(&input["Tags"]);
            let done = endpoints.add_tags(resource, &added).await.map_err(error);
            call.audit(&action, resource, false, done.as_ref().err()).await;
            done.map(|()| json!({"Tags": tags_json(added)}))
        }
        "ListTags" => Ok(json!({"Tags": tags_json(endpoints.list_tags(resource).await.map_err(error)?)})),
        _ => {
            let keys: Vec<String> = input["TagKeys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| Some(k.as_str()?.to_string()))
                .collect();
            let done = endpoints.delete_tags(resource, &keys).await.map_err(error);
            call.audit(&action, resource, false, done.as_ref().err()).await;
            done.map(|()| json!({}))
        }
    }
}

/// An endpoints error as SageMaker words it: what is missing is `ValidationException`
/// ("Could not find …"), a name taken `ResourceInUse`.
fn endpoints_error(error: Endpoints, name: &str) -> AwsError {
    use trainyard_store::Error as Store;
    match &error {
        Endpoints::Store(Store::NotFound { kind, .. }) => {
            AwsError::bad_request("ValidationException", format!("Could not find {kind} \"{name}\"."))
        }
        Endpoints::Store(Store::AlreadyExists { kind, .. }) => {
            AwsError::bad_request("ResourceInUse", format!("Cannot create already existing {kind} \"{name}\"."))
        }
        Endpoints::InvalidRequest { .. }
        | Endpoints::WrongState { .. }
        | Endpoints::VariantNotFound { .. }
        | Endpoints::Load { .. }
        | Endpoints::Registry(
            trainyard_models::Error::Store(Store::NotFound { .. }) | trainyard_models::Error::InvalidRequest { .. },
        ) => AwsError::bad_request("ValidationException", error.to_string()),
        _ => {
            let id = uuid::Uuid::new_v4();
            tracing::error!(%error, %id, "internal error in SageMaker serving");
            AwsError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                format!("internal error {id}"),
            )
        }
    }
}
