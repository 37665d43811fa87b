//! IAM (query protocol, `Action=…&Version=2010-05-08`), onto the identity service: users
//! (and service accounts, which IAM sees as users), roles, managed and inline policies, and
//! access keys. Policy documents in answers are URL-encoded JSON, as IAM returns them.

use axum::http::StatusCode;
use axum::response::Response;
use trainyard_identity::{NewPrincipal, PolicyView, PrincipalKind, PrincipalView, RequestFacts};

use crate::protocol::{answer, xml_escape, AwsError, Protocol};
use crate::{identity_error, Call, Form};

const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

fn arn(resource: &str) -> String {
    format!("arn:aws:iam::{}:{resource}", trainyard_identity::ACCOUNT)
}

/// One IAM call.
pub async fn handle(call: &Call<'_>, form: &Form) -> Result<Response, AwsError> {
    let identities = &call.state.identities;
    let action = form.action().to_string();
    let iam_action = format!("iam:{action}");
    let (_resource, result) = match action.as_str() {
        "CreateUser" | "CreateRole" => {
            let role = action == "CreateRole";
            let (kind, field) =
                if role { (PrincipalKind::Role, "RoleName") } else { (PrincipalKind::User, "UserName") };
            let name = form.required(field)?;
            let resource = arn(&format!("{}/{name}", if role { "role" } else { "user" }));
            let facts = RequestFacts { request_tags: tags(form), ..call.facts() };
            call.authorize_with(&iam_action, &resource, facts).await?;
            let new = NewPrincipal {
                name: name.to_string(),
                path: form.get("Path").map(str::to_string),
                description: form.get("Description").map(str::to_string),
                trust_policy: form.get("AssumeRolePolicyDocument").map(str::to_string),
                max_session_seconds: form.get("MaxSessionDuration").and_then(|s| s.parse().ok()),
                boundary: form.get("PermissionsBoundary").map(str::to_string),
                tags: tags(form),
            };
            let created = identities.create_principal(kind, new).await.map_err(identity_error);
            call.audit(&iam_action, &resource, false, created.as_ref().err()).await;
            let element = if role { "Role" } else { "User" };
            (resource, format!("<{element}>{}</{element}>", principal_xml(&created?)))
        }
        "GetUser" | "GetRole" => {
            let role = action == "GetRole";
            let view = match form.get(if role { "RoleName" } else { "UserName" }) {
                Some(name) => {
                    let resource = arn(&format!("{}/{name}", if role { "role" } else { "user" }));
                    call.authorize(&iam_action, &resource).await?;
                    find(identities, role, name)?
                }
                // GetUser without a name: the calling user itself (as AWS, only for users).
                None if !role => {
                    use trainyard_identity::IdentityKind;
                    if !matches!(call.caller.identity.kind, IdentityKind::User | IdentityKind::ServiceAccount) {
                        return Err(AwsError::bad_request(
                            "ValidationError",
                            "Must specify userName when calling with non-User credentials",
                        ));
                    }
                    find(identities, false, &call.caller.identity.name)?
                }
                None => return Err(AwsError::bad_request("MissingParameter", "RoleName is required")),
            };
            let element = if role { "Role" } else { "User" };
            (view.arn.clone(), format!("<{element}>{}</{element}>", principal_xml(&view)))
        }
        "ListUsers" | "ListRoles" => {
            call.authorize(&iam_action, "*").await?;
            let role = action == "ListRoles";
            let mut views = identities.principals(if role { PrincipalKind::Role } else { PrincipalKind::User });
            if !role {
                views.extend(identities.principals(PrincipalKind::ServiceAccount));
            }
            let element = if role { "Roles" } else { "Users" };
            let members: String = views.iter().map(|v| format!("<member>{}</member>", principal_xml(v))).collect();
            ("*".to_string(), format!("<{element}>{members}</{element}><IsTruncated>false</IsTruncated>"))
        }
        "DeleteUser" | "DeleteRole" => {
            let role = action == "DeleteRole";
            let name = form.required(if role { "RoleName" } else { "UserName" })?;
            let view = authorize_on(call, &iam_action, role, name).await?;
            let deleted = identities.delete_principal(view.kind, name).await.map_err(identity_error);
            call.audit(&iam_action, &view.arn, false, deleted.as_ref().err()).await;
            deleted?;
            (view.arn, String::new())
        }
        "PutRolePolicy" | "PutUserPolicy" | "AttachRolePolicy" | "AttachUserPolicy" | "DetachRolePolicy"
        | "DetachUserPolicy" => {
            let role = action.contains("Role");
            let name = form.required(if role { "RoleName" } else { "UserName" })?;
            let view = authorize_on(call, &iam_action, role, name).await?;
            let done = if action.starts_with("Put") {
                let document = form.required("PolicyDocument")?;
                identities.put_inline_policy(view.kind, name, form.required("PolicyName")?, document).await.map(|_| ())
            } else if action.starts_with("Attach") {
                identities.attach_policy(view.kind, name, form.required("PolicyArn")?).await.map(|_| ())
            } else {
                identities.detach_policy(view.kind, name, form.required("PolicyArn")?).await.map(|_| ())
            }
            .map_err(identity_error);
            call.audit(&iam_action, &view.arn, false, done.as_ref().err()).await;
            done?;
            (view.arn, String::new())
        }
        "CreatePolicy" => {
            let name = form.required("PolicyName")?;
            let resource = arn(&format!("policy/{name}"));
            call.authorize(&iam_action, &resource).await?;
            let description = form.get("Description").map(str::to_string);
            let created = identities
                .create_policy(name, description, form.required("PolicyDocument")?)
                .await
                .map_err(identity_error);
            call.audit(&iam_action, &resource, false, created.as_ref().err()).await;
            (resource, format!("<Policy>{}</Policy>", policy_xml(&created?)))
        }
        "CreateAccessKey" | "ListAccessKeys" => {
            let name = form.get("UserName").map_or_else(|| call.caller.identity.name.clone(), str::to_string);
            let view = authorize_on(call, &iam_action, false, &name).await?;
            let body = if action == "CreateAccessKey" {
                let created = identities.create_access_key(view.kind, &name).await.map_err(identity_error);
                call.audit(&iam_action, &view.arn, false, created.as_ref().err()).await;
                let key = created?;
                format!(
                    "<AccessKey><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId><Status>Active</Status><SecretAccessKey>{}</SecretAccessKey><CreateDate>{}</CreateDate></AccessKey>",
                    xml_escape(&key.user_name),
                    key.access_key_id,
                    key.secret_access_key,
                    key.create_date
                )
            } else {
                let keys = identities.access_keys(view.kind, &name).map_err(identity_error)?;
                let members: String = keys
                    .iter()
                    .map(|k| {
                        format!(
                            "<member><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId><Status>{}</Status><CreateDate>{}</CreateDate></member>",
                            xml_escape(&k.user_name),
                            k.access_key_id,
                            k.status,
                            k.create_date
                        )
                    })
                    .collect();
                format!("<AccessKeyMetadata>{members}</AccessKeyMetadata><IsTruncated>false</IsTruncated>")
            };
            (view.arn, body)
        }
        other => {
            return Err(AwsError::bad_request(
                "InvalidAction",
                format!("Could not find operation {other} for version 2010-05-08"),
            ))
        }
    };
    let body = format!(
        "<{action}Response xmlns=\"{NAMESPACE}\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        call.request_id
    );
    Ok(answer(StatusCode::OK, "text/xml", body, Protocol::Query, &call.request_id))
}

