//! The AWS API facade: one listener speaking the wire protocols boto3, the aws CLI and
//! the SageMaker SDK use, so code written for AWS runs unchanged with `AWS_ENDPOINT_URL`
//! pointed here. A request is verified by its SigV4 signature (`signed.rs`), dispatched by
//! its credential scope's service, authorized by the caller's policies with the literal AWS
//! action names, audited, and translated onto trainyard's services.
//!
//! This crate is a protocol front: it parses, authorizes, calls the services and writes the
//! protocol's answer. It must never hold a business rule of its own, touch the store, or
//! answer an unsigned or badly signed request with anything but the error AWS gives.

mod bucket_policy;
mod ecr;
mod endpoints;
mod events;
mod events_resources;
mod iam;
mod lambda;
mod lambda_logs;
mod logs;
pub mod operations;
mod protocol;
mod registry;
mod runtime;
mod s3;
mod s3_attributes;
mod sagemaker;
mod search;
mod signed;
mod sts;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use chrono::Utc;
use trainyard_identity::{AccessRequest, AuditEntry, AuditTrail, Identities, RequestFacts};

pub use protocol::{AwsError, Protocol};
pub use signed::Caller;

/// The largest body the facade buffers (InvokeEndpoint's limit; S3 object bodies stream
/// instead).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// The largest Lambda request (CreateFunction's `ZipFile` of 50 MB, base64).
pub const MAX_LAMBDA_BODY_BYTES: usize = 70 * 1024 * 1024;

/// Bytes of not-yet-verified bodies buffered at once, across every connection.
pub const UNVERIFIED_BUDGET_BYTES: usize = 96 * 1024 * 1024;

/// What the facade calls. Cheap to clone.
#[derive(Clone)]
pub struct AwsState {
    pub identities: Identities,
    pub audit: AuditTrail,
    pub jobs: trainyard_jobs::Jobs,
    pub bus: trainyard_bus::EventBus,
    pub objects: trainyard_objects::Objects,
    pub endpoints: trainyard_endpoints::Endpoints,
    pub models: trainyard_models::Registry,
    /// The OCI registry (ECR's repositories and images).
    pub registry: trainyard_registry::Registry,
    /// Where the registry answers `/v2/` (the HTTP API's URL): ECR's `proxyEndpoint`, and
    /// the host of every `repositoryUri`.
    pub registry_url: String,
    /// Invariant: bodies are buffered before their signature can be checked only within
    /// this budget ([`UNVERIFIED_BUDGET_BYTES`]); past it, callers are told to slow down.
    pub unverified: std::sync::Arc<tokio::sync::Semaphore>,
}

impl AwsState {
    /// The budget of unverified bodies, full.
    pub fn budget() -> std::sync::Arc<tokio::sync::Semaphore> {
        std::sync::Arc::new(tokio::sync::Semaphore::new(UNVERIFIED_BUDGET_BYTES))
    }
}

/// Every AWS request: one handler that dispatches by the signature's scope.
pub fn router(state: AwsState) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// One verified call, as a service handler sees it.
pub struct Call<'a> {
    pub state: &'a AwsState,
    pub caller: Caller,
    pub request_id: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Call<'_> {
    /// Decides `action` on `resource` for the caller; a denial is `AccessDenied` (and
    /// audited).
    pub async fn authorize(&self, action: &str, resource: &str) -> Result<(), AwsError> {
        self.authorize_with(action, resource, self.facts()).await
    }

    /// What conditions may test of this call: the client's address.
    pub fn facts(&self) -> RequestFacts {
        RequestFacts { source_ip: self.source_ip.clone(), ..Default::default() }
    }

    /// [`Call::authorize`] with `facts` (tags a request puts, tags of what it acts on).
    pub async fn authorize_with(&self, action: &str, resource: &str, facts: RequestFacts) -> Result<(), AwsError> {
        let identity = &self.caller.identity;
        if identity.is_root() {
            return Ok(());
        }
        let policy = self.state.identities.resource_policy(action, resource);
        let request = AccessRequest { action, resource, facts: &facts, resource_policy: policy.as_deref() };
        let decision = self.state.identities.authorize(identity, &request, Utc::now());
        if decision.is_allowed() {
            return Ok(());
        }
        // AWS's json services say AccessDeniedException; query and S3, AccessDenied.
        let code = match Protocol::of(&self.caller.service) {
            Protocol::Json | Protocol::RestJson => "AccessDeniedException",
            _ => "AccessDenied",
        };
        let error =
            AwsError::new(StatusCode::FORBIDDEN, code, decision.denial_message(&identity.arn, action, resource));
        self.audit(action, resource, false, Some(&error)).await;
        Err(error)
    }

    /// A call that names a role for `service` to act as: `iam:PassRole` and the role's
    /// trust, as the `/api/v1` guard checks them.
    pub async fn pass_role(&self, role: &str, service: &str) -> Result<(), AwsError> {
        let checked =
            self.state.identities.check_pass_role(&self.caller.identity, role, service).map_err(identity_error);
        if let Err(error) = &checked {
            self.audit("iam:PassRole", role, false, Some(error)).await;
        }
        checked
    }

    /// Records the call in the audit trail.
    pub async fn audit(&self, action: &str, resource: &str, read_only: bool, error: Option<&AwsError>) {
        let entry = AuditEntry {
            time: Utc::now(),
            identity: Some(self.caller.identity.clone()),
            subject: None,
            action: action.to_string(),
            source_ip: self.source_ip.clone(),
            user_agent: self.user_agent.clone(),
            request_parameters: serde_json::json!({}),
            response_elements: None,
            error_code: error.map(|e| e.code.clone()),
            error_message: error.map(|e| e.message.clone()),
            request_id: self.request_id.clone(),
            read_only,
            data_event: is_data_event(action),
            resources: vec![resource.to_string()],
        };
        self.state.audit.record(entry).await;
    }
}

