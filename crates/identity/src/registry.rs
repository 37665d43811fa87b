//! Registry (Docker/OCI) tokens with per-repository `access` claims, as the distribution
//! token spec defines them: the token endpoint grants the intersection of what a client
//! asks for (`scope=repository:NAME:pull,push`) and what the caller's policies allow
//! (the ECR actions of each), and the registry checks every operation against the claims.
//!
//! A token is `tyr.` + base64url(JSON claims) + `.` + hex HMAC-SHA256 of that text under a
//! key derived from the master key. Invariant: a token's expiry is at most an hour away
//! and never later than the session it was issued to (nor the login password it was bought
//! with).
//!
//! ECR's login passwords (`GetAuthorizationToken`, the password of `docker login
//! --username AWS`) are `tyl.` + base64url(claims) + `.` + HMAC the same way (under another
//! label): they name the credential (access key or session) they were issued to and last at
//! most 12 hours, never past that session. They carry no rights of their own: the registry
//! decides each request by the policies of that credential's principal at the time, and a
//! password stops working as soon as its key is deactivated or its session ends.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::identity::Identity;
use crate::service::{AccessRequest, Identities, RequestFacts};
use crate::Error;

const PREFIX: &str = "tyr.";
const LOGIN_PREFIX: &str = "tyl.";
/// How long a registry token lasts at most.
pub const REGISTRY_TOKEN_SECONDS: i64 = 3600;
/// How long an ECR login password lasts at most (ECR's 12 hours).
pub const LOGIN_PASSWORD_SECONDS: i64 = 12 * 3600;

/// What an ECR login password says: the credential it stands for and when it ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoginClaims {
    /// The access key or session id the password was issued to.
    cred: String,
    exp: i64,
    iat: i64,
    jti: String,
}

/// One access claim: a repository (or `registry:catalog:*`) and the actions granted on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryAccess {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl RegistryAccess {
    /// Parses a `scope` parameter: `repository:team-a/app:pull,push` or `registry:catalog:*`.
    pub fn parse_scope(scope: &str) -> Option<RegistryAccess> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        let actions = actions.split(',').filter(|a| !a.is_empty()).map(str::to_string).collect();
        Some(RegistryAccess { kind: kind.to_string(), name: name.to_string(), actions })
    }
}

/// A verified token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryClaims {
    /// The caller's ARN.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub access: Vec<RegistryAccess>,
}

impl RegistryClaims {
    /// Whether the claims grant `action` on repository `name` (`*` grants every action).
    pub fn allows(&self, kind: &str, name: &str, action: &str) -> bool {
        self.access.iter().any(|a| {
            a.kind == kind && a.name == name && a.actions.iter().any(|granted| granted == action || granted == "*")
        })
    }

    /// Whether the claims name `name` at all (the client asked for it).
    pub fn names(&self, kind: &str, name: &str) -> bool {
        self.access.iter().any(|a| a.kind == kind && a.name == name)
    }
}

/// The ECR actions a registry action needs, all of them.
pub fn ecr_actions(kind: &str, action: &str) -> &'static [&'static str] {
    match (kind, action) {
        ("registry", _) => &["ecr:DescribeRepositories"],
        (_, "pull") => &["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        (_, "push") => &[
            "ecr:BatchCheckLayerAvailability",
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
        ],
        (_, "delete") => &["ecr:BatchDeleteImage"],
        _ => &[],
    }
}

/// A repository's ARN.
pub fn repository_arn(name: &str) -> String {
    format!("arn:aws:ecr:{}:{}:repository/{name}", trainyard_iam::REGION, trainyard_iam::ACCOUNT)
}

impl Identities {
    /// Whether `identity` may do registry `action` (pull, push, delete) on `name`.
    pub fn registry_allows(&self, identity: &Identity, kind: &str, name: &str, action: &str) -> bool {
        if identity.is_root() {
            return true;
        }
        let actions = if action == "*" { vec!["pull", "push", "delete"] } else { vec![action] };
        let resource = if kind == "registry" { "*".to_string() } else { repository_arn(name) };
        let facts = RequestFacts::default();
        let needed: Vec<&str> = actions.iter().flat_map(|a| ecr_actions(kind, a).iter().copied()).collect();
        !needed.is_empty()
            && needed.iter().all(|ecr| {
                let request = AccessRequest { action: ecr, resource: &resource, facts: &facts, resource_policy: None };
                self.authorize(identity, &request, Utc::now()).is_allowed()
            })
    }

