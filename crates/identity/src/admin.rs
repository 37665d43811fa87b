//! Administration: users, service accounts and roles; managed and inline policies and
//! their attachments; permissions boundaries; tags; access keys. Each change is checked
//! whole, written to the store, then applied to the view.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use trainyard_iam::{Policy, PolicyKind};
use trainyard_store::{AccessKeyRecord, ManagedPolicyRecord, PrincipalRecord};

use crate::credentials::{self, derive_secret, SecretKind};
use crate::identity::{policy_arn, PrincipalKind};
use crate::names;
use crate::service::Identities;
use crate::view::{KeyEntry, ManagedPolicy, PrincipalEntry, View};
use crate::Error;

/// At most this many access keys per principal (AWS's limit).
const MAX_KEYS: usize = 2;

/// A principal to create.
#[derive(Debug, Clone, Default)]
pub struct NewPrincipal {
    pub name: String,
    pub path: Option<String>,
    pub description: Option<String>,
    /// Roles only, and required for them.
    pub trust_policy: Option<String>,
    /// Roles only: 3600–43200 seconds.
    pub max_session_seconds: Option<i64>,
    /// A managed policy's ARN.
    pub boundary: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedPolicy {
    pub policy_name: String,
    pub policy_arn: String,
}

/// A principal as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrincipalView {
    pub kind: PrincipalKind,
    pub name: String,
    pub arn: String,
    pub id: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub create_date: String,
    pub tags: BTreeMap<String, String>,
    pub attached_policies: Vec<AttachedPolicy>,
    pub inline_policies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assume_role_policy_document: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_session_duration: Option<i64>,
}

/// A managed policy as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyView {
    pub policy_name: String,
    pub arn: String,
    /// Built-in (AWS-managed) policies cannot be changed or deleted.
    pub builtin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub attachment_count: usize,
    pub document: String,
    pub update_date: String,
}

/// An access key as listed (never its secret).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyView {
    pub access_key_id: String,
    pub user_name: String,
    pub status: &'static str,
    pub create_date: String,
}

/// A new access key with its secret: shown once, never again.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewAccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub user_name: String,
    pub status: &'static str,
    pub create_date: String,
}

fn date(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_policy(text: &str, kind: PolicyKind) -> Result<Arc<Policy>, Error> {
    Policy::parse(text, kind).map(Arc::new).map_err(Error::MalformedPolicyDocument)
}

fn no_such(kind: PrincipalKind, name: &str) -> Error {
    Error::NoSuchEntity { kind: kind.as_str_static(), name: name.to_string() }
}

impl PrincipalKind {
    fn as_str_static(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::ServiceAccount => "service account",
            PrincipalKind::Role => "role",
        }
    }
}

impl View {
    fn principal_view(&self, entry: &PrincipalEntry) -> PrincipalView {
        let record = &entry.record;
        PrincipalView {
            kind: entry.kind,
            name: record.name.clone(),
            arn: entry.arn.clone(),
            id: record.id.clone(),
            path: record.path.clone(),
            description: record.description.clone(),
            create_date: date(record.created_at),
            tags: record.tags.clone(),
            attached_policies: entry
                .attached
                .iter()
                .map(|arn| AttachedPolicy {
                    policy_name: self.managed.get(arn).map_or_else(|| arn.clone(), |m| m.record.name.clone()),
                    policy_arn: arn.clone(),
                })
                .collect(),
            inline_policies: entry.inline.iter().map(|(name, _)| name.clone()).collect(),
            permissions_boundary: record.boundary_arn.clone(),
            assume_role_policy_document: record.trust_policy.clone(),
            max_session_duration: (entry.kind == PrincipalKind::Role)
                .then(|| record.max_session_seconds.unwrap_or(names::DEFAULT_SESSION_SECONDS)),
        }
    }

    fn policy_view(&self, policy: &ManagedPolicy) -> PolicyView {
        let arn = &policy.record.arn;
        PolicyView {
            policy_name: policy.record.name.clone(),
            arn: arn.clone(),
            builtin: policy.builtin,
            description: policy.record.description.clone(),
            attachment_count: self.principals.values().filter(|p| p.attached.contains(arn)).count(),
            document: policy.record.document.clone(),
            update_date: date(policy.record.updated_at),
        }
    }

    fn entry(&self, kind: PrincipalKind, name: &str) -> Result<&PrincipalEntry, Error> {
        self.find(kind, name).ok_or_else(|| no_such(kind, name))
    }