/// CloudTrail's data events (object reads and writes, invocations, events put): stored in
/// the trail, not published on the bus.
fn is_data_event(action: &str) -> bool {
    matches!(
        action,
        "s3:PutObject"
            | "s3:GetObject"
            | "s3:DeleteObject"
            | "s3:AbortMultipartUpload"
            | "sagemaker:InvokeEndpoint"
            | "events:PutEvents"
            | "lambda:InvokeFunction"
    )
}

/// A query-protocol form body (`Action=…&Version=…&…`).
pub struct Form {
    fields: BTreeMap<String, String>,
}

impl Form {
    /// Parses `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte).
    pub fn parse(body: &[u8]) -> Result<Form, AwsError> {
        let text = std::str::from_utf8(body).map_err(|_| malformed())?;
        let decode = |part: &str| s3::decode_percent(&part.replace('+', " ")).ok_or_else(malformed);
        let mut fields = BTreeMap::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            fields.insert(decode(name)?, decode(value)?);
        }
        Ok(Form { fields })
    }

    pub fn action(&self) -> &str {
        self.get("Action").unwrap_or("")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn required(&self, name: &str) -> Result<&str, AwsError> {
        self.get(name).ok_or_else(|| {
            AwsError::bad_request("MissingParameter", format!("The request must contain the parameter {name}"))
        })
    }
}

fn malformed() -> AwsError {
    AwsError::bad_request("MalformedQueryString", "the request body is not a form")
}

/// An identity service error as AWS words it.
pub fn identity_error(error: trainyard_identity::Error) -> AwsError {
    use trainyard_identity::Error as Identity;
    match error {
        Identity::AccessDenied(message) => AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", message),
        Identity::NoSuchEntity { .. } => AwsError::new(StatusCode::NOT_FOUND, "NoSuchEntity", error.to_string()),
        Identity::EntityAlreadyExists { .. } => {
            AwsError::new(StatusCode::CONFLICT, "EntityAlreadyExists", error.to_string())
        }
        Identity::DeleteConflict { .. } => AwsError::new(StatusCode::CONFLICT, "DeleteConflict", error.to_string()),
        Identity::MalformedPolicyDocument(_) => AwsError::bad_request("MalformedPolicyDocument", error.to_string()),
        Identity::InvalidInput(message) => AwsError::bad_request("ValidationError", message),
        Identity::ExpiredToken => AwsError::bad_request("ExpiredToken", error.to_string()),
        Identity::MissingCredentials | Identity::InvalidClientTokenId => {
            AwsError::new(StatusCode::FORBIDDEN, "InvalidClientTokenId", error.to_string())
        }
        other => {
            let id = uuid::Uuid::new_v4();
            tracing::error!(error = %other, %id, "internal error in the AWS facade");
            AwsError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", format!("internal error {id}"))
        }
    }
}

