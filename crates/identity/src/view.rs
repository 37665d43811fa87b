//! The in-memory view of every principal, policy, key and live session, parsed once:
//! what authenticating and authorizing a request read, without touching the database.
//!
//! Invariant: the view changes only after the store has committed the same change (the
//! service writes, then applies), so it never shows what a crash could undo.

use std::collections::HashMap;
use std::sync::Arc;

use trainyard_iam::{NamedPolicy, Policy, PolicyKind};
use trainyard_store::{IamRecords, ManagedPolicyRecord, PrincipalRecord, SessionRecord};

use crate::credentials::SecretDigest;
use crate::identity::PrincipalKind;
use crate::Error;

/// A managed policy, parsed.
#[derive(Debug, Clone)]
pub(crate) struct ManagedPolicy {
    pub record: ManagedPolicyRecord,
    pub builtin: bool,
    pub policy: Arc<Policy>,
}

/// A principal with its policies, parsed.
#[derive(Debug, Clone)]
pub(crate) struct PrincipalEntry {
    pub record: PrincipalRecord,
    pub kind: PrincipalKind,
    pub arn: String,
    pub attached: Vec<String>,
    pub inline: Vec<(String, Arc<Policy>)>,
    pub trust: Option<Arc<Policy>>,
}

#[derive(Debug, Clone)]
pub(crate) struct KeyEntry {
    pub id: String,
    pub principal_id: String,
    pub active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct SessionEntry {
    pub record: SessionRecord,
    pub policy: Option<Arc<Policy>>,
}

/// Everything, indexed.
#[derive(Debug, Default)]
pub(crate) struct View {
    pub principals: HashMap<String, PrincipalEntry>,
    /// `PrincipalRecord::name_key` → id.
    pub by_name: HashMap<String, String>,
    /// ARN → policy (built-in and customer-managed).
    pub managed: HashMap<String, ManagedPolicy>,
    pub keys: HashMap<SecretDigest, KeyEntry>,
    /// Key id → its digest.
    pub key_ids: HashMap<String, SecretDigest>,
    pub sessions: HashMap<SecretDigest, SessionEntry>,
    /// Session id → its digest.
    pub session_ids: HashMap<String, SecretDigest>,
    /// Resource ARN → its resource-based policy (bucket policies).
    pub resource_policies: HashMap<String, Arc<Policy>>,
    /// Bumped by every change (decisions made before it are stale).
    pub generation: u64,
}

/// Parses a stored policy document (stored documents were validated when put).
pub(crate) fn parse_stored(text: &str, kind: PolicyKind, what: &str) -> Result<Arc<Policy>, Error> {
    Policy::parse(text, kind)
        .map(Arc::new)
        .map_err(|problems| Error::Corrupt(format!("stored {what} no longer parses: {problems}")))
}

impl View {
    /// The view of everything stored, with the built-in managed policies.
    pub fn load(records: IamRecords, builtins: Vec<ManagedPolicy>) -> Result<View, Error> {
        let mut view = View::default();
        for policy in builtins {
            view.managed.insert(policy.record.arn.clone(), policy);
        }
        for record in records.policies {
            let policy = parse_stored(&record.document, PolicyKind::Identity, &format!("policy {}", record.arn))?;
            view.managed.insert(record.arn.clone(), ManagedPolicy { record, builtin: false, policy });
        }
        for record in records.principals {
            view.insert_principal(PrincipalEntry::new(record)?);
        }
        for (principal_id, arn) in records.attachments {
            if let Some(entry) = view.principals.get_mut(&principal_id) {
                entry.attached.push(arn);
            }
        }
        for (arn, document) in records.resource_policies {
            let policy = parse_stored(&document, PolicyKind::Resource, &format!("resource policy of {arn}"))?;
            view.resource_policies.insert(arn, policy);
        }
        for (principal_id, name, document) in records.inline_policies {
            let policy = parse_stored(&document, PolicyKind::Identity, &format!("inline policy {name}"))?;
            if let Some(entry) = view.principals.get_mut(&principal_id) {
                entry.inline.push((name, policy));
            }
        }
        for key in records.access_keys {
            let digest = digest_of(&key.secret_digest)?;
            let entry = KeyEntry {
                id: key.id,
                principal_id: key.principal_id,
                active: key.status == "Active",
                created_at: key.created_at,
            };
            view.insert_key(digest, entry);
        }
        for record in records.sessions {
            view.insert_session(record)?;
        }
        Ok(view)
    }

    pub fn insert_principal(&mut self, entry: PrincipalEntry) {
        self.by_name.insert(entry.record.name_key(), entry.record.id.clone());
        self.principals.insert(entry.record.id.clone(), entry);
    }

    pub fn remove_principal(&mut self, id: &str) {
        if let Some(entry) = self.principals.remove(id) {
            self.by_name.remove(&entry.record.name_key());
        }
        self.keys.retain(|_, key| key.principal_id != id);
        self.key_ids.retain(|_, digest| self.keys.contains_key(digest));
        self.retain_sessions(|session| session.record.role_id != id);
    }

