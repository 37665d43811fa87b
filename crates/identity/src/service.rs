//! The identity service: authenticating a secret, deciding a request, and role sessions.
//! Administration of principals, policies and keys is in `admin.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;
use trainyard_auth::{Authenticator, Sealer};
use trainyard_iam::{Caller, Context, Decision, NamedPolicy, Policies, Policy, PolicyKind, Request, ACCOUNT};
use trainyard_store::{SessionRecord, Store};

use crate::credentials::{self, derive_secret, SecretKind};
use crate::identity::{session_arn, Identity, IdentityKind, PrincipalKind, SessionContext};
use crate::names;
use crate::view::{ManagedPolicy, PrincipalEntry, SessionEntry, View};
use crate::Error;

pub use crate::admin::{AccessKeyView, NewAccessKey, NewPrincipal, PolicyView, PrincipalView};

/// The identity service; cheap to clone.
#[derive(Clone)]
pub struct Identities {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub store: Store,
    pub sealer: Sealer,
    pub root: Authenticator,
    pub view: RwLock<View>,
    /// Invariant: one change at a time, written to the store and then applied to the view.
    pub writes: tokio::sync::Mutex<()>,
    /// The ids of the sessions kept in memory only (root's, `GetSessionToken`'s).
    pub memory_sessions: std::sync::Mutex<std::collections::HashSet<String>>,
    pub runs: crate::runs::Runs,
    pub decisions: crate::decisions::Decisions,
}

/// What a request carries that conditions may test, beyond who makes it.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    pub source_ip: Option<String>,
    pub secure_transport: bool,
    /// Tags the request puts on a resource (`aws:RequestTag/K`, `aws:TagKeys`).
    pub request_tags: BTreeMap<String, String>,
    /// Tags of the resource acted on (`aws:ResourceTag/K`).
    pub resource_tags: BTreeMap<String, String>,
    /// The service a role is passed to (`iam:PassedToService`).
    pub passed_to_service: Option<String>,
    /// Any other condition keys (service-specific ones); several values make a
    /// multivalued key.
    pub extra: Vec<(String, Vec<String>)>,
}

/// One request to decide.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub facts: &'a RequestFacts,
    /// The resource's own policy (a bucket's, a repository's, a role's trust policy).
    pub resource_policy: Option<&'a Policy>,
}

/// An AssumeRole request.
#[derive(Debug, Clone, Default)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: String,
    pub duration_seconds: Option<i64>,
    /// A session policy: a ceiling on the session's permissions.
    pub policy: Option<String>,
}

/// A session's credentials, shown once (STS's `Credentials` and `AssumedRoleUser`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: String,
    pub assumed_role_arn: String,
    pub assumed_role_id: String,
}

/// A session started for a service (a function's or job's run) and how to end it.
#[derive(Debug, Clone)]
pub struct ServiceSession {
    pub credentials: Credentials,
    pub session_id: String,
}

impl Identities {
    /// The service over `store`, with the admin token's `root` and the master key's `sealer`.
    pub async fn open(store: Store, sealer: Sealer, root: Authenticator) -> Result<Identities, Error> {
        // Listening first: a change committed while the view loads is not missed.
        let changes = store.changes();
        let records = store.load_iam(Utc::now()).await?;
        let view = View::load(records, builtin_policies()?)?;
        let inner = Inner {
            store,
            sealer,
            root,
            view: RwLock::new(view),
            writes: tokio::sync::Mutex::new(()),
            memory_sessions: Default::default(),
            runs: Default::default(),
            decisions: Default::default(),
        };
        let identities = Identities { inner: Arc::new(inner) };
        tokio::spawn(follow_other_replicas(Arc::downgrade(&identities.inner), changes));
        Ok(identities)
    }

