//! A cache of decisions for the second they were made in: the hot paths (one user invoking
//! one endpoint thousands of times a second) pay one hash lookup instead of building a
//! request context and evaluating every attached policy.
//!
//! Invariant: a decision is a pure function of the policies (the view's generation), the
//! caller (its id and key, so its session policy), the action, the resource, the request's
//! facts, and the time to the second (`aws:CurrentTime`, `aws:EpochTime`). The key holds
//! all of them; the cache empties when the second or the generation changes, so a policy
//! change is in force for the next call.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Mutex;

use trainyard_iam::Decision;

use crate::identity::Identity;
use crate::service::AccessRequest;

/// At most this many decisions are kept (per second).
const MAX_ENTRIES: usize = 8192;

struct Entry {
    user_id: String,
    access_key_id: Option<String>,
    action: String,
    resource: String,
    facts: u64,
    decision: Decision,
}

#[derive(Default)]
struct Cache {
    second: i64,
    generation: u64,
    entries: HashMap<u64, Entry>,
}

/// The cache, shared by every request.
#[derive(Default)]
pub(crate) struct Decisions {
    hasher: std::collections::hash_map::RandomState,
    cache: Mutex<Cache>,
}

impl Decisions {
    /// The decision already made this second for the same question, if any.
    pub fn get(
        &self,
        identity: &Identity,
        request: &AccessRequest<'_>,
        second: i64,
        generation: u64,
    ) -> Option<Decision> {
        let facts = self.facts(request);
        let key = self.key(identity, request, facts);
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.second != second || cache.generation != generation {
            return None;
        }
        let entry = cache.entries.get(&key)?;
        // Invariant: a hash match is checked against the whole question.
        let same = entry.user_id == identity.user_id
            && entry.access_key_id == identity.access_key_id
            && entry.action == request.action
            && entry.resource == request.resource
            && entry.facts == facts;
        same.then(|| entry.decision.clone())
    }

    pub fn put(
        &self,
        identity: &Identity,
        request: &AccessRequest<'_>,
        second: i64,
        generation: u64,
        decision: &Decision,
    ) {
        let facts = self.facts(request);
        let key = self.key(identity, request, facts);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.second != second || cache.generation != generation || cache.entries.len() >= MAX_ENTRIES {
            cache.entries.clear();
            cache.second = second;
            cache.generation = generation;
        }
        cache.entries.insert(
            key,
            Entry {
                user_id: identity.user_id.clone(),
                access_key_id: identity.access_key_id.clone(),
                action: request.action.to_string(),
                resource: request.resource.to_string(),
                facts,
                decision: decision.clone(),
            },
        );
    }

    fn key(&self, identity: &Identity, request: &AccessRequest<'_>, facts: u64) -> u64 {
        self.hasher.hash_one((&identity.user_id, &identity.access_key_id, request.action, request.resource, facts))
    }

    /// Everything else the request says that conditions may test, hashed.
    fn facts(&self, request: &AccessRequest<'_>) -> u64 {
        let facts = request.facts;
        let mut hasher = self.hasher.build_hasher();
        (&facts.source_ip, facts.secure_transport, &facts.request_tags, &facts.resource_tags).hash(&mut hasher);
        (&facts.passed_to_service, &facts.extra).hash(&mut hasher);
        request.resource_policy.map(|p| p.text()).hash(&mut hasher);
        hasher.finish()
    }
}