    /// A managed policy by name or ARN.
    fn managed_policy(&self, name_or_arn: &str) -> Result<&ManagedPolicy, Error> {
        self.managed
            .get(name_or_arn)
            .or_else(|| self.managed.values().find(|m| m.record.name.eq_ignore_ascii_case(name_or_arn)))
            .ok_or_else(|| Error::NoSuchEntity { kind: "policy", name: name_or_arn.to_string() })
    }
}

impl Identities {
    pub async fn create_principal(&self, kind: PrincipalKind, new: NewPrincipal) -> Result<PrincipalView, Error> {
        let record = self.check_new_principal(kind, new)?;
        let entry = PrincipalEntry::new(record.clone())?;
        let _write = self.inner.writes.lock().await;
        self.inner.store.create_principal(&record).await?;
        self.apply(|view| view.insert_principal(entry.clone()));
        Ok(self.read().principal_view(&entry))
    }

    fn check_new_principal(&self, kind: PrincipalKind, new: NewPrincipal) -> Result<PrincipalRecord, Error> {
        let field = if kind == PrincipalKind::Role { "RoleName" } else { "UserName" };
        names::check_name(field, &new.name, 64)?;
        let path = new.path.unwrap_or_else(|| "/".to_string());
        names::check_path(&path)?;
        names::check_tags(&new.tags)?;
        match (kind, &new.trust_policy) {
            (PrincipalKind::Role, None) => {
                return Err(Error::InvalidInput("a role needs an AssumeRolePolicyDocument (its trust policy)".into()))
            }
            (PrincipalKind::Role, Some(text)) => drop(parse_policy(text, PolicyKind::Trust)?),
            (_, Some(_)) => return Err(Error::InvalidInput("only a role has a trust policy".into())),
            (_, None) => {}
        }
        if let Some(seconds) = new.max_session_seconds {
            if kind != PrincipalKind::Role {
                return Err(Error::InvalidInput("only a role has a MaxSessionDuration".into()));
            }
            names::check_max_session(seconds)?;
        }
        if let Some(boundary) = &new.boundary {
            self.read().managed_policy(boundary)?;
        }
        Ok(PrincipalRecord {
            id: credentials::new_id(kind.id_prefix()),
            kind: kind.as_str().to_string(),
            name: new.name,
            path,
            description: new.description,
            trust_policy: new.trust_policy,
            max_session_seconds: new.max_session_seconds,
            boundary_arn: new
                .boundary
                .map(|b| self.read().managed_policy(&b).map(|m| m.record.arn.clone()))
                .transpose()?,
            tags: new.tags,
            created_at: Utc::now(),
        })
    }

    pub fn principal(&self, kind: PrincipalKind, name: &str) -> Result<PrincipalView, Error> {
        let view = self.read();
        let entry = view.entry(kind, name)?;
        Ok(view.principal_view(entry))
    }

    /// A principal's tags (`aws:ResourceTag/*` of calls on it); none if it does not exist.
    pub fn principal_tags(&self, kind: PrincipalKind, name: &str) -> BTreeMap<String, String> {
        self.read().find(kind, name).map(|entry| entry.record.tags.clone()).unwrap_or_default()
    }

    pub fn principals(&self, kind: PrincipalKind) -> Vec<PrincipalView> {
        let view = self.read();
        let mut all: Vec<_> =
            view.principals.values().filter(|e| e.kind == kind).map(|e| view.principal_view(e)).collect();
        all.sort_by_key(|p| p.name.to_lowercase());
        all
    }

    /// Deletes a principal with its keys, sessions and policies.
    pub async fn delete_principal(&self, kind: PrincipalKind, name: &str) -> Result<(), Error> {
        let _write = self.inner.writes.lock().await;
        let id = self.read().entry(kind, name)?.record.id.clone();
        self.inner.store.delete_principal(&id).await?;
        self.apply(|view| view.remove_principal(&id));
        Ok(())
    }

    /// Changes a principal's record through `change`, then stores and applies it.
    async fn update_principal(
        &self,
        kind: PrincipalKind,
        name: &str,
        change: impl FnOnce(&View, &mut PrincipalEntry) -> Result<(), Error>,
    ) -> Result<PrincipalView, Error> {
        let _write = self.inner.writes.lock().await;
        let mut entry = {
            let view = self.read();
            let mut entry = view.entry(kind, name)?.clone();
            change(&view, &mut entry)?;
            entry
        };
        self.inner.store.update_principal(&entry.record).await?;
        entry.arn = kind.arn(&entry.record.path, &entry.record.name);
        self.apply(|view| view.insert_principal(entry.clone()));
        Ok(self.read().principal_view(&entry))
    }