/// Decides `action` on the user or role `name` (with its tags as `aws:ResourceTag/*`)
/// before telling whether it exists: a caller who may not act learns nothing.
async fn authorize_on(call: &Call<'_>, action: &str, role: bool, name: &str) -> Result<PrincipalView, AwsError> {
    let found = find(&call.state.identities, role, name);
    let resource = match &found {
        Ok(view) => view.arn.clone(),
        Err(_) => arn(&format!("{}/{name}", if role { "role" } else { "user" })),
    };
    let resource_tags = found.as_ref().map(|v| v.tags.clone()).unwrap_or_default();
    call.authorize_with(action, &resource, RequestFacts { resource_tags, ..call.facts() }).await?;
    found
}

/// A user (or service account) or a role by name; IAM's `NoSuchEntity` if none.
fn find(identities: &trainyard_identity::Identities, role: bool, name: &str) -> Result<PrincipalView, AwsError> {
    let found = if role {
        identities.principal(PrincipalKind::Role, name)
    } else {
        identities
            .principal(PrincipalKind::User, name)
            .or_else(|_| identities.principal(PrincipalKind::ServiceAccount, name))
    };
    found.map_err(|_| {
        let what = if role { "role" } else { "user" };
        AwsError::new(StatusCode::NOT_FOUND, "NoSuchEntity", format!("The {what} with name {name} cannot be found."))
    })
}

