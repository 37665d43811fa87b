//! The one middleware every authenticated route passes: who is calling (a bearer secret),
//! what the call is (the route's action and resource from `access`), whether the caller's
//! policies allow it, and the audit record of it.
//!
//! Invariant: a caller who may not make a call gets 403 `AccessDenied` before any handler
//! runs, so whether the resource exists never shows. Root (the admin token) is allowed
//! everything and audited as `Root`; an unmapped route is denied to everyone else.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value};
use trainyard_identity::{AccessRequest, AuditEntry, Identity, PrincipalKind, RequestFacts};

use crate::access::{self, Kind, Parameters, RouteAccess};
use crate::{ApiError, AppState};

/// The error code and message of a failed response, for its audit record.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
}

/// Small response elements a handler wants in its audit record (ids of what it issued).
#[derive(Debug, Clone)]
pub struct AuditResponse(pub Value);

/// What an audit record says of the request itself.
struct Call {
    source_ip: Option<String>,
    user_agent: Option<String>,
    request_id: String,
}

impl Call {
    fn of(parts: &Parts) -> Call {
        Call {
            source_ip: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string()),
            user_agent: parts
                .headers
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            request_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// Authenticates, authorizes and audits one call.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let identity = match state.identities.authenticate(header, Utc::now()) {
        Ok(identity) => identity,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let call = Call::of(&parts);
    let route =
        parts.extensions.get::<MatchedPath>().and_then(|path| access::lookup(parts.method.as_str(), path.as_str()));
    let Some(route) = route else {
        if identity.is_root() {
            parts.extensions.insert(identity);
            return next.run(Request::from_parts(parts, body)).await;
        }
        let message = format!(
            "{} is not authorized to call {} {}: the route has no action",
            identity.arn,
            parts.method,
            parts.uri.path()
        );
        return ApiError::AccessDenied(message).into_response();
    };
    let (body, json) = match read_json_if_needed(route, body).await {
        Ok(read) => read,
        Err(e) => return e.into_response(),
    };
    let raw_path = RawPathParams::from_request_parts(&mut parts, &state).await.ok();
    let path: Vec<(&str, &str)> = raw_path.iter().flat_map(|p| p.iter()).collect();
    let query =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
    let parameters = Parameters { path, query, body: json.as_ref() };
    let action = access::action(route, &parameters);
    let resources = access::resources(route, &parameters);
    // Built only when a record is written (reads that are allowed write none).
    let entry = |error: Option<ErrorInfo>, response: Option<Value>| AuditEntry {
        time: Utc::now(),
        identity: Some(identity.clone()),
        subject: None,
        action: action.clone(),
        source_ip: call.source_ip.clone(),
        user_agent: call.user_agent.clone(),
        request_parameters: request_parameters(&parameters),
        response_elements: response,
        error_code: error.as_ref().map(|e| e.code.to_string()),
        error_message: error.map(|e| e.message),
        request_id: call.request_id.clone(),
        read_only: matches!(route.kind, Kind::Read | Kind::DataRead),
        data_event: matches!(route.kind, Kind::Data | Kind::DataRead),
        resources: resources.clone(),
    };
    let passed = access::passed_role(route, &parameters).map(|(role, service)| (role.to_string(), service));
    let facts = facts(&state, &call, route, &parameters);
    let checked = authorize(&state, &identity, &action, &resources, &facts)
        .and_then(|()| {
            access::also_needs(route)
                .iter()
                .try_for_each(|(also, resource)| authorize(&state, &identity, also, &[resource.to_string()], &facts))
        })
        .and_then(|()| match &passed {
            Some((role, service)) => Ok(state.identities.check_pass_role(&identity, role, service)?),
            None => Ok(()),
        });
    if let Err(denied) = checked {
        let info = ErrorInfo { code: denied.status_and_code().1, message: denied.to_string() };
        state.audit.record(entry(Some(info), None)).await;
        return denied.into_response();
    }
    parts.extensions.insert(identity.clone());
    let response = next.run(Request::from_parts(parts, body)).await;
    if matches!(route.kind, Kind::Write | Kind::Data) {
        let error = response.extensions().get::<ErrorInfo>().cloned();
        let elements = response.extensions().get::<AuditResponse>().map(|r| r.0.clone());
        state.audit.record(entry(error, elements)).await;
    }
    response
}

/// What conditions may test of this request: the client's address, the tags it puts on a
/// principal, and the tags of the principal it acts on.
fn facts(state: &AppState, call: &Call, route: &RouteAccess, parameters: &Parameters<'_>) -> RequestFacts {
    let resource_tags = access::principal_of(route, parameters)
        .and_then(|(segment, name)| {
            let (_, _, arn_word) = access::PRINCIPAL_KINDS.iter().find(|(s, ..)| *s == segment)?;
            if *arn_word == "role" {
                return Some(state.identities.principal_tags(PrincipalKind::Role, name));
            }
            let tags = state.identities.principal_tags(PrincipalKind::User, name);
            Some(if tags.is_empty() {
                state.identities.principal_tags(PrincipalKind::ServiceAccount, name)
            } else {
                tags
            })
        })
        .unwrap_or_default();
    RequestFacts {
        source_ip: call.source_ip.clone(),
        request_tags: access::request_tags(parameters),
        resource_tags,
        ..Default::default()
    }
}

/// The decision on every resource the call names; the first denial as an error.
fn authorize(
    state: &AppState,
    identity: &Identity,
    action: &str,
    resources: &[String],
    facts: &RequestFacts,
) -> Result<(), ApiError> {
    if identity.is_root() {
        return Ok(());
    }
    for resource in resources {
        let resource_policy = state.identities.resource_policy(action, resource);
        let request = AccessRequest { action, resource, facts, resource_policy: resource_policy.as_deref() };
        let decision = state.identities.authorize(identity, &request, Utc::now());
        if !decision.is_allowed() {
            return Err(ApiError::AccessDenied(decision.denial_message(&identity.arn, action, resource)));
        }
    }
    Ok(())
}

/// Reads the JSON body when the route's resource is named in it (bodies of such routes
/// are small JSON documents, read whole by their handlers anyway).
async fn read_json_if_needed(route: &RouteAccess, body: Body) -> Result<(Body, Option<Value>), ApiError> {
    if !access::needs_body(route) {
        return Ok((body, None));
    }
    let bytes = axum::body::to_bytes(body, crate::MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::PayloadTooLarge(format!("the request body is larger than {} bytes", crate::MAX_BODY_BYTES))
    })?;
    let json = serde_json::from_slice(&bytes).ok();
    Ok((Body::from(bytes), json))
}

