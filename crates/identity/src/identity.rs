//! Who a caller is, once authenticated, and the ARNs and ids of principals.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use trainyard_iam::ACCOUNT;

/// What kind of principal a caller is (CloudTrail's `userIdentity.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IdentityKind {
    /// The admin token: bootstrap and break-glass only.
    Root,
    /// A user (a person, with keys).
    #[serde(rename = "IAMUser")]
    User,
    /// A robot: keys, no password. An IAM user to policies and ARNs.
    #[serde(rename = "IAMUser")]
    ServiceAccount,
    /// A role session.
    AssumedRole,
}

/// The session behind an assumed-role caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionContext {
    pub session_id: String,
    pub role_id: String,
    pub role_name: String,
    pub role_arn: String,
    pub session_name: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub kind: IdentityKind,
    pub arn: String,
    /// `aws:userid`: the principal's unique id (`AIDA…`), `ROLEID:SESSION` for a
    /// session, the account for root.
    pub user_id: String,
    /// The user's, robot's or role's name; `root` for root.
    pub name: String,
    /// The key or session id the caller used (none for root).
    pub access_key_id: Option<String>,
    pub session: Option<SessionContext>,
    pub tags: BTreeMap<String, String>,
}

impl Identity {
    /// Root: the admin token's caller.
    pub fn root() -> Identity {
        Identity {
            kind: IdentityKind::Root,
            arn: format!("arn:aws:iam::{ACCOUNT}:root"),
            user_id: ACCOUNT.to_string(),
            name: "root".to_string(),
            access_key_id: None,
            session: None,
            tags: BTreeMap::new(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.kind == IdentityKind::Root
    }

    /// The name recorded on what the caller creates or changes (the ARN's last part).
    pub fn display_name(&self) -> &str {
        match &self.session {
            Some(session) => &session.session_name,
            None => &self.name,
        }
    }

    /// The caller as the policy evaluator sees it.
    pub fn caller(&self) -> trainyard_iam::Caller {
        match (&self.kind, &self.session) {
            (IdentityKind::Root, _) => trainyard_iam::Caller::Root,
            (IdentityKind::AssumedRole, Some(session)) => {
                trainyard_iam::Caller::AssumedRole { role_arn: session.role_arn.clone(), session_arn: self.arn.clone() }
            }
            _ => trainyard_iam::Caller::User { arn: self.arn.clone() },
        }
    }

    /// CloudTrail's `userIdentity`.
    pub fn user_identity(&self) -> serde_json::Value {
        let mut identity = serde_json::json!({
            "type": self.kind,
            "principalId": self.user_id,
            "arn": self.arn,
            "accountId": ACCOUNT,
        });
        if let Some(key) = &self.access_key_id {
            identity["accessKeyId"] = key.clone().into();
        }
        match &self.session {
            Some(session) => {
                identity["sessionContext"] = serde_json::json!({
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": session.role_id,
                        "arn": session.role_arn,
                        "accountId": ACCOUNT,
                        "userName": session.role_name,
                    },
                    "attributes": {
                        "creationDate": session.issued_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        "mfaAuthenticated": "false",
                    },
                });
            }
            None if !self.is_root() => identity["userName"] = self.name.clone().into(),
            None => {}
        }
        identity
    }
}

/// `arn:aws:iam::000000000000:user/NAME` (users and service accounts).
pub fn user_arn(path: &str, name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user{path}{name}")
}

/// `arn:aws:iam::000000000000:role/NAME`.
pub fn role_arn(path: &str, name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role{path}{name}")
}

/// `arn:aws:sts::000000000000:assumed-role/ROLE/SESSION`.
pub fn session_arn(role: &str, session: &str) -> String {
    format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}")
}

/// `arn:aws:iam::000000000000:policy/NAME` (customer-managed policies).
pub fn policy_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/{name}")
}

/// The kinds of principal a name can belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalKind {
    User,
    ServiceAccount,
    Role,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::ServiceAccount => "service-account",
            PrincipalKind::Role => "role",
        }
    }

    pub fn parse(text: &str) -> Option<PrincipalKind> {
        match text {
            "user" => Some(PrincipalKind::User),
            "service-account" => Some(PrincipalKind::ServiceAccount),
            "role" => Some(PrincipalKind::Role),
            _ => None,
        }
    }

    /// The ARN of a principal of this kind.
    pub fn arn(self, path: &str, name: &str) -> String {
        match self {
            PrincipalKind::Role => role_arn(path, name),
            _ => user_arn(path, name),
        }
    }

    /// AWS's prefix of unique ids: `AIDA` users, `AROA` roles.
    pub fn id_prefix(self) -> &'static str {
        match self {
            PrincipalKind::Role => "AROA",
            _ => "AIDA",
        }
    }
}