    /// A token for what `identity` asked for and may have; the granted claims with it. It
    /// expires no later than `not_after` (the login password that bought it), when given.
    pub fn issue_registry_token(
        &self,
        identity: &Identity,
        requested: &[RegistryAccess],
        now: DateTime<Utc>,
        not_after: Option<DateTime<Utc>>,
    ) -> (String, RegistryClaims) {
        let access = requested
            .iter()
            .map(|asked| RegistryAccess {
                kind: asked.kind.clone(),
                name: asked.name.clone(),
                actions: asked
                    .actions
                    .iter()
                    .filter(|action| self.registry_allows(identity, &asked.kind, &asked.name, action))
                    .cloned()
                    .collect(),
            })
            .collect();
        let mut expires = now.timestamp() + REGISTRY_TOKEN_SECONDS;
        if let Some(session) = &identity.session {
            expires = expires.min(session.expires_at.timestamp());
        }
        if let Some(not_after) = not_after {
            expires = expires.min(not_after.timestamp());
        }
        let claims = RegistryClaims {
            sub: identity.arn.clone(),
            exp: expires,
            iat: now.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            access,
        };
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims).expect("claims serialize"));
        let token = format!("{PREFIX}{payload}.{}", self.sign_registry(TOKEN_LABEL, &payload));
        (token, claims)
    }

    /// The claims of a token this server issued and that has not expired at `now`.
    pub fn verify_registry_token(&self, token: &str, now: DateTime<Utc>) -> Result<RegistryClaims, Error> {
        let rest = token.strip_prefix(PREFIX).ok_or(Error::InvalidClientTokenId)?;
        let (payload, signature) = rest.rsplit_once('.').ok_or(Error::InvalidClientTokenId)?;
        let claims: RegistryClaims = self.verified_payload(TOKEN_LABEL, payload, signature)?;
        if claims.exp <= now.timestamp() {
            return Err(Error::ExpiredToken);
        }
        Ok(claims)
    }

    /// An ECR login password for the credential `identity` called with, and when it
    /// expires: in 12 hours, or when the session behind it ends if that is sooner.
    pub fn issue_login_password(
        &self,
        identity: &Identity,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), Error> {
        let credential = identity.access_key_id.clone().ok_or_else(|| {
            Error::InvalidInput("an ECR login password is issued to the caller's access key or session".into())
        })?;
        let mut expires = now.timestamp() + LOGIN_PASSWORD_SECONDS;
        if let Some(session) = &identity.session {
            expires = expires.min(session.expires_at.timestamp());
        }
        let claims =
            LoginClaims { cred: credential, exp: expires, iat: now.timestamp(), jti: uuid::Uuid::new_v4().to_string() };
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims).expect("claims serialize"));
        let password = format!("{LOGIN_PREFIX}{payload}.{}", self.sign_registry(LOGIN_LABEL, &payload));
        let expires_at = DateTime::from_timestamp(expires, 0).unwrap_or(now);
        Ok((password, expires_at))
    }

    /// The caller an ECR login password stands for, as its credential authenticates now,
    /// and when the password expires.
    pub fn verify_login_password(
        &self,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<(Identity, DateTime<Utc>), Error> {
        let rest = password.strip_prefix(LOGIN_PREFIX).ok_or(Error::InvalidClientTokenId)?;
        let (payload, signature) = rest.rsplit_once('.').ok_or(Error::InvalidClientTokenId)?;
        let claims: LoginClaims = self.verified_payload(LOGIN_LABEL, payload, signature)?;
        if claims.exp <= now.timestamp() {
            return Err(Error::ExpiredToken);
        }
        let identity = self.credential_identity(&claims.cred, now)?;
        Ok((identity, DateTime::from_timestamp(claims.exp, 0).unwrap_or(now)))
    }

    /// Whether `text` is an ECR login password.
    pub fn is_login_password(text: &str) -> bool {
        text.starts_with(LOGIN_PREFIX)
    }

    /// The claims of `payload` if `signature` is its HMAC under `label`.
    fn verified_payload<T: serde::de::DeserializeOwned>(
        &self,
        label: &str,
        payload: &str,
        signature: &str,
    ) -> Result<T, Error> {
        if !trainyard_auth::constant_time_eq(self.sign_registry(label, payload).as_bytes(), signature.as_bytes()) {
            return Err(Error::InvalidClientTokenId);
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Error::InvalidClientTokenId)?;
        serde_json::from_slice(&bytes).map_err(|_| Error::InvalidClientTokenId)
    }

    /// Whether `text` is a registry token (which never buys another).
    pub fn is_registry_token(text: &str) -> bool {
        text.starts_with(PREFIX)
    }

    /// HMAC-SHA256 of the payload under the master key's derivation key, with a label
    /// that keeps it apart from every other derived value.
    fn sign_registry(&self, label: &str, payload: &str) -> String {
        hex(&self.inner.sealer.derive(&format!("{label}\0{payload}")))
    }
}

/// The labels keeping tokens and login passwords apart: neither passes for the other.
const TOKEN_LABEL: &str = "trainyard registry token";
const LOGIN_LABEL: &str = "trainyard ecr login password";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_as_the_token_spec_writes_them() {
        let scope = RegistryAccess::parse_scope("repository:team-a/app:pull,push").unwrap();
        assert_eq!((scope.kind.as_str(), scope.name.as_str()), ("repository", "team-a/app"));
        assert_eq!(scope.actions, ["pull", "push"]);
        let catalog = RegistryAccess::parse_scope("registry:catalog:*").unwrap();
        assert_eq!(catalog.actions, ["*"]);
        assert!(RegistryAccess::parse_scope("nonsense").is_none());
    }
}