async fn dispatch(State(state): State<AwsState>, request: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let auth = match trainyard_sigv4::parse(&headers, query) {
        Ok(Some(auth)) => auth,
        Ok(None) => {
            let error = AwsError::new(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            );
            return error.respond(Protocol::Json, &request_id);
        }
        Err(e) => {
            let error =
                AwsError::bad_request("IncompleteSignature", format!("the request's signature is malformed: {e}"));
            return error.respond(Protocol::Json, &request_id);
        }
    };
    let protocol = Protocol::of(&auth.service);
    let call = |caller| Call {
        state: &state,
        caller,
        request_id: request_id.clone(),
        source_ip: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()),
        user_agent: signed::header(&headers, "user-agent").map(str::to_string),
    };
    // S3 bodies stream (checked as they pass); every other service's body is small and
    // buffered, its hash part of the signature.
    if auth.service == "s3" {
        let signed = signed::Parts { method: parts.method.as_str(), path, query, headers: &headers, body: None };
        let (caller, verified) = match signed::verify(&state.identities, &auth, &signed) {
            Ok(verified) => verified,
            Err(error) => return error.respond(protocol, &request_id),
        };
        let request = s3::S3Request {
            method: &parts.method,
            path,
            query: axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
                .map(|q| q.0)
                .unwrap_or_default(),
            headers: &headers,
        };
        let call = call(caller);
        return s3::handle(&call, &request, &auth, &verified, Body::new(body))
            .await
            .unwrap_or_else(|error| error.respond(protocol, &request_id));
    }
    // A key this server does not know is refused before its body is read; a body is read
    // only with a declared length within the limit and the shared budget.
    if let Err(error) = signed::known_key(&state.identities, &auth) {
        return error.respond(protocol, &request_id);
    }
    let declared =
        parts.headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let too_large = || AwsError::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", "the body is too large");
    // Lambda's code travels in the body (`ZipFile`, up to 50 MB as base64).
    let limit = if auth.service == "lambda" { MAX_LAMBDA_BODY_BYTES } else { MAX_BODY_BYTES };
    let length = match declared {
        Some(length) if length <= limit => length,
        Some(_) => return too_large().respond(protocol, &request_id),
        None => limit,
    };
    let Ok(_permit) = state.unverified.clone().try_acquire_many_owned(length.max(1) as u32) else {
        let error = AwsError::new(StatusCode::SERVICE_UNAVAILABLE, "ThrottlingException", "the server is busy; retry");
        return error.respond(protocol, &request_id);
    };
    let body = match axum::body::to_bytes(Body::new(body), length).await {
        Ok(body) => body,
        Err(_) => return too_large().respond(protocol, &request_id),
    };
    let signed = signed::Parts { method: parts.method.as_str(), path, query, headers: &headers, body: Some(&body) };
    let caller = match signed::verify(&state.identities, &auth, &signed) {
        Ok((caller, _)) => caller,
        Err(error) => return error.respond(protocol, &request_id),
    };
    let call = call(caller);
    let target = signed::header(&headers, "x-amz-target");
    // Invariant: only an operation of `operations::SERVICES` reaches a handler.
    let named = match auth.service.as_str() {
        "sts" | "iam" => Form::parse(&body).ok().map(|form| form.action().to_string()),
        _ => target.and_then(|t| t.rsplit_once('.')).map(|(_, operation)| operation.to_string()),
    };
    if let Some(operation) = named.filter(|o| !o.is_empty()) {
        let client = if auth.service == "sagemaker" && path.starts_with("/endpoints/") {
            "sagemaker-runtime"
        } else {
            auth.service.as_str()
        };
        if !operations::implements(client, &operation) {
            let error = match protocol {
                Protocol::Query => AwsError::bad_request(
                    "InvalidAction",
                    format!("Could not find operation {operation} for {client} (trainyard does not implement it)"),
                ),
                _ => AwsError::bad_request(
                    "UnknownOperationException",
                    format!("trainyard does not implement {client}'s {operation}"),
                ),
            };
            return error.respond(protocol, &request_id);
        }
    }
    let result = match auth.service.as_str() {
        "sts" => match Form::parse(&body) {
            Ok(form) => sts::handle(&call, &form).await,
            Err(error) => Err(error),
        },
        "iam" => match Form::parse(&body) {
            Ok(form) => iam::handle(&call, &form).await,
            Err(error) => Err(error),
        },
        "logs" => match target.and_then(|t| t.strip_prefix("Logs_20140328.")) {
            Some(operation) => logs::handle(&call, operation, &body).await,
            None => {
                Err(AwsError::bad_request("UnknownOperationException", "no Logs_20140328.<Operation> in X-Amz-Target"))
            }
        },
        "ecr" => match target.and_then(|t| t.strip_prefix("AmazonEC2ContainerRegistry_V20150921.")) {
            Some(operation) => ecr::handle(&call, operation, &body).await,
            None => Err(AwsError::bad_request(
                "UnknownOperationException",
                "no AmazonEC2ContainerRegistry_V20150921.<Operation> in X-Amz-Target",
            )),
        },
        "events" => match target.and_then(|t| t.strip_prefix("AWSEvents.")) {
            Some(operation) => events::handle(&call, operation, &body).await,
            None => Err(AwsError::bad_request("UnknownOperationException", "no AWSEvents.<Operation> in X-Amz-Target")),
        },
        // SageMaker runtime shares the control plane's signing name; its path tells it apart.
        "sagemaker" if path.starts_with("/endpoints/") && path.ends_with("/invocations") => {
            let name = path.trim_start_matches("/endpoints/").trim_end_matches("/invocations");
            match s3::decode_percent(name) {
                Some(name) => runtime::invoke(&call, &name, &headers, &body).await,
                None => {
                    Err(AwsError::bad_request("ValidationError", "the endpoint name is not valid percent-encoding"))
                }
            }
        }
        "lambda" => lambda::handle(&call, &parts.method, path, &headers, &body).await,
        "sagemaker" => match target.and_then(|t| t.strip_prefix("SageMaker.")) {
            Some(operation) => sagemaker::handle(&call, operation, &body).await,
            None => Err(AwsError::bad_request("UnknownOperationException", "no SageMaker.<Operation> in X-Amz-Target")),
        },
        other => Err(AwsError::bad_request(
            "UnknownOperationException",
            format!("trainyard does not speak the AWS service {other:?} yet"),
        )),
    };
    result.unwrap_or_else(|error| error.respond(protocol, &request_id))
}
