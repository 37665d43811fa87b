//! AWS Lambda's API (rest-json, `/2015-03-31/functions…`), onto the bus's functions:
//! CreateFunction (a `ZipFile` or an S3 object), GetFunction, GetFunctionConfiguration,
//! ListFunctions, UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction, Invoke
//! (`RequestResponse`, `Event`, `DryRun`; `LogType: Tail`) and AddPermission/GetPolicy
//! (the function's resource policy).

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Value};
use trainyard_bus::{FunctionRequest, FunctionUpdate};
use trainyard_store::Function;

use crate::protocol::AwsError;
use crate::signed::header as find;
use crate::Call;

/// Lambda's limit on an `Event` invocation's payload.
const MAX_ASYNC_PAYLOAD: usize = 256 * 1024;

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{}:{}:function:{name}", trainyard_identity::REGION, trainyard_identity::ACCOUNT)
}

fn not_found(name: &str) -> AwsError {
    AwsError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!("Function not found: {}", function_arn(name)),
    )
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::bad_request("InvalidParameterValueException", message)
}

fn bus_error(error: trainyard_bus::Error, name: &str) -> AwsError {
    use trainyard_bus::Error as Bus;
    match error {
        Bus::Store(trainyard_store::Error::NotFound { .. }) => not_found(name),
        Bus::Store(trainyard_store::Error::AlreadyExists { .. }) => {
            AwsError::new(StatusCode::CONFLICT, "ResourceConflictException", format!("Function already exist: {name}"))
        }
        Bus::Store(trainyard_store::Error::InUse { reason, .. }) => {
            AwsError::new(StatusCode::CONFLICT, "ResourceConflictException", reason)
        }
        Bus::Store(other) => crate::identity_error(trainyard_identity::Error::from(other)),
        other => invalid(other.to_string()),
    }
}

/// `FunctionConfiguration` as Lambda answers it.
fn configuration(function: &Function) -> Value {
    let mut out = json!({
        "FunctionName": function.function_name, "FunctionArn": function.function_arn,
        "Description": function.description, "Timeout": function.timeout, "Version": "$LATEST",
        "State": "Active", "LastUpdateStatus": "Successful", "PackageType": "Zip", "Architectures": ["x86_64"],
        "Environment": {"Variables": function.environment},
    });
    if let Some(role) = &function.role {
        out["Role"] = json!(role);
    }
    match &function.lambda {
        Some(lambda) => {
            out["Runtime"] = json!(lambda.runtime);
            out["Handler"] = json!(lambda.handler);
            out["CodeSha256"] = json!(lambda.code_sha256);
            out["CodeSize"] = json!(lambda.code_size);
            out["MemorySize"] = json!(lambda.memory_size);
            out["LastModified"] = json!(lambda.last_modified.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string());
        }
        None => {
            out["Runtime"] = json!("provided");
            out["Handler"] = json!(function.command);
            out["LastModified"] = json!(function.creation_time.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string());
        }
    }
    out
}

/// The code a request gives: its `ZipFile`, or the S3 object it names, base64.
async fn code(call: &Call<'_>, code: &Value) -> Result<Option<String>, AwsError> {
    if let Some(zip) = code["ZipFile"].as_str() {
        return Ok(Some(zip.to_string()));
    }
    let (Some(bucket), Some(key)) = (code["S3Bucket"].as_str(), code["S3Key"].as_str()) else { return Ok(None) };
    call.authorize("s3:GetObject", &format!("arn:aws:s3:::{bucket}/{key}")).await?;
    let (_, mut stream) = call
        .state
        .objects
        .get(bucket, key, None)
        .await
        .map_err(|e| invalid(format!("Error occurred while GetObject. S3 Error Code: NoSuchKey. {e}")))?;
    let mut bytes = Vec::new();
    use futures::StreamExt;
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(|e| invalid(e.to_string()))?);
        if bytes.len() > 50 * 1024 * 1024 {
            return Err(invalid("the code object is larger than 50 MB"));
        }
    }
    Ok(Some(base64::engine::general_purpose::STANDARD.encode(bytes)))
}