    /// Loads the view whole from the store, after another replica's change. The sessions
    /// kept in memory only (root's, `GetSessionToken`'s) stay: they are this replica's.
    async fn reload(&self) -> Result<(), Error> {
        let _one_change = self.inner.writes.lock().await;
        let mut fresh = View::load(self.inner.store.load_iam(Utc::now()).await?, builtin_policies()?)?;
        let mut view = self.inner.view.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut kept = self.inner.memory_sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        kept.retain(|id| view.session_ids.contains_key(id));
        for session in view.sessions.values().filter(|s| kept.contains(&s.record.id)) {
            let _ = fresh.insert_session(session.record.clone());
        }
        fresh.generation = view.generation + 1;
        *view = fresh;
        Ok(())
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, View> {
        self.inner.view.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the view; every decision made before is forgotten.
    pub(crate) fn apply(&self, change: impl FnOnce(&mut View)) {
        self.apply_here(change);
        if self.inner.store.is_shared() {
            let store = self.inner.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.announce(&trainyard_store::Change::Identity).await {
                    tracing::warn!(error = %e, "telling the other replicas about an identity change");
                }
            });
        }
    }

    /// Changes this replica's view only (for what is kept in memory).
    fn apply_here(&self, change: impl FnOnce(&mut View)) {
        let mut view = self.inner.view.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut view);
        view.generation += 1;
    }

    /// The caller an `Authorization: Bearer <secret>` header names.
    pub fn authenticate(&self, header: Option<&str>, now: DateTime<Utc>) -> Result<Identity, Error> {
        let header = header.ok_or(Error::MissingCredentials)?;
        let secret = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(Error::MissingCredentials)?
            .trim();
        self.authenticate_secret(secret, now)
    }

    /// The caller a secret belongs to: the admin token (root), an active access key's
    /// secret, or a live session's token.
    pub fn authenticate_secret(&self, secret: &str, now: DateTime<Utc>) -> Result<Identity, Error> {
        self.authenticate_digest(&credentials::digest(secret), now)
    }

    /// The caller whose secret has this SHA-256 `digest` (what a dashboard session keeps
    /// instead of the secret): checked afresh on every call, so a deactivated key or an
    /// expired session stops working at once.
    pub fn authenticate_digest(&self, digest: &[u8; 32], now: DateTime<Utc>) -> Result<Identity, Error> {
        if self.inner.root.is_admin_digest(digest) {
            return Ok(Identity::root());
        }
        // Invariant: secrets are found by their SHA-256 digest; a lookup's timing tells
        // nothing that helps guess a 256-bit secret.
        let digest = *digest;
        let view = self.read();
        if let Some(key) = view.keys.get(&digest) {
            let entry = view.principals.get(&key.principal_id).ok_or(Error::InvalidClientTokenId)?;
            if !key.active {
                return Err(Error::InvalidClientTokenId);
            }
            return Ok(principal_identity(entry, Some(key.id.clone())));
        }
        let session = view.sessions.get(&digest).ok_or(Error::InvalidClientTokenId)?;
        if session.record.expires_at <= now {
            return Err(Error::ExpiredToken);
        }
        match view.principals.get(&session.record.role_id) {
            Some(role) => Ok(session_identity(role, session)),
            None if session.record.role_id == ROOT_SESSION => Ok(root_session_identity(session)),
            None => Err(Error::InvalidClientTokenId),
        }
    }

    /// The decision on one request by `identity`, as AWS evaluates it in one account.
    pub fn authorize(&self, identity: &Identity, request: &AccessRequest<'_>, now: DateTime<Utc>) -> Decision {
        let (second, generation) = (now.timestamp(), self.read().generation);
        if let Some(decision) = self.inner.decisions.get(identity, request, second, generation) {
            return decision;
        }
        let decision = self.decide(identity, request, now);
        self.inner.decisions.put(identity, request, second, generation, &decision);
        decision
    }

    fn decide(&self, identity: &Identity, request: &AccessRequest<'_>, now: DateTime<Utc>) -> Decision {
        let caller = identity.caller();
        let context = context_of(identity, request.facts, now);
        let resource = request.resource_policy.map(|policy| NamedPolicy { name: "resource-policy", policy });
        let iam_request =
            Request { caller: &caller, action: request.action, resource: request.resource, context: &context };
        let view = self.read();
        let evaluate = |entry: Option<&PrincipalEntry>, session: Option<NamedPolicy<'_>>| {
            let identity_policies = entry.map(|e| view.identity_policies(e)).unwrap_or_default();
            let policies = Policies {
                identity: &identity_policies,
                resource,
                boundary: entry.and_then(|e| view.boundary(e)),
                session,
            };
            trainyard_iam::evaluate(&iam_request, &policies)
        };
        match &identity.session {
            _ if identity.is_root() => evaluate(None, None),
            Some(context) => {
                let entry = view.principals.get(&context.role_id);
                let session = view.session(&context.session_id);
                // Invariant: a session no longer in the view (revoked, forgotten) decides
                // nothing but a denial, never the role's rights without its ceiling.
                if session.is_none() && !context.session_id.is_empty() {
                    return Decision {
                        outcome: trainyard_iam::Outcome::ImplicitlyDenied,
                        deciding: None,
                        missing: None,
                    };
                }
                let policy = session
                    .and_then(|s| s.policy.as_deref())
                    .map(|policy| NamedPolicy { name: "session-policy", policy });
                evaluate(entry, policy)
            }
            None => evaluate(view.find_arn(&identity.arn), None),
        }
    }

    /// The resource-based policy that applies to `action` on `resource`: a role's trust
    /// policy for `sts:AssumeRole*` on it; a bucket's policy for S3 on the bucket and its
    /// objects (`arn:aws:s3:::BUCKET[/KEY]`).
    pub fn resource_policy(&self, action: &str, resource: &str) -> Option<Arc<Policy>> {
        if action.to_ascii_lowercase().starts_with("sts:assumerole") {
            return self.read().find_arn(resource).filter(|entry| entry.kind == PrincipalKind::Role)?.trust.clone();
        }
        if resource.starts_with("arn:aws:lambda:") {
            // A function's policy (AddPermission), whatever qualifier the ARN carries.
            let unqualified: Vec<&str> = resource.splitn(8, ':').take(7).collect();
            return self.read().resource_policies.get(&unqualified.join(":")).cloned();
        }
        let bucket = resource.strip_prefix("arn:aws:s3:::")?.split('/').next()?;
        self.read().resource_policies.get(&format!("arn:aws:s3:::{bucket}")).cloned()
    }

    /// [`Identities::authorize`], with the denial as an error naming principal, action and resource.
    pub fn require(&self, identity: &Identity, request: &AccessRequest<'_>) -> Result<(), Error> {
        let decision = self.authorize(identity, request, Utc::now());
        if decision.is_allowed() {
            return Ok(());
        }
        Err(Error::AccessDenied(decision.denial_message(&identity.arn, request.action, request.resource)))
    }

    /// The caller a user, service account or role (as a session of it named `session`)
    /// is, by ARN: what the simulator decides for, and what the platform's own functions act as.
    pub fn principal_identity(&self, principal_arn: &str, session: &str) -> Result<Identity, Error> {
        let view = self.read();
        let entry = view
            .find_arn(principal_arn)
            .ok_or_else(|| Error::NoSuchEntity { kind: "principal", name: principal_arn.to_string() })?;
        Ok(match entry.kind {
            PrincipalKind::Role => {
                let now = Utc::now();
                let record = SessionRecord {
                    id: String::new(),
                    role_id: entry.record.id.clone(),
                    session_name: session.to_string(),
                    token_digest: Vec::new(),
                    session_policy: None,
                    issued_by: String::new(),
                    issued_at: now,
                    expires_at: now,
                };
                session_identity(entry, &SessionEntry { record, policy: None })
            }
            _ => principal_identity(entry, None),
        })
    }

    /// What [`Identities::authorize`] would decide for the user, service account or role
    /// (as a session of it) at `principal_arn`: the policy simulator.
    pub fn simulate(&self, principal_arn: &str, request: &AccessRequest<'_>) -> Result<Decision, Error> {
        let identity = self.principal_identity(principal_arn, "simulation")?;
        Ok(self.authorize(&identity, request, Utc::now()))
    }

    /// Checks a call that names a role for a service to act as (`RoleArn` of a training
    /// job, a function's `Role`): the caller must be allowed `iam:PassRole` on it with
    /// `iam:PassedToService`, and the role's trust policy must let the service assume it.
    /// Invariant: the permission is checked first, so a caller who may not pass a role
    /// learns nothing of whether it exists.
    pub fn check_pass_role(&self, caller: &Identity, role_arn: &str, service: &str) -> Result<(), Error> {
        if !caller.is_root() {
            let facts = RequestFacts { passed_to_service: Some(service.to_string()), ..Default::default() };
            let request =
                AccessRequest { action: "iam:PassRole", resource: role_arn, facts: &facts, resource_policy: None };
            self.require(caller, &request)?;
        }
        let (_, trust) = self.role_and_trust(role_arn).map_err(|_| {
            Error::InvalidInput(format!(
                "role {role_arn} does not exist: create it, with a trust policy naming {service}"
            ))
        })?;
        let service_caller = Caller::Service { name: service.to_string() };
        let context = Context::new();
        let request =
            Request { caller: &service_caller, action: "sts:AssumeRole", resource: role_arn, context: &context };
        let policies = Policies { resource: Some(NamedPolicy { name: "trust", policy: &trust }), ..Default::default() };
        if !trainyard_iam::evaluate(&request, &policies).is_allowed() {
            return Err(Error::InvalidInput(format!(
                "the trust policy of role {role_arn} does not allow {service} to assume it"
            )));
        }
        Ok(())
    }

    /// Assumes a role: the caller must be allowed `sts:AssumeRole` on it, and its trust
    /// policy must allow the caller. Root may assume any role (break-glass; audited).
    pub async fn assume_role(
        &self,
        caller: &Identity,
        request: AssumeRole,
        facts: &RequestFacts,
    ) -> Result<Credentials, Error> {
        names::check_session_name(&request.session_name)?;
        // Invariant: a caller who may not assume a role learns nothing of whether it exists.
        let (role, trust) = match self.role_and_trust(&request.role_arn) {
            Ok(found) => found,
            Err(_) if !caller.is_root() => {
                return Err(Error::AccessDenied(format!(
                    "{} is not authorized to perform: sts:AssumeRole on resource: {}",
                    caller.arn, request.role_arn
                )))
            }
            Err(e) => return Err(e),
        };
        if !caller.is_root() {
            let access = AccessRequest {
                action: "sts:AssumeRole",
                resource: &request.role_arn,
                facts,
                resource_policy: Some(&trust),
            };
            self.require(caller, &access)?;
        }
        // Role chaining (a session assuming a role) is capped at one hour, as on AWS.
        let maximum = match caller.kind {
            IdentityKind::AssumedRole => names::DEFAULT_SESSION_SECONDS,
            _ => role.record.max_session_seconds.unwrap_or(names::DEFAULT_SESSION_SECONDS),
        };
        let duration = request.duration_seconds.unwrap_or(names::DEFAULT_SESSION_SECONDS.min(maximum));
        names::check_session_duration(duration, maximum)?;
        self.start_session(&role, &request.session_name, duration, request.policy.as_deref(), &caller.arn).await
    }

    /// Starts a session of `role_arn` for `service` (a function or job run), whose trust
    /// policy must allow that service to assume it.
    pub async fn start_service_session(
        &self,
        role_arn: &str,
        service: &str,
        session_name: &str,
        duration_seconds: i64,
    ) -> Result<ServiceSession, Error> {
        names::check_session_name(session_name)?;
        let (role, trust) = self.role_and_trust(role_arn)?;
        let caller = Caller::Service { name: service.to_string() };
        let context = Context::new();
        let request = Request { caller: &caller, action: "sts:AssumeRole", resource: role_arn, context: &context };
        let decision = trainyard_iam::evaluate(
            &request,
            &Policies { resource: Some(NamedPolicy { name: "trust", policy: &trust }), ..Default::default() },
        );
        if !decision.is_allowed() {
            return Err(Error::AccessDenied(format!(
                "the trust policy of role {role_arn} does not allow {service} to assume it"
            )));
        }
        let maximum = role.record.max_session_seconds.unwrap_or(names::DEFAULT_SESSION_SECONDS);
        let duration = duration_seconds.clamp(names::MIN_SESSION_SECONDS, maximum);
        let credentials = self.start_session(&role, session_name, duration, None, service).await?;
        Ok(ServiceSession { session_id: credentials.access_key_id.clone(), credentials })
    }

    fn role_and_trust(&self, role_arn: &str) -> Result<(PrincipalEntry, Arc<Policy>), Error> {
        let view = self.read();
        let role = view
            .find_arn(role_arn)
            .filter(|entry| entry.kind == PrincipalKind::Role)
            .cloned()
            .ok_or_else(|| Error::NoSuchEntity { kind: "role", name: role_arn.to_string() })?;
        let trust =
            role.trust.clone().ok_or_else(|| Error::AccessDenied(format!("role {role_arn} has no trust policy")))?;
        Ok((role, trust))
    }

    async fn start_session(
        &self,
        role: &PrincipalEntry,
        session_name: &str,
        duration: i64,
        policy: Option<&str>,
        issued_by: &str,
    ) -> Result<Credentials, Error> {
        if let Some(text) = policy {
            Policy::parse(text, PolicyKind::Session).map_err(Error::MalformedPolicyDocument)?;
        }
        let (record, token) = self.new_session(&role.record.id, session_name, policy, issued_by, duration);
        let _write = self.inner.writes.lock().await;
        self.inner.store.create_session(&record).await?;
        let mut inserted = Ok(());
        self.apply(|view| inserted = view.insert_session(record.clone()));
        inserted?;
        let arn = session_arn(&role.record.name, session_name);
        Ok(self.issued(&record, token, arn, format!("{}:{session_name}", role.record.id)))
    }

    /// Ends a session at once (a function's invocation or a job has ended).
    pub async fn revoke_session(&self, session_id: &str) -> Result<(), Error> {
        let _write = self.inner.writes.lock().await;
        self.inner.store.revoke_session(session_id, Utc::now()).await?;
        self.apply(|view| view.retain_sessions(|session| session.record.id != session_id));
        Ok(())
    }

    /// Forgets sessions that ended more than a day ago (an expired one is reported as
    /// `ExpiredToken` until then).
    pub async fn forget_ended_sessions(&self, now: DateTime<Utc>) -> Result<u64, Error> {
        let before = now - Duration::days(1);
        let _write = self.inner.writes.lock().await;
        let forgotten = self.inner.store.delete_ended_sessions(before).await?;
        self.apply(|view| view.retain_sessions(|session| session.record.expires_at >= before));
        Ok(forgotten)
    }

    /// The caller and signing secret of a SigV4 request's access key id: a user's or
    /// robot's active key, or a live session (root's or a role's) whose token the request
    /// carries (`X-Amz-Security-Token`).
    pub fn sigv4_identity(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(Identity, String), Error> {
        let view = self.read();
        if let Some(key) = view.key(access_key_id) {
            let entry = view.principals.get(&key.principal_id).ok_or(Error::InvalidClientTokenId)?;
            if !key.active {
                return Err(Error::InvalidClientTokenId);
            }
            let secret = derive_secret(&self.inner.sealer, SecretKind::of_key(entry.kind), access_key_id);
            return Ok((principal_identity(entry, Some(key.id.clone())), secret));
        }
        let token = session_token.ok_or(Error::InvalidClientTokenId)?;
        // Invariant: a session's key id is bound to its own token.
        let session = view.sessions.get(&credentials::digest(token)).ok_or(Error::InvalidClientTokenId)?;
        if session.record.id != access_key_id {
            return Err(Error::InvalidClientTokenId);
        }
        if session.record.expires_at <= now {
            return Err(Error::ExpiredToken);
        }
        let identity = match view.principals.get(&session.record.role_id) {
            Some(role) => session_identity(role, session),
            None if session.record.role_id == ROOT_SESSION => root_session_identity(session),
            None => return Err(Error::InvalidClientTokenId),
        };
        Ok((identity, derive_secret(&self.inner.sealer, SecretKind::SessionSecret, access_key_id)))
    }

    /// The caller a still-valid credential id names (an active access key, or a live
    /// session of a role or of root), as a signature made with it would authenticate: what an
    /// ECR login password issued to that credential stands for.
    pub(crate) fn credential_identity(&self, id: &str, now: DateTime<Utc>) -> Result<Identity, Error> {
        let view = self.read();
        if let Some(key) = view.key(id) {
            let entry = view.principals.get(&key.principal_id).ok_or(Error::InvalidClientTokenId)?;
            if !key.active {
                return Err(Error::InvalidClientTokenId);
            }
            return Ok(principal_identity(entry, Some(key.id.clone())));
        }
        let session = view.session(id).ok_or(Error::InvalidClientTokenId)?;
        if session.record.expires_at <= now {
            return Err(Error::ExpiredToken);
        }
        match view.principals.get(&session.record.role_id) {
            Some(role) => Ok(session_identity(role, session)),
            None if session.record.role_id == ROOT_SESSION => Ok(root_session_identity(session)),
            None => Err(Error::InvalidClientTokenId),
        }
    }

    /// A session of root (for AWS clients: root has no access key), kept in memory only:
    /// it does not outlive the server.
    /// `GetSessionToken` for a user or service account: a session that is that principal
    /// (its policies, nothing more), kept in memory like root's. `issued_by`: who asked.
    pub async fn start_user_session(&self, user: &str, seconds: i64, issued_by: &str) -> Result<Credentials, Error> {
        names::check_session_duration(seconds, names::MAX_SESSION_SECONDS)?;
        let (id, arn) = {
            let view = self.read();
            let entry = view
                .principals
                .values()
                .find(|e| e.kind != PrincipalKind::Role && (e.record.name == user || e.arn == user))
                .ok_or_else(|| Error::NoSuchEntity { kind: "user", name: user.to_string() })?;
            (entry.record.id.clone(), entry.arn.clone())
        };
        let (record, token) = self.new_session(&id, user, None, issued_by, seconds);
        self.keep_in_memory(&record)?;
        Ok(self.issued(&record, token, arn, id))
    }

    pub async fn start_root_session(&self, seconds: i64) -> Result<Credentials, Error> {
        names::check_session_duration(seconds, names::MAX_SESSION_SECONDS)?;
        let (record, token) = self.new_session(ROOT_SESSION, "root", None, &Identity::root().arn, seconds);
        self.keep_in_memory(&record)?;
        Ok(self.issued(&record, token, Identity::root().arn, trainyard_iam::ACCOUNT.to_string()))
    }

    /// Adds a session kept in memory only: this replica's alone, kept across reloads.
    fn keep_in_memory(&self, record: &SessionRecord) -> Result<(), Error> {
        self.inner.memory_sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(record.id.clone());
        let mut inserted = Ok(());
        self.apply_here(|view| inserted = view.insert_session(record.clone()));
        inserted
    }
}