    pub fn insert_key(&mut self, digest: SecretDigest, key: KeyEntry) {
        self.key_ids.insert(key.id.clone(), digest);
        self.keys.insert(digest, key);
    }

    pub fn key(&self, id: &str) -> Option<&KeyEntry> {
        self.key_ids.get(id).and_then(|digest| self.keys.get(digest))
    }

    pub fn remove_key(&mut self, id: &str) {
        if let Some(digest) = self.key_ids.remove(id) {
            self.keys.remove(&digest);
        }
    }

    pub fn session(&self, id: &str) -> Option<&SessionEntry> {
        self.session_ids.get(id).and_then(|digest| self.sessions.get(digest))
    }

    /// Keeps the sessions `keep` says to keep.
    pub fn retain_sessions(&mut self, keep: impl Fn(&SessionEntry) -> bool) {
        self.sessions.retain(|_, session| keep(session));
        let sessions = &self.sessions;
        self.session_ids.retain(|_, digest| sessions.contains_key(digest));
    }

    pub fn insert_session(&mut self, record: SessionRecord) -> Result<(), Error> {
        let digest = digest_of(&record.token_digest)?;
        let policy = match &record.session_policy {
            Some(text) => Some(parse_stored(text, PolicyKind::Session, "session policy")?),
            None => None,
        };
        self.session_ids.insert(record.id.clone(), digest);
        self.sessions.insert(digest, SessionEntry { record, policy });
        Ok(())
    }

    /// The principal of `kind` named `name` (case-insensitive, as IAM names are).
    pub fn find(&self, kind: PrincipalKind, name: &str) -> Option<&PrincipalEntry> {
        let namespace = if kind == PrincipalKind::Role { "role" } else { "user" };
        let id = self.by_name.get(&format!("{namespace}:{}", name.to_lowercase()))?;
        self.principals.get(id).filter(|entry| entry.kind == kind)
    }

    /// A principal by its ARN.
    pub fn find_arn(&self, arn: &str) -> Option<&PrincipalEntry> {
        let (kind, name) = parse_principal_arn(arn)?;
        match kind {
            PrincipalKind::Role => self.find(PrincipalKind::Role, name),
            _ => self.find(PrincipalKind::User, name).or_else(|| self.find(PrincipalKind::ServiceAccount, name)),
        }
        .filter(|entry| entry.arn == arn)
    }

    /// The identity-layer policies of a principal, named as they are reported.
    pub fn identity_policies<'a>(&'a self, entry: &'a PrincipalEntry) -> Vec<NamedPolicy<'a>> {
        let mut policies: Vec<NamedPolicy<'a>> = entry
            .attached
            .iter()
            .filter_map(|arn| self.managed.get(arn).map(|m| NamedPolicy { name: arn, policy: &m.policy }))
            .collect();
        policies.extend(entry.inline.iter().map(|(name, policy)| NamedPolicy { name, policy }));
        policies
    }

    /// A principal's permissions boundary, if it has one that exists.
    pub fn boundary<'a>(&'a self, entry: &'a PrincipalEntry) -> Option<NamedPolicy<'a>> {
        let arn = entry.record.boundary_arn.as_deref()?;
        self.managed.get(arn).map(|m| NamedPolicy { name: arn, policy: &m.policy })
    }
}

impl PrincipalEntry {
    pub fn new(record: PrincipalRecord) -> Result<PrincipalEntry, Error> {
        let kind = PrincipalKind::parse(&record.kind)
            .ok_or_else(|| Error::Corrupt(format!("principal {} has kind {:?}", record.id, record.kind)))?;
        let trust = match &record.trust_policy {
            Some(text) => Some(parse_stored(text, PolicyKind::Trust, &format!("trust policy of {}", record.name))?),
            None => None,
        };
        let arn = kind.arn(&record.path, &record.name);
        Ok(PrincipalEntry { record, kind, arn, attached: Vec::new(), inline: Vec::new(), trust })
    }
}

/// (kind, name) of `arn:aws:iam::ACCOUNT:user/PATH/NAME` or `…:role/PATH/NAME`.
pub(crate) fn parse_principal_arn(arn: &str) -> Option<(PrincipalKind, &str)> {
    let rest = arn.strip_prefix(&format!("arn:aws:iam::{}:", trainyard_iam::ACCOUNT))?;
    let (kind, path_and_name) = rest.split_once('/')?;
    let name = path_and_name.rsplit('/').next()?;
    match kind {
        "user" => Some((PrincipalKind::User, name)),
        "role" => Some((PrincipalKind::Role, name)),
        _ => None,
    }
}

fn digest_of(bytes: &[u8]) -> Result<SecretDigest, Error> {
    bytes.try_into().map_err(|_| Error::Corrupt(format!("a stored digest has {} bytes, not 32", bytes.len())))
}
