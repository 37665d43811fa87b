//! Identity records: principals, managed and inline policies, attachments, access keys
//! and role sessions. Secrets are never stored: keys and session tokens as SHA-256 digests.
//!
//! Invariant: every change here is one statement or one transaction, so a crash leaves a
//! principal with all of its policies and keys or none of them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::row::Columns;
use crate::{from_millis, Error, Store};

/// A user, service account or role.
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalRecord {
    pub id: String,
    /// `user`, `service-account` or `role`.
    pub kind: String,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub trust_policy: Option<String>,
    pub max_session_seconds: Option<i64>,
    pub boundary_arn: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
}

impl PrincipalRecord {
    /// The key under which names are unique: users and service accounts share one
    /// namespace (both are `user/NAME` ARNs), roles have their own; case-insensitive.
    pub fn name_key(&self) -> String {
        let namespace = if self.kind == "role" { "role" } else { "user" };
        format!("{namespace}:{}", self.name.to_lowercase())
    }

    /// The tags as stored: a JSON object (both backends keep JSON as text).
    pub(crate) fn tags_json(&self) -> String {
        serde_json::to_string(&self.tags).expect("a string map serializes")
    }
}

/// A customer-managed policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedPolicyRecord {
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    pub document: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An access key: its id and the digest of its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessKeyRecord {
    pub id: String,
    pub principal_id: String,
    pub secret_digest: Vec<u8>,
    /// `Active` or `Inactive`.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// A role session: assumed at `issued_at`, valid until `expires_at` unless revoked.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub id: String,
    pub role_id: String,
    pub session_name: String,
    pub token_digest: Vec<u8>,
    pub session_policy: Option<String>,
    pub issued_by: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Everything identity holds, as loaded at start.
#[derive(Debug, Clone, Default)]
pub struct IamRecords {
    pub principals: Vec<PrincipalRecord>,
    pub policies: Vec<ManagedPolicyRecord>,
    /// (principal id, policy ARN)
    pub attachments: Vec<(String, String)>,
    /// (principal id, name, document)
    pub inline_policies: Vec<(String, String, String)>,
    pub access_keys: Vec<AccessKeyRecord>,
    /// Sessions neither revoked nor expired at load time.
    pub sessions: Vec<SessionRecord>,
    /// (resource ARN, document): bucket policies.
    pub resource_policies: Vec<(String, String)>,
}

impl Store {
    delegate! {
        /// Every identity record, for the in-memory view; sessions only while valid at `now`.
        pub async fn load_iam(&self, now: DateTime<Utc>) -> Result<IamRecords, Error>;
        /// Sets (or replaces) the policy of a resource.
        pub async fn put_resource_policy(&self, arn: &str, document: &str, now: DateTime<Utc>) -> Result<(), Error>;
        pub async fn delete_resource_policy(&self, arn: &str) -> Result<(), Error>;
        pub async fn create_principal(&self, principal: &PrincipalRecord) -> Result<(), Error>;
        /// Writes a principal's mutable fields: description, trust policy, maximum session,
        /// boundary and tags.
        pub async fn update_principal(&self, principal: &PrincipalRecord) -> Result<(), Error>;
        /// Deletes a principal with its keys, sessions, attachments and inline policies.
        pub async fn delete_principal(&self, id: &str) -> Result<(), Error>;
        pub async fn create_policy(&self, policy: &ManagedPolicyRecord) -> Result<(), Error>;
        pub async fn update_policy_document(&self, arn: &str, document: &str, at: DateTime<Utc>) -> Result<(), Error>;
        /// Deletes a managed policy; refused while it is attached to anyone (as IAM refuses).
        pub async fn delete_policy(&self, arn: &str) -> Result<(), Error>;
        /// Attaches a managed policy; attaching it twice is no change.
        pub async fn attach_policy(&self, principal_id: &str, policy_arn: &str) -> Result<(), Error>;
        pub async fn detach_policy(&self, principal_id: &str, policy_arn: &str) -> Result<(), Error>;
        /// Creates or replaces an inline policy.
        pub async fn put_inline_policy(&self, principal_id: &str, name: &str, document: &str) -> Result<(), Error>;
        pub async fn delete_inline_policy(&self, principal_id: &str, name: &str) -> Result<(), Error>;
        pub async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<(), Error>;
        pub async fn set_access_key_status(&self, id: &str, status: &str) -> Result<(), Error>;
        pub async fn delete_access_key(&self, id: &str) -> Result<(), Error>;
        pub async fn create_session(&self, session: &SessionRecord) -> Result<(), Error>;
        /// Revokes a session; revoking it again is no change.
        pub async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<(), Error>;
        /// Deletes sessions that ended (expired or revoked) before `before`; how many.
        pub async fn delete_ended_sessions(&self, before: DateTime<Utc>) -> Result<u64, Error>;
    }
}

pub(crate) fn principal_from(row: &impl Columns) -> Result<PrincipalRecord, Error> {
    let tags: String = row.get("tags");
    let id: String = row.get("id");
    let tags = serde_json::from_str(&tags)
        .map_err(|e| Error::Corrupt { context: format!("tags of principal {id}"), message: e.to_string() })?;
    Ok(PrincipalRecord {
        id,
        kind: row.get("kind"),
        name: row.get("name"),
        path: row.get("path"),
        description: row.get("description"),
        trust_policy: row.get("trust_policy"),
        max_session_seconds: row.get("max_session_seconds"),
        boundary_arn: row.get("boundary_arn"),
        tags,
        created_at: from_millis(row.get("created_at")),
    })
}

pub(crate) fn policy_from(row: &impl Columns) -> ManagedPolicyRecord {
    ManagedPolicyRecord {
        arn: row.get("arn"),
        name: row.get("name"),
        description: row.get("description"),
        document: row.get("document"),
        created_at: from_millis(row.get("created_at")),
        updated_at: from_millis(row.get("updated_at")),
    }
}

pub(crate) fn key_from(row: &impl Columns) -> AccessKeyRecord {
    AccessKeyRecord {
        id: row.get("id"),
        principal_id: row.get("principal_id"),
        secret_digest: row.get("secret_digest"),
        status: row.get("status"),
        created_at: from_millis(row.get("created_at")),
    }
}

pub(crate) fn session_from(row: &impl Columns) -> SessionRecord {
    SessionRecord {
        id: row.get("id"),
        role_id: row.get("role_id"),
        session_name: row.get("session_name"),
        token_digest: row.get("token_digest"),
        session_policy: row.get("session_policy"),
        issued_by: row.get("issued_by"),
        issued_at: from_millis(row.get("issued_at")),
        expires_at: from_millis(row.get("expires_at")),
    }
}