/// The role id of root's sessions (which have no role).
const ROOT_SESSION: &str = "root";

/// Root, through one of its sessions.
fn root_session_identity(session: &SessionEntry) -> Identity {
    Identity { access_key_id: Some(session.record.id.clone()), ..Identity::root() }
}

impl Identities {
    /// A new session of `role_id` (a role's id, or root's) lasting `seconds`: its record and
    /// its token (shown once).
    fn new_session(
        &self,
        role_id: &str,
        session_name: &str,
        policy: Option<&str>,
        issued_by: &str,
        seconds: i64,
    ) -> (SessionRecord, String) {
        let id = credentials::new_id("ASIA");
        let token = derive_secret(&self.inner.sealer, SecretKind::SessionToken, &id);
        let now = Utc::now();
        let record = SessionRecord {
            token_digest: credentials::digest(&token).to_vec(),
            id,
            role_id: role_id.to_string(),
            session_name: session_name.to_string(),
            session_policy: policy.map(str::to_string),
            issued_by: issued_by.to_string(),
            issued_at: now,
            expires_at: now + Duration::seconds(seconds),
        };
        (record, token)
    }

    /// The credentials of a session just started (its signing secret derived again).
    fn issued(&self, record: &SessionRecord, token: String, arn: String, assumed_id: String) -> Credentials {
        Credentials {
            secret_access_key: derive_secret(&self.inner.sealer, SecretKind::SessionSecret, &record.id),
            session_token: token,
            expiration: record.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            assumed_role_arn: arn,
            assumed_role_id: assumed_id,
            access_key_id: record.id.clone(),
        }
    }
}