fn variables(input: &Value) -> Option<std::collections::BTreeMap<String, String>> {
    input["Environment"]["Variables"].as_object().map(|vars| {
        vars.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect()
    })
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// One Lambda call: `path` below `/2015-03-31/functions`.
pub async fn handle(
    call: &Call<'_>,
    method: &Method,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Response, AwsError> {
    // Put and Delete live under 2017-10-31, Get under 2019-09-30.
    if let Some(rest) =
        path.strip_prefix("/2017-10-31/functions/").or_else(|| path.strip_prefix("/2019-09-30/functions/"))
    {
        if let Some(name) = rest.strip_suffix("/concurrency") {
            let name = crate::s3::decode_percent(name).unwrap_or_default();
            return concurrency(call, method, &name, body).await;
        }
    }
    let rest = path.strip_prefix("/2015-03-31/functions").ok_or_else(|| {
        AwsError::new(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!("trainyard does not implement lambda {method} {path}"),
        )
    })?;
    let parts: Vec<String> =
        rest.split('/').filter(|p| !p.is_empty()).map(|p| crate::s3::decode_percent(p).unwrap_or_default()).collect();
    let input = || -> Result<Value, AwsError> {
        if body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(body).map_err(|e| invalid(format!("the body is not JSON: {e}")))
    };
    match (method.as_str(), parts.iter().map(String::as_str).collect::<Vec<_>>().as_slice()) {
        ("POST", []) => create(call, &input()?).await,
        ("GET", []) => {
            call.authorize("lambda:ListFunctions", "*").await?;
            let functions = call.state.bus.store().list_functions().await.map_err(|e| bus_error(e.into(), ""))?;
            let listed: Vec<Value> = functions.iter().map(configuration).collect();
            Ok(json_response(StatusCode::OK, &json!({"Functions": listed})))
        }
        ("GET", [name]) | ("GET", [name, "configuration"]) => {
            call.authorize("lambda:GetFunction", &function_arn(name)).await?;
            let function = call.state.bus.store().get_function(name).await.map_err(|e| bus_error(e.into(), name))?;
            let answer = if parts.len() == 1 {
                json!({"Configuration": configuration(&function), "Code": {"RepositoryType": "S3", "Location": ""}})
            } else {
                configuration(&function)
            };
            Ok(json_response(StatusCode::OK, &answer))
        }
        ("PUT", [name, "code"]) | ("PUT", [name, "configuration"]) => {
            update(call, name, parts.len() == 2 && parts[1] == "code", &input()?).await
        }
        ("DELETE", [name]) => {
            let arn = function_arn(name);
            call.authorize("lambda:DeleteFunction", &arn).await?;
            let deleted = call.state.bus.delete_function(name).await.map_err(|e| bus_error(e, name));
            call.audit("lambda:DeleteFunction", &arn, false, deleted.as_ref().err()).await;
            deleted?;
            let _ = call.state.identities.delete_resource_policy(&arn).await;
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok(response)
        }
        ("POST", [name, "invocations"]) => invoke(call, name, headers, body).await,
        ("POST", [name, "policy"]) => add_permission(call, name, &input()?).await,
        ("GET", [name, "policy"]) => {
            let arn = function_arn(name);
            call.authorize("lambda:GetPolicy", &arn).await?;
            let document = call.state.identities.resource_policy_document(&arn).ok_or_else(|| {
                AwsError::new(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFoundException",
                    "The resource you requested does not exist.",
                )
            })?;
            Ok(json_response(StatusCode::OK, &json!({"Policy": document, "RevisionId": "1"})))
        }
        _ => Err(AwsError::new(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!("trainyard does not implement lambda {method} {path}"),
        )),
    }
}

async fn create(call: &Call<'_>, input: &Value) -> Result<Response, AwsError> {
    let name = input["FunctionName"].as_str().ok_or_else(|| invalid("FunctionName is required"))?;
    let arn = function_arn(name);
    call.authorize("lambda:CreateFunction", &arn).await?;
    let role = input["Role"].as_str().ok_or_else(|| invalid("Role is required"))?;
    call.pass_role(role, "lambda.amazonaws.com").await?;
    let request = FunctionRequest {
        function_name: name.to_string(),
        environment: variables(input).unwrap_or_default(),
        timeout: input["Timeout"].as_u64().unwrap_or(3) as u32,
        description: input["Description"].as_str().unwrap_or_default().to_string(),
        role: Some(role.to_string()),
        runtime: Some(input["Runtime"].as_str().unwrap_or("provided").to_string()),
        handler: input["Handler"].as_str().map(str::to_string),
        zip_file: code(call, &input["Code"]).await?,
        memory_size: input["MemorySize"].as_u64().map(|m| m as u32),
        ..Default::default()
    };
    let created = call.state.bus.create_function(&request).await.map_err(|e| bus_error(e, name));
    call.audit("lambda:CreateFunction", &arn, false, created.as_ref().err()).await;
    Ok(json_response(StatusCode::CREATED, &configuration(&created?)))
}

async fn update(call: &Call<'_>, name: &str, code_update: bool, input: &Value) -> Result<Response, AwsError> {
    let arn = function_arn(name);
    let action = if code_update { "lambda:UpdateFunctionCode" } else { "lambda:UpdateFunctionConfiguration" };
    call.authorize(action, &arn).await?;
    let mut update = FunctionUpdate::default();
    if code_update {
        update.zip_file = code(call, input).await?;
        if update.zip_file.is_none() {
            return Err(invalid("give ZipFile or S3Bucket and S3Key"));
        }
    } else {
        if let Some(role) = input["Role"].as_str() {
            call.pass_role(role, "lambda.amazonaws.com").await?;
            update.role = Some(role.to_string());
        }
        update.runtime = input["Runtime"].as_str().map(str::to_string);
        update.handler = input["Handler"].as_str().map(str::to_string);
        update.environment = variables(input);
        update.timeout = input["Timeout"].as_u64().map(|t| t as u32);
        update.memory_size = input["MemorySize"].as_u64().map(|m| m as u32);
        update.description = input["Description"].as_str().map(str::to_string);
    }
    let updated = call.state.bus.update_function(name, &update).await.map_err(|e| bus_error(e, name));
    call.audit(action, &arn, false, updated.as_ref().err()).await;
    Ok(json_response(StatusCode::OK, &configuration(&updated?)))
}

async fn invoke(call: &Call<'_>, name: &str, headers: &[(String, String)], body: &[u8]) -> Result<Response, AwsError> {
    let arn = function_arn(name);
    call.authorize("lambda:InvokeFunction", &arn).await?;
    call.audit("lambda:InvokeFunction", &arn, false, None).await;
    let event: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            AwsError::bad_request(
                "InvalidRequestContentException",
                format!("Could not parse request body into json: {e}"),
            )
        })?
    };
    let bus = call.state.bus.clone();
    let invocation_type = find(headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    if invocation_type != "RequestResponse" {
        // (A RequestResponse invocation finds the function itself.)
        bus.store().get_function(name).await.map_err(|e| bus_error(e.into(), name))?;
    }
    let mut response = match invocation_type {
        "DryRun" => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        "Event" => {
            if body.len() > MAX_ASYNC_PAYLOAD {
                return Err(AwsError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLargeException",
                    format!("an Event invocation's payload is at most {MAX_ASYNC_PAYLOAD} bytes"),
                ));
            }
            let name = name.to_string();
            tokio::spawn(async move {
                if let Err(e) = bus.invoke_function(&name, &event).await {
                    tracing::warn!(function = %name, error = %e, "an Event invocation failed to start");
                }
            });
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::ACCEPTED;
            response
        }
        "RequestResponse" => {
            let outcome = bus.invoke_function(name, &event).await.map_err(|e| bus_error(e, name))?;
            let mut response = match &outcome.result {
                Ok(value) => json_response(StatusCode::OK, value),
                Err(failure) => {
                    let document: Value = serde_json::from_str(&failure.message)
                        .unwrap_or_else(|_| json!({"errorMessage": failure.message, "errorType": failure.code}));
                    let mut response = json_response(StatusCode::OK, &document);
                    response.headers_mut().insert("x-amz-function-error", HeaderValue::from_static("Unhandled"));
                    response
                }
            };
            if find(headers, "x-amz-log-type") == Some("Tail") {
                let logs = outcome.logs.as_bytes();
                let tail = &logs[logs.len().saturating_sub(4096)..];
                let encoded = base64::engine::general_purpose::STANDARD.encode(tail);
                if let Ok(value) = HeaderValue::from_str(&encoded) {
                    response.headers_mut().insert("x-amz-log-result", value);
                }
            }
            response
        }
        other => return Err(invalid(format!("X-Amz-Invocation-Type {other:?}: RequestResponse, Event or DryRun"))),
    };
    response.headers_mut().insert("x-amz-executed-version", HeaderValue::from_static("$LATEST"));
    Ok(response)
}