    /// Sets a resource's policy (S3's `PutBucketPolicy`): checked as a resource policy
    /// (every statement names its principals), stored, then in force.
    pub async fn put_resource_policy(&self, arn: &str, document: &str) -> Result<(), Error> {
        let policy = parse_policy(document, PolicyKind::Resource)?;
        let _write = self.inner.writes.lock().await;
        self.inner.store.put_resource_policy(arn, document, Utc::now()).await?;
        self.apply(|view| {
            view.resource_policies.insert(arn.to_string(), policy);
        });
        Ok(())
    }

    /// A resource's policy document, if it has one.
    pub fn resource_policy_document(&self, arn: &str) -> Option<String> {
        self.read().resource_policies.get(arn).map(|p| p.text().to_string())
    }

    /// Removes a resource's policy; `NoSuchEntity` if it has none.
    pub async fn delete_resource_policy(&self, arn: &str) -> Result<(), Error> {
        let _write = self.inner.writes.lock().await;
        self.inner.store.delete_resource_policy(arn).await?;
        self.apply(|view| {
            view.resource_policies.remove(arn);
        });
        Ok(())
    }

    /// Replaces a role's trust policy (`iam:UpdateAssumeRolePolicy`).
    pub async fn update_trust_policy(&self, role: &str, document: &str) -> Result<PrincipalView, Error> {
        let trust = parse_policy(document, PolicyKind::Trust)?;
        self.update_principal(PrincipalKind::Role, role, |_, entry| {
            entry.record.trust_policy = Some(document.to_string());
            entry.trust = Some(trust);
            Ok(())
        })
        .await
    }

    /// Sets or removes a principal's permissions boundary (a managed policy).
    pub async fn set_boundary(
        &self,
        kind: PrincipalKind,
        name: &str,
        policy: Option<&str>,
    ) -> Result<PrincipalView, Error> {
        self.update_principal(kind, name, |view, entry| {
            entry.record.boundary_arn =
                policy.map(|p| view.managed_policy(p).map(|m| m.record.arn.clone())).transpose()?;
            Ok(())
        })
        .await
    }

