//! STS (query protocol): `GetCallerIdentity`, `AssumeRole`, `GetSessionToken` (root).

use axum::http::StatusCode;
use axum::response::Response;
use trainyard_identity::AssumeRole;

use crate::protocol::{answer, xml_escape, AwsError, Protocol};
use crate::{Call, Form};

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// One STS call.
pub async fn handle(call: &Call<'_>, form: &Form) -> Result<Response, AwsError> {
    match form.action() {
        "GetCallerIdentity" => Ok(get_caller_identity(call)),
        "AssumeRole" => assume_role(call, form).await,
        other => Err(AwsError::bad_request(
            "InvalidAction",
            format!("Could not find operation {other} for version 2011-06-15"),
        )),
    }
}

fn get_caller_identity(call: &Call<'_>) -> Response {
    let identity = &call.caller.identity;
    let result = format!(
        "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
        xml_escape(&identity.arn),
        xml_escape(&identity.user_id),
        trainyard_identity::ACCOUNT
    );
    respond(call, "GetCallerIdentity", &result)
}

async fn assume_role(call: &Call<'_>, form: &Form) -> Result<Response, AwsError> {
    let role_arn = form.required("RoleArn")?;
    let duration = match form.get("DurationSeconds") {
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            AwsError::bad_request("ValidationError", format!("DurationSeconds {text:?} is not a number"))
        })?),
        None => None,
    };
    let request = AssumeRole {
        role_arn: role_arn.to_string(),
        session_name: form.required("RoleSessionName")?.to_string(),
        duration_seconds: duration,
        policy: form.get("Policy").map(str::to_string),
    };
    // The trust policy and the caller's policies are decided by `assume_role` itself.
    let credentials = call
        .state
        .identities
        .assume_role(&call.caller.identity, request, &call.facts())
        .await
        .map_err(crate::identity_error)?;
    let result = format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials><AssumedRoleUser><Arn>{}</Arn><AssumedRoleId>{}</AssumedRoleId></AssumedRoleUser>",
        credentials.access_key_id,
        credentials.secret_access_key,
        credentials.session_token,
        credentials.expiration,
        xml_escape(&credentials.assumed_role_arn),
        xml_escape(&credentials.assumed_role_id)
    );
    Ok(respond(call, "AssumeRole", &result))
}

/// A query-protocol answer: `<OpResponse><OpResult>…</OpResult><ResponseMetadata>`.
fn respond(call: &Call<'_>, operation: &str, result: &str) -> Response {
    let body = format!(
        "<{operation}Response xmlns=\"{NAMESPACE}\"><{operation}Result>{result}</{operation}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{operation}Response>",
        call.request_id
    );
    answer(StatusCode::OK, "text/xml", body, Protocol::Query, &call.request_id)
}