/// The identity of a user or service account using key `key_id`.
fn principal_identity(entry: &PrincipalEntry, key_id: Option<String>) -> Identity {
    Identity {
        kind: if entry.kind == PrincipalKind::ServiceAccount {
            IdentityKind::ServiceAccount
        } else {
            IdentityKind::User
        },
        arn: entry.arn.clone(),
        user_id: entry.record.id.clone(),
        name: entry.record.name.clone(),
        access_key_id: key_id,
        session: None,
        tags: entry.record.tags.clone(),
    }
}

/// The identity of a role session.
fn session_identity(role: &PrincipalEntry, session: &SessionEntry) -> Identity {
    let record = &session.record;
    if role.kind != PrincipalKind::Role {
        // A user's own session (GetSessionToken): the user, signing with the session's key.
        return principal_identity(role, Some(record.id.clone()));
    }
    Identity {
        kind: IdentityKind::AssumedRole,
        arn: session_arn(&role.record.name, &record.session_name),
        user_id: format!("{}:{}", role.record.id, record.session_name),
        name: role.record.name.clone(),
        access_key_id: Some(record.id.clone()),
        session: Some(SessionContext {
            session_id: record.id.clone(),
            role_id: role.record.id.clone(),
            role_name: role.record.name.clone(),
            role_arn: role.arn.clone(),
            session_name: record.session_name.clone(),
            issued_at: record.issued_at,
            expires_at: record.expires_at,
        }),
        tags: role.record.tags.clone(),
    }
}