    /// Adds or replaces tags.
    pub async fn tag(
        &self,
        kind: PrincipalKind,
        name: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<PrincipalView, Error> {
        self.update_principal(kind, name, |_, entry| {
            let mut merged = entry.record.tags.clone();
            merged.extend(tags);
            names::check_tags(&merged)?;
            entry.record.tags = merged;
            Ok(())
        })
        .await
    }

    pub async fn untag(&self, kind: PrincipalKind, name: &str, keys: &[String]) -> Result<PrincipalView, Error> {
        self.update_principal(kind, name, |_, entry| {
            entry.record.tags.retain(|key, _| !keys.contains(key));
            Ok(())
        })
        .await
    }

    pub async fn create_policy(
        &self,
        name: &str,
        description: Option<String>,
        document: &str,
    ) -> Result<PolicyView, Error> {
        names::check_name("PolicyName", name, 128)?;
        let policy = parse_policy(document, PolicyKind::Identity)?;
        let now = Utc::now();
        let record = ManagedPolicyRecord {
            arn: policy_arn(name),
            name: name.to_string(),
            description,
            document: document.to_string(),
            created_at: now,
            updated_at: now,
        };
        let _write = self.inner.writes.lock().await;
        if self.read().managed_policy(name).is_ok() {
            return Err(Error::EntityAlreadyExists { kind: "policy", name: name.to_string() });
        }
        self.inner.store.create_policy(&record).await?;
        let managed = ManagedPolicy { record, builtin: false, policy };
        self.apply(|view| drop(view.managed.insert(managed.record.arn.clone(), managed.clone())));
        Ok(self.read().policy_view(&managed))
    }

    pub fn policy(&self, name_or_arn: &str) -> Result<PolicyView, Error> {
        let view = self.read();
        Ok(view.policy_view(view.managed_policy(name_or_arn)?))
    }

    pub fn policies(&self) -> Vec<PolicyView> {
        let view = self.read();
        let mut all: Vec<_> = view.managed.values().map(|m| view.policy_view(m)).collect();
        all.sort_by_key(|p| (p.builtin, p.policy_name.to_lowercase()));
        all
    }

    /// Replaces a customer-managed policy's document (its new default version).
    pub async fn update_policy(&self, name_or_arn: &str, document: &str) -> Result<PolicyView, Error> {
        let policy = parse_policy(document, PolicyKind::Identity)?;
        let _write = self.inner.writes.lock().await;
        let mut managed = self.read().managed_policy(name_or_arn)?.clone();
        if managed.builtin {
            return Err(Error::InvalidInput(format!(
                "{} is a built-in policy and cannot be changed",
                managed.record.arn
            )));
        }
        let now = Utc::now();
        self.inner.store.update_policy_document(&managed.record.arn, document, now).await?;
        managed.record.document = document.to_string();
        managed.record.updated_at = now;
        managed.policy = policy;
        self.apply(|view| drop(view.managed.insert(managed.record.arn.clone(), managed.clone())));
        Ok(self.read().policy_view(&managed))
    }

    pub async fn delete_policy(&self, name_or_arn: &str) -> Result<(), Error> {
        let _write = self.inner.writes.lock().await;
        let managed = self.read().managed_policy(name_or_arn)?.clone();
        if managed.builtin {
            return Err(Error::InvalidInput(format!(
                "{} is a built-in policy and cannot be deleted",
                managed.record.arn
            )));
        }
        let boundaries = self
            .read()
            .principals
            .values()
            .filter(|p| p.record.boundary_arn.as_ref() == Some(&managed.record.arn))
            .count();
        if boundaries > 0 {
            let reason = format!("it is the permissions boundary of {boundaries} principal(s)");
            return Err(Error::DeleteConflict { kind: "policy", name: managed.record.arn, reason });
        }
        self.inner.store.delete_policy(&managed.record.arn).await?;
        self.apply(|view| drop(view.managed.remove(&managed.record.arn)));
        Ok(())
    }

    pub async fn attach_policy(&self, kind: PrincipalKind, name: &str, policy: &str) -> Result<PrincipalView, Error> {
        let _write = self.inner.writes.lock().await;
        let (id, arn) = {
            let view = self.read();
            (view.entry(kind, name)?.record.id.clone(), view.managed_policy(policy)?.record.arn.clone())
        };
        self.inner.store.attach_policy(&id, &arn).await?;
        self.apply(|view| {
            if let Some(entry) = view.principals.get_mut(&id).filter(|e| !e.attached.contains(&arn)) {
                entry.attached.push(arn.clone());
            }
        });
        self.principal(kind, name)
    }

    pub async fn detach_policy(&self, kind: PrincipalKind, name: &str, policy: &str) -> Result<PrincipalView, Error> {
        let _write = self.inner.writes.lock().await;
        let (id, arn) = {
            let view = self.read();
            let arn = view.managed_policy(policy).map(|m| m.record.arn.clone()).unwrap_or_else(|_| policy.to_string());
            (view.entry(kind, name)?.record.id.clone(), arn)
        };
        self.inner.store.detach_policy(&id, &arn).await?;
        self.apply(|view| {
            if let Some(entry) = view.principals.get_mut(&id) {
                entry.attached.retain(|a| a != &arn);
            }
        });
        self.principal(kind, name)
    }

    /// Creates or replaces an inline policy.
    pub async fn put_inline_policy(
        &self,
        kind: PrincipalKind,
        name: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), Error> {
        names::check_name("PolicyName", policy_name, 128)?;
        let policy = parse_policy(document, PolicyKind::Identity)?;
        let _write = self.inner.writes.lock().await;
        let id = self.read().entry(kind, name)?.record.id.clone();
        self.inner.store.put_inline_policy(&id, policy_name, document).await?;
        self.apply(|view| {
            if let Some(entry) = view.principals.get_mut(&id) {
                entry.inline.retain(|(n, _)| n != policy_name);
                entry.inline.push((policy_name.to_string(), policy));
            }
        });
        Ok(())
    }

    /// An inline policy's document.
    pub fn inline_policy(&self, kind: PrincipalKind, name: &str, policy_name: &str) -> Result<String, Error> {
        let view = self.read();
        let entry = view.entry(kind, name)?;
        entry
            .inline
            .iter()
            .find(|(n, _)| n == policy_name)
            .map(|(_, policy)| policy.text().to_string())
            .ok_or_else(|| Error::NoSuchEntity { kind: "inline policy", name: policy_name.to_string() })
    }

    pub async fn delete_inline_policy(&self, kind: PrincipalKind, name: &str, policy_name: &str) -> Result<(), Error> {
        let _write = self.inner.writes.lock().await;
        let id = self.read().entry(kind, name)?.record.id.clone();
        self.inner.store.delete_inline_policy(&id, policy_name).await?;
        self.apply(|view| {
            if let Some(entry) = view.principals.get_mut(&id) {
                entry.inline.retain(|(n, _)| n != policy_name);
            }
        });
        Ok(())
    }

    /// Creates an access key for a user or service account; its secret is in the answer
    /// and nowhere else.
    pub async fn create_access_key(&self, kind: PrincipalKind, name: &str) -> Result<NewAccessKey, Error> {
        if kind == PrincipalKind::Role {
            return Err(Error::InvalidInput("a role has no access keys: assume it for a session".into()));
        }
        let _write = self.inner.writes.lock().await;
        let (principal_id, user_name) = {
            let view = self.read();
            let entry = view.entry(kind, name)?;
            let keys = view.keys.values().filter(|k| k.principal_id == entry.record.id).count();
            if keys >= MAX_KEYS {
                return Err(Error::InvalidInput(format!(
                    "{name} already has {MAX_KEYS} access keys (the limit): delete one first"
                )));
            }
            (entry.record.id.clone(), entry.record.name.clone())
        };
        let id = credentials::new_id("AKIA");
        let secret = derive_secret(&self.inner.sealer, SecretKind::of_key(kind), &id);
        let digest = credentials::digest(&secret);
        let now = Utc::now();
        let record = AccessKeyRecord {
            id: id.clone(),
            principal_id: principal_id.clone(),
            secret_digest: digest.to_vec(),
            status: "Active".into(),
            created_at: now,
        };
        self.inner.store.create_access_key(&record).await?;
        self.apply(|view| {
            view.insert_key(digest, KeyEntry { id: id.clone(), principal_id, active: true, created_at: now })
        });
        Ok(NewAccessKey {
            access_key_id: id,
            secret_access_key: secret,
            user_name,
            status: "Active",
            create_date: date(now),
        })
    }

    pub fn access_keys(&self, kind: PrincipalKind, name: &str) -> Result<Vec<AccessKeyView>, Error> {
        let view = self.read();
        let entry = view.entry(kind, name)?;
        let mut keys: Vec<_> = view
            .keys
            .values()
            .filter(|k| k.principal_id == entry.record.id)
            .map(|k| AccessKeyView {
                access_key_id: k.id.clone(),
                user_name: entry.record.name.clone(),
                status: if k.active { "Active" } else { "Inactive" },
                create_date: date(k.created_at),
            })
            .collect();
        keys.sort_by(|a, b| a.create_date.cmp(&b.create_date));
        Ok(keys)
    }

    /// Activates or deactivates a key.
    pub async fn set_access_key_active(
        &self,
        kind: PrincipalKind,
        name: &str,
        key_id: &str,
        active: bool,
    ) -> Result<(), Error> {
        let _write = self.inner.writes.lock().await;
        self.owned_key(kind, name, key_id)?;
        self.inner.store.set_access_key_status(key_id, if active { "Active" } else { "Inactive" }).await?;
        let digest = self.read().key_ids.get(key_id).copied();
        self.apply(|view| {
            if let Some(key) = digest.and_then(|d| view.keys.get_mut(&d)) {
                key.active = active;
            }
        });
        Ok(())
    }

    pub async fn delete_access_key(&self, kind: PrincipalKind, name: &str, key_id: &str) -> Result<(), Error> {
        let _write = self.inner.writes.lock().await;
        self.owned_key(kind, name, key_id)?;
        self.inner.store.delete_access_key(key_id).await?;
        self.apply(|view| view.remove_key(key_id));
        Ok(())
    }

    /// Invariant: a key is changed only through the principal that owns it.
    fn owned_key(&self, kind: PrincipalKind, name: &str, key_id: &str) -> Result<(), Error> {
        let view = self.read();
        let owner = view.entry(kind, name)?.record.id.clone();
        match view.key(key_id) {
            Some(key) if key.principal_id == owner => Ok(()),
            _ => Err(Error::NoSuchEntity { kind: "access key", name: key_id.to_string() }),
        }
    }
}