/// `AddPermission`: a statement on the function's resource policy (EventBridge rules may
/// invoke it, say).
async fn add_permission(call: &Call<'_>, name: &str, input: &Value) -> Result<Response, AwsError> {
    let arn = function_arn(name);
    call.authorize("lambda:AddPermission", &arn).await?;
    call.state.bus.store().get_function(name).await.map_err(|e| bus_error(e.into(), name))?;
    let field = |key: &str| input[key].as_str().ok_or_else(|| invalid(format!("{key} is required")));
    let principal = field("Principal")?;
    let principal =
        if principal.ends_with(".amazonaws.com") { json!({"Service": principal}) } else { json!({"AWS": principal}) };
    let mut statement = json!({"Sid": field("StatementId")?, "Effect": "Allow", "Principal": principal,
                               "Action": field("Action")?, "Resource": arn});
    if let Some(source) = input["SourceArn"].as_str() {
        statement["Condition"] = json!({"ArnLike": {"AWS:SourceArn": source}});
    }
    let identities = &call.state.identities;
    let mut policy: Value = identities
        .resource_policy_document(&arn)
        .and_then(|d| serde_json::from_str(&d).ok())
        .unwrap_or_else(|| json!({"Version": "2012-10-17", "Id": "default", "Statement": []}));
    let statements =
        policy["Statement"].as_array_mut().ok_or_else(|| invalid("the stored policy has no statements"))?;
    if statements.iter().any(|s| s["Sid"] == statement["Sid"]) {
        return Err(AwsError::new(
            StatusCode::CONFLICT,
            "ResourceConflictException",
            format!("The statement id ({}) provided already exists.", statement["Sid"].as_str().unwrap_or_default()),
        ));
    }
    statements.push(statement.clone());
    let put = identities.put_resource_policy(&arn, &policy.to_string()).await.map_err(crate::identity_error);
    call.audit("lambda:AddPermission", &arn, false, put.as_ref().err()).await;
    put?;
    Ok(json_response(StatusCode::CREATED, &json!({"Statement": statement.to_string()})))
}

