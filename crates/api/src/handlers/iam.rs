//! IAM and STS: users, service accounts, roles, policies, access keys, sessions, the
//! policy simulator, the caller's identity and the audit trail. Thin: parse, call
//! `Identities`, answer.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use trainyard_identity::{AccessRequest, AssumeRole, Identity, NewPrincipal, PrincipalKind, RequestFacts};

use crate::guard::AuditResponse;
use crate::request::Body;
use crate::{ApiError, AppState};

/// The principal kind a `{kind}` path segment names.
fn kind(segment: &str) -> Result<PrincipalKind, ApiError> {
    match segment {
        "users" => Ok(PrincipalKind::User),
        "service-accounts" => Ok(PrincipalKind::ServiceAccount),
        "roles" => Ok(PrincipalKind::Role),
        other => Err(ApiError::NotFound(format!("no such API route: /iam/{other}"))),
    }
}

/// A policy document as a JSON string (as AWS takes it) or, for convenience, as JSON.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Document {
    Text(String),
    Json(serde_json::Map<String, Value>),
}

impl Document {
    fn into_text(self) -> String {
        match self {
            Document::Text(text) => text,
            Document::Json(map) => Value::Object(map).to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreatePrincipal {
    name: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    assume_role_policy_document: Option<Document>,
    #[serde(default)]
    max_session_duration: Option<i64>,
    #[serde(default)]
    permissions_boundary: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

pub async fn list(State(state): State<AppState>, Path(segment): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"Principals": state.identities.principals(kind(&segment)?)})))
}

pub async fn create(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    Body(request): Body<CreatePrincipal>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let new = NewPrincipal {
        name: request.name,
        path: request.path,
        description: request.description,
        trust_policy: request.assume_role_policy_document.map(Document::into_text),
        max_session_seconds: request.max_session_duration,
        boundary: request.permissions_boundary,
        tags: request.tags,
    };
    Ok((StatusCode::CREATED, Json(json!(state.identities.create_principal(kind(&segment)?, new).await?))))
}

pub async fn describe(
    State(state): State<AppState>,
    Path((segment, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.identities.principal(kind(&segment)?, &name)?)))
}

