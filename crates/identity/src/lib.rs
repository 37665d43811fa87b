//! Identity and access: principals (root, users, service accounts, roles and their
//! sessions), access keys, managed and inline policies, the authorization decision of
//! every call (policies evaluated by the pure `trainyard-iam`), and the audit trail.
//!
//! This crate decides who a caller is and what they may do; it must never store or log a
//! secret (keys and tokens are kept as digests, their secrets derived from the master key
//! on demand), never grant what the policies do not, and never read the database on the
//! path of a decision (an in-memory view, changed only after the store commits).

mod admin;
mod audit;
mod credentials;
mod decisions;
mod identity;
mod names;
mod registry;
mod runs;
mod service;
mod sessions;
mod view;

pub use audit::{AuditEntry, AuditPublisher, AuditTrail};
pub use credentials::{derive_secret, digest as secret_digest, looks_like_secret, SecretKind};
pub use identity::{
    policy_arn, role_arn, session_arn, user_arn, Identity, IdentityKind, PrincipalKind, SessionContext,
};
pub use registry::{
    ecr_actions, repository_arn, RegistryAccess, RegistryClaims, LOGIN_PASSWORD_SECONDS, REGISTRY_TOKEN_SECONDS,
};
pub use runs::RunCredentials;
pub use service::{
    AccessKeyView, AccessRequest, AssumeRole, Credentials, Identities, NewAccessKey, NewPrincipal, PolicyView,
    PrincipalView, RequestFacts, ServiceSession,
};
pub use sessions::RoleSessions;
pub use trainyard_iam::{Decision, Layer, Outcome, PolicyErrors, PolicyProblem, ACCOUNT, REGION};

/// Every way an identity operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credentials on a call that needs them.
    #[error("missing Authorization header: send 'Authorization: Bearer <secret>'")]
    MissingCredentials,
    /// A key, token or session that does not exist, is inactive or was revoked.
    #[error("the security token included in the request is invalid")]
    InvalidClientTokenId,
    /// A session past its expiry.
    #[error("the security token included in the request is expired")]
    ExpiredToken,
    #[error("{0}")]
    AccessDenied(String),
    #[error("{kind} {name:?} does not exist")]
    NoSuchEntity { kind: &'static str, name: String },
    #[error("{kind} {name:?} already exists")]
    EntityAlreadyExists { kind: &'static str, name: String },
    #[error("{kind} {name:?} cannot be deleted: {reason}")]
    DeleteConflict { kind: &'static str, name: String, reason: String },
    /// A policy document with problems, every one listed with its path.
    #[error("the policy document is not valid: {0}")]
    MalformedPolicyDocument(PolicyErrors),
    #[error("{0}")]
    InvalidInput(String),
    #[error("stored identity data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(trainyard_store::Error),
    #[error(transparent)]
    Auth(#[from] trainyard_auth::Error),
}

impl From<trainyard_store::Error> for Error {
    fn from(error: trainyard_store::Error) -> Error {
        match error {
            trainyard_store::Error::NotFound { kind, name } => Error::NoSuchEntity { kind, name },
            trainyard_store::Error::AlreadyExists { kind, name } => Error::EntityAlreadyExists { kind, name },
            trainyard_store::Error::InUse { kind, name, reason } => Error::DeleteConflict { kind, name, reason },
            other => Error::Store(other),
        }
    }
}