/// `PutFunctionConcurrency`, `GetFunctionConcurrency`, `DeleteFunctionConcurrency`: at most
/// this many of the function's environments (invocations at once).
async fn concurrency(call: &Call<'_>, method: &Method, name: &str, body: &[u8]) -> Result<Response, AwsError> {
    let arn = function_arn(name);
    let current = |function: &Function| function.lambda.as_ref().and_then(|l| l.reserved_concurrency);
    if method == Method::GET {
        call.authorize("lambda:GetFunctionConcurrency", &arn).await?;
        let function = call.state.bus.store().get_function(name).await.map_err(|e| bus_error(e.into(), name))?;
        let answer = match current(&function) {
            Some(n) => json!({"ReservedConcurrentExecutions": n}),
            None => json!({}),
        };
        return Ok(json_response(StatusCode::OK, &answer));
    }
    let (action, reserved) = if method == Method::PUT {
        let input: Value = serde_json::from_slice(body).map_err(|e| invalid(format!("the body is not JSON: {e}")))?;
        let n = input["ReservedConcurrentExecutions"]
            .as_u64()
            .ok_or_else(|| invalid("ReservedConcurrentExecutions is required"))?;
        ("lambda:PutFunctionConcurrency", Some(n as u32))
    } else if method == Method::DELETE {
        ("lambda:DeleteFunctionConcurrency", None)
    } else {
        return Err(AwsError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnknownOperationException",
            "concurrency: GET, PUT, DELETE",
        ));
    };
    call.authorize(action, &arn).await?;
    let update = FunctionUpdate { reserved_concurrency: Some(reserved), ..Default::default() };
    let updated = call.state.bus.update_function(name, &update).await.map_err(|e| bus_error(e, name));
    call.audit(action, &arn, false, updated.as_ref().err()).await;
    let updated = updated?;
    if method == Method::DELETE {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        return Ok(response);
    }
    Ok(json_response(StatusCode::OK, &json!({"ReservedConcurrentExecutions": current(&updated)})))
}