/// The request context: the global condition keys AWS sets, from the caller and the request.
fn context_of(identity: &Identity, facts: &RequestFacts, now: DateTime<Utc>) -> Context {
    let mut context = Context::new();
    let principal_type = match identity.kind {
        IdentityKind::Root => "Account",
        IdentityKind::User | IdentityKind::ServiceAccount => "User",
        IdentityKind::AssumedRole => "AssumedRole",
    };
    context
        .set("aws:PrincipalArn", identity.session.as_ref().map_or(identity.arn.as_str(), |s| s.role_arn.as_str()))
        .set("aws:PrincipalType", principal_type)
        .set("aws:PrincipalAccount", ACCOUNT)
        .set("aws:userid", identity.user_id.as_str())
        .set("aws:CurrentTime", now.to_rfc3339_opts(SecondsFormat::Secs, true))
        .set("aws:EpochTime", now.timestamp().to_string())
        .set("aws:SecureTransport", if facts.secure_transport { "true" } else { "false" });
    if matches!(identity.kind, IdentityKind::User | IdentityKind::ServiceAccount) {
        context.set("aws:username", identity.name.as_str());
    }
    if let Some(session) = &identity.session {
        context.set("aws:TokenIssueTime", session.issued_at.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    for (key, value) in &identity.tags {
        context.set(&format!("aws:PrincipalTag/{key}"), value.as_str());
    }
    if let Some(ip) = &facts.source_ip {
        context.set("aws:SourceIp", ip.as_str());
    }
    for (key, value) in &facts.request_tags {
        context.set(&format!("aws:RequestTag/{key}"), value.as_str());
    }
    if !facts.request_tags.is_empty() {
        context.set_multi("aws:TagKeys", facts.request_tags.keys().cloned().collect());
    }
    for (key, value) in &facts.resource_tags {
        context.set(&format!("aws:ResourceTag/{key}"), value.as_str());
    }
    if let Some(service) = &facts.passed_to_service {
        context.set("iam:PassedToService", service.as_str());
    }
    for (key, values) in &facts.extra {
        match values.as_slice() {
            [one] => drop(context.set(key, one.as_str())),
            many => drop(context.set_multi(key, many.to_vec())),
        }
    }
    context
}

/// Reloads the view when another replica changes identities (or notices may have been
/// missed); ends with the service.
async fn follow_other_replicas(
    inner: std::sync::Weak<Inner>,
    mut changes: tokio::sync::broadcast::Receiver<trainyard_store::Change>,
) {
    use tokio::sync::broadcast::error::RecvError;
    use trainyard_store::Change;
    loop {
        match changes.recv().await {
            Ok(Change::Identity | Change::Missed) | Err(RecvError::Lagged(_)) => {}
            Ok(_) => continue,
            Err(RecvError::Closed) => return,
        }
        while changes.try_recv().is_ok() {}
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = (Identities { inner }).reload().await {
            tracing::warn!(error = %e, "reloading identities after another replica's change");
        }
    }
}

/// The built-in managed policies, parsed.
fn builtin_policies() -> Result<Vec<ManagedPolicy>, Error> {
    trainyard_iam::builtin_policies()
        .into_iter()
        .map(|(name, arn, document)| {
            let policy = crate::view::parse_stored(document, PolicyKind::Identity, name)?;
            let epoch = DateTime::<Utc>::UNIX_EPOCH;
            let record = trainyard_store::ManagedPolicyRecord {
                arn,
                name: name.to_string(),
                description: None,
                document: document.to_string(),
                created_at: epoch,
                updated_at: epoch,
            };
            Ok(ManagedPolicy { record, builtin: true, policy })
        })
        .collect()
}