pub async fn delete(
    State(state): State<AppState>,
    Path((segment, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.identities.delete_principal(kind(&segment)?, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tags {
    tags: BTreeMap<String, String>,
}

pub async fn tag(
    State(state): State<AppState>,
    Path((segment, name)): Path<(String, String)>,
    Body(request): Body<Tags>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.identities.tag(kind(&segment)?, &name, request.tags).await?)))
}

#[derive(Deserialize)]
pub struct TagKeys {
    keys: String,
}

pub async fn untag(
    State(state): State<AppState>,
    Path((segment, name)): Path<(String, String)>,
    query: Result<Query<TagKeys>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let keys: Vec<String> = crate::request::query(query)?.keys.split(',').map(str::to_string).collect();
    Ok(Json(json!(state.identities.untag(kind(&segment)?, &name, &keys).await?)))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PolicyDocument {
    policy_document: Document,
}

pub async fn update_trust(
    State(state): State<AppState>,
    Path((segment, name)): Path<(String, String)>,
    Body(request): Body<PolicyDocument>,
) -> Result<Json<Value>, ApiError> {
    if kind(&segment)? != PrincipalKind::Role {
        return Err(ApiError::BadRequest("only a role has a trust policy".into()));
    }
    Ok(Json(json!(state.identities.update_trust_policy(&name, &request.policy_document.into_text()).await?)))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Boundary {
    permissions_boundary: String,
}

pub async fn put_boundary(
    State(state): State<AppState>,
    Path((segment, name)): Path<(String, String)>,
    Body(request): Body<Boundary>,
) -> Result<Json<Value>, ApiError> {
    let boundary = Some(request.permissions_boundary.as_str());
    Ok(Json(json!(state.identities.set_boundary(kind(&segment)?, &name, boundary).await?)))
}

pub async fn delete_boundary(
    State(state): State<AppState>,
    Path((segment, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.identities.set_boundary(kind(&segment)?, &name, None).await?)))
}

pub async fn list_inline(
    State(state): State<AppState>,
    Path((segment, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.identities.principal(kind(&segment)?, &name)?;
    Ok(Json(json!({"PolicyNames": principal.inline_policies})))
}

pub async fn get_inline(
    State(state): State<AppState>,
    Path((segment, name, policy)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let document = state.identities.inline_policy(kind(&segment)?, &name, &policy)?;
    Ok(Json(json!({"PolicyName": policy, "PolicyDocument": document})))
}

pub async fn put_inline(
    State(state): State<AppState>,
    Path((segment, name, policy)): Path<(String, String, String)>,
    Body(request): Body<PolicyDocument>,
) -> Result<StatusCode, ApiError> {
    let document = request.policy_document.into_text();
    state.identities.put_inline_policy(kind(&segment)?, &name, &policy, &document).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_inline(
    State(state): State<AppState>,
    Path((segment, name, policy)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    state.identities.delete_inline_policy(kind(&segment)?, &name, &policy).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn attach(
    State(state): State<AppState>,
    Path((segment, name, policy)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.identities.attach_policy(kind(&segment)?, &name, &policy).await?)))
}

pub async fn detach(
    State(state): State<AppState>,
    Path((segment, name, policy)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.identities.detach_policy(kind(&segment)?, &name, &policy).await?)))
}

pub async fn list_keys(
    State(state): State<AppState>,
    Path((segment, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"AccessKeyMetadata": state.identities.access_keys(kind(&segment)?, &name)?})))
}

/// `CreateAccessKey`: the secret is in this answer only.
pub async fn create_key(
    State(state): State<AppState>,
    Path((segment, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let key = state.identities.create_access_key(kind(&segment)?, &name).await?;
    let audit = AuditResponse(json!({"accessKey": {"accessKeyId": key.access_key_id, "userName": key.user_name}}));
    let mut response = (StatusCode::CREATED, Json(json!({"AccessKey": key}))).into_response();
    response.extensions_mut().insert(audit);
    Ok(response)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyStatus {
    status: String,
}

pub async fn update_key(
    State(state): State<AppState>,
    Path((segment, name, id)): Path<(String, String, String)>,
    Body(request): Body<KeyStatus>,
) -> Result<StatusCode, ApiError> {
    let active = match request.status.as_str() {
        "Active" => true,
        "Inactive" => false,
        other => return Err(ApiError::BadRequest(format!("Status {other:?} is not valid: use Active or Inactive"))),
    };
    state.identities.set_access_key_active(kind(&segment)?, &name, &id, active).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_key(
    State(state): State<AppState>,
    Path((segment, name, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    state.identities.delete_access_key(kind(&segment)?, &name, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreatePolicy {
    policy_name: String,
    policy_document: Document,
    #[serde(default)]
    description: Option<String>,
}

pub async fn list_policies(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"Policies": state.identities.policies()}))
}

pub async fn create_policy(
    State(state): State<AppState>,
    Body(request): Body<CreatePolicy>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let document = request.policy_document.into_text();
    let policy = state.identities.create_policy(&request.policy_name, request.description, &document).await?;
    Ok((StatusCode::CREATED, Json(json!(policy))))
}

pub async fn describe_policy(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.identities.policy(&name)?)))
}

pub async fn update_policy(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Body(request): Body<PolicyDocument>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.identities.update_policy(&name, &request.policy_document.into_text()).await?)))
}

pub async fn delete_policy(State(state): State<AppState>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    state.identities.delete_policy(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ContextEntry {
    context_key_name: String,
    context_key_values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Simulate {
    policy_source_arn: String,
    action_names: Vec<String>,
    #[serde(default)]
    resource_arns: Vec<String>,
    #[serde(default)]
    context_entries: Vec<ContextEntry>,
}

/// `SimulatePrincipalPolicy`: each (action, resource) decided, with the deciding statement.
pub async fn simulate(State(state): State<AppState>, Body(request): Body<Simulate>) -> Result<Json<Value>, ApiError> {
    let extra = request.context_entries.into_iter().map(|e| (e.context_key_name, e.context_key_values)).collect();
    let facts = RequestFacts { extra, ..Default::default() };
    let resources = if request.resource_arns.is_empty() { vec!["*".to_string()] } else { request.resource_arns };
    let mut results = Vec::new();
    for action in &request.action_names {
        for resource in &resources {
            let access = AccessRequest { action, resource, facts: &facts, resource_policy: None };
            let decision = state.identities.simulate(&request.policy_source_arn, &access)?;
            results.push(evaluation_result(action, resource, &decision));
        }
    }
    Ok(Json(json!({"EvaluationResults": results})))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AssumeRoleRequest {
    role_arn: String,
    role_session_name: String,
    #[serde(default)]
    duration_seconds: Option<i64>,
    #[serde(default)]
    policy: Option<Document>,
}

/// `AssumeRole`: a session's credentials, shown once.
pub async fn assume_role(
    State(state): State<AppState>,
    Extension(caller): Extension<Identity>,
    Body(request): Body<AssumeRoleRequest>,
) -> Result<Response, ApiError> {
    let assume = AssumeRole {
        role_arn: request.role_arn,
        session_name: request.role_session_name,
        duration_seconds: request.duration_seconds,
        policy: request.policy.map(Document::into_text),
    };
    let credentials = state.identities.assume_role(&caller, assume, &RequestFacts::default()).await?;
    let audit = AuditResponse(json!({
        "credentials": {"accessKeyId": credentials.access_key_id, "expiration": credentials.expiration},
        "assumedRoleUser": {"arn": credentials.assumed_role_arn, "assumedRoleId": credentials.assumed_role_id},
    }));
    let mut response = Json(assume_role_result(&credentials)).into_response();
    response.extensions_mut().insert(audit);
    Ok(response)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SessionTokenRequest {
    #[serde(default)]
    duration_seconds: Option<i64>,
    /// A user's (or service account's) session instead: the caller's own, or, for root,
    /// any user's.
    #[serde(default)]
    user: Option<String>,
}

/// `GetSessionToken`, for root: a session of root an AWS client can sign with (root has no
/// access key). Other callers assume a role instead.
pub async fn session_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Identity>,
    Body(request): Body<SessionTokenRequest>,
) -> Result<Response, ApiError> {
    let seconds = request.duration_seconds.unwrap_or(3600);
    let credentials = match (&request.user, caller.is_root()) {
        (None, true) => state.identities.start_root_session(seconds).await?,
        (Some(user), true) => state.identities.start_user_session(user, seconds, &caller.arn).await?,
        // GetSessionToken: a user's session of itself, from its long-term key.
        (user, false)
            if caller.session.is_none() && user.as_deref().is_none_or(|u| u == caller.name || u == caller.arn) =>
        {
            state.identities.start_user_session(&caller.arn, seconds, &caller.arn).await?
        }
        _ => {
            return Err(ApiError::BadRequest(
                "a session is root's, or a user's own from its access key (root may start any user's)".into(),
            ))
        }
    };
    let audit = AuditResponse(
        json!({"credentials": {"accessKeyId": credentials.access_key_id, "expiration": credentials.expiration}}),
    );
    let mut response = Json(assume_role_result(&credentials)).into_response();
    response.extensions_mut().insert(audit);
    Ok(response)
}

/// `GetCallerIdentity`: who the credentials belong to.
pub async fn caller_identity(Extension(caller): Extension<Identity>) -> Json<Value> {
    Json(json!({
        "UserId": caller.user_id,
        "Account": trainyard_identity::ACCOUNT,
        "Arn": caller.arn,
        "Type": caller.kind,
        "AccessKeyId": caller.access_key_id,
        "Expiration": caller.session.as_ref().map(|s| s.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    }))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    denied: bool,
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    limit: Option<u32>,
}

/// `LookupEvents`: audit records, oldest first; `after` follows the trail.
pub async fn audit(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let query = crate::request::query(query)?;
    let selection = trainyard_store::AuditQuery {
        after: query.after,
        principal_arn: query.principal,
        denied_only: query.denied,
        limit: query.limit.unwrap_or(100),
    };
    let records = state.audit.list(&selection).await?;
    let next = records.last().map(|(seq, _)| *seq).or(query.after);
    let events: Vec<Value> = records.into_iter().map(|(_, record)| record).collect();
    Ok(Json(json!({"Events": events, "NextAfter": next})))
}

/// One `EvaluationResults` entry of the simulator.
fn evaluation_result(action: &str, resource: &str, decision: &trainyard_identity::Decision) -> Value {
    use trainyard_identity::Outcome;
    let decision_name = match decision.outcome {
        Outcome::Allowed => "allowed",
        Outcome::ImplicitlyDenied => "implicitDeny",
        Outcome::ExplicitlyDenied => "explicitDeny",
    };
    let matched: Vec<Value> = decision
        .deciding
        .iter()
        .map(|s| json!({"SourcePolicyId": s.policy, "SourcePolicyType": format!("{:?}", s.layer), "Sid": s.sid, "StatementIndex": s.index}))
        .collect();
    json!({
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": decision_name,
        "MatchedStatements": matched,
        "MissingLayer": decision.missing.map(|layer| format!("{layer:?}")),
    })
}

/// STS's `AssumeRoleResult`.
fn assume_role_result(credentials: &trainyard_identity::Credentials) -> Value {
    json!({
        "Credentials": {
            "AccessKeyId": credentials.access_key_id,
            "SecretAccessKey": credentials.secret_access_key,
            "SessionToken": credentials.session_token,
            "Expiration": credentials.expiration,
        },
        "AssumedRoleUser": {"Arn": credentials.assumed_role_arn, "AssumedRoleId": credentials.assumed_role_id},
    })
}

/// `GET /credentials/{run}`: fresh credentials for a run that outlives its session, in the
/// shape the AWS SDKs' container credential provider reads. The run's refresh token (from
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`) is the credential.
pub async fn run_credentials(
    State(state): State<AppState>,
    Path(run): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").trim())
        .ok_or(trainyard_identity::Error::MissingCredentials)?;
    let credentials = state.identities.run_credentials(&run, token).await?;
    Ok(Json(json!({
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "Token": credentials.session_token,
        "Expiration": credentials.expiration,
    })))
}