/// What the audit record says was asked: the path's and query's parameters, and the
/// body's fields that name the resource (never the rest of a body, which may hold secrets).
fn request_parameters(parameters: &Parameters<'_>) -> Value {
    let mut map = Map::new();
    for (key, value) in &parameters.path {
        map.insert((*key).to_string(), Value::from(*value));
    }
    for (key, value) in &parameters.query {
        map.insert(key.clone(), Value::from(value.as_str()));
    }
    const NAMING_FIELDS: &[&str] = &[
        "Name",
        "TrainingJobName",
        "ProcessingJobName",
        "FunctionName",
        "ArchiveName",
        "ReplayName",
        "ModelPackageGroupName",
        "RepositoryName",
        "EventBusName",
        "PolicyName",
        "RoleArn",
        "RoleSessionName",
        "PolicySourceArn",
        "DurationSeconds",
    ];
    if let Some(Value::Object(body)) = parameters.body {
        for field in NAMING_FIELDS {
            if let Some(value) = body.get(*field) {
                map.insert((*field).to_string(), value.clone());
            }
        }
    }
    Value::Object(map)
}

/// A call another front (the dashboard) makes on a caller's behalf, authorized exactly as
/// the API route it stands for: `template` is that route's path relative to `/api/v1`.
pub struct RouteCall<'a> {
    pub method: &'a str,
    pub template: &'a str,
    pub path: Vec<(&'a str, &'a str)>,
    pub query: Vec<(String, String)>,
    pub body: Option<&'a Value>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Only asking whether the call would be allowed (to show or hide an action): a
    /// denial is not audited.
    pub quiet: bool,
}

/// An allowed write's audit record, written by [`Allowed::finish`] with the outcome.
pub struct Allowed {
    entry: Option<AuditEntry>,
}

impl Allowed {
    /// Writes the audit record of an allowed write (reads write none) with its outcome.
    pub async fn finish(self, state: &AppState, error: Option<&ApiError>) {
        if let Some(mut entry) = self.entry {
            if let Some(error) = error {
                entry.error_code = Some(error.status_and_code().1.to_string());
                entry.error_message = Some(error.to_string());
            }
            entry.time = Utc::now();
            state.audit.record(entry).await;
        }
    }
}

/// Authorizes `identity` for `call` as the guard authorizes the API route (the same
/// table, policies and audit of a denial); an unmapped route is root's only. No caller
/// passes a role through it yet: a route that passes one must not be authorized here.
pub async fn authorize_route(state: &AppState, identity: &Identity, call: RouteCall<'_>) -> Result<Allowed, ApiError> {
    let Some(route) = access::lookup(call.method, call.template) else {
        return match identity.is_root() {
            true => Ok(Allowed { entry: None }),
            false => Err(ApiError::AccessDenied(format!("{} may not call {}", identity.arn, call.template))),
        };
    };
    let parameters = Parameters { path: call.path.clone(), query: call.query.clone(), body: call.body };
    let action = access::action(route, &parameters);
    let resources = access::resources(route, &parameters);
    let request =
        Call { source_ip: call.source_ip, user_agent: call.user_agent, request_id: uuid::Uuid::new_v4().to_string() };
    let facts = facts(state, &request, route, &parameters);
    let entry = AuditEntry {
        time: Utc::now(),
        identity: Some(identity.clone()),
        subject: None,
        action: action.clone(),
        source_ip: request.source_ip.clone(),
        user_agent: request.user_agent.clone(),
        request_parameters: request_parameters(&parameters),
        response_elements: None,
        error_code: None,
        error_message: None,
        request_id: request.request_id.clone(),
        read_only: matches!(route.kind, Kind::Read | Kind::DataRead),
        data_event: matches!(route.kind, Kind::Data | Kind::DataRead),
        resources: resources.clone(),
    };
    let checked = authorize(state, identity, &action, &resources, &facts).and_then(|()| {
        access::also_needs(route)
            .iter()
            .try_for_each(|(also, resource)| authorize(state, identity, also, &[resource.to_string()], &facts))
    });
    if let Err(denied) = checked {
        if call.quiet {
            return Err(denied);
        }
        let mut entry = entry;
        entry.error_code = Some(denied.status_and_code().1.to_string());
        entry.error_message = Some(denied.to_string());
        state.audit.record(entry).await;
        return Err(denied);
    }
    let writes = matches!(route.kind, Kind::Write | Kind::Data);
    Ok(Allowed { entry: writes.then_some(entry) })
}