/// `Tags.member.N.Key` / `Tags.member.N.Value`.
fn tags(form: &Form) -> std::collections::BTreeMap<String, String> {
    (1..=50)
        .map_while(|n| {
            let key = form.get(&format!("Tags.member.{n}.Key"))?;
            Some((key.to_string(), form.get(&format!("Tags.member.{n}.Value")).unwrap_or("").to_string()))
        })
        .collect()
}

fn principal_xml(view: &PrincipalView) -> String {
    let (name_element, id_element) =
        if view.kind == PrincipalKind::Role { ("RoleName", "RoleId") } else { ("UserName", "UserId") };
    let mut out = format!(
        "<Path>{}</Path><{name_element}>{}</{name_element}><{id_element}>{}</{id_element}><Arn>{}</Arn><CreateDate>{}</CreateDate>",
        xml_escape(&view.path),
        xml_escape(&view.name),
        view.id,
        xml_escape(&view.arn),
        view.create_date
    );
    if let Some(trust) = &view.assume_role_policy_document {
        out.push_str(&format!("<AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument>", url_encode(trust)));
    }
    if let Some(seconds) = view.max_session_duration {
        out.push_str(&format!("<MaxSessionDuration>{seconds}</MaxSessionDuration>"));
    }
    if let Some(description) = &view.description {
        out.push_str(&format!("<Description>{}</Description>", xml_escape(description)));
    }
    if !view.tags.is_empty() {
        let members: String = view
            .tags
            .iter()
            .map(|(k, v)| format!("<member><Key>{}</Key><Value>{}</Value></member>", xml_escape(k), xml_escape(v)))
            .collect();
        out.push_str(&format!("<Tags>{members}</Tags>"));
    }
    out
}

fn policy_xml(view: &PolicyView) -> String {
    format!(
        "<PolicyName>{}</PolicyName><PolicyId>{}</PolicyId><Arn>{}</Arn><Path>/</Path><DefaultVersionId>v1</DefaultVersionId><AttachmentCount>{}</AttachmentCount><IsAttachable>true</IsAttachable><CreateDate>{}</CreateDate><UpdateDate>{}</UpdateDate>",
        xml_escape(&view.policy_name),
        policy_id(&view.arn),
        xml_escape(&view.arn),
        view.attachment_count,
        view.update_date,
        view.update_date
    )
}

/// A policy document as IAM returns it: URL-encoded JSON (botocore decodes it).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A policy's id as IAM shapes them (`ANPA` and 17 more), derived from its ARN so it is stable.
fn policy_id(arn: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(arn.as_bytes());
    let tail: String = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("ANPA{}", &tail[..17])
}
