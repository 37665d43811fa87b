//! The sources service: add, poll, receive webhooks, announce pushes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use trainyard_bus::EventBus;
use trainyard_store::{EventFilter, SourceRecord, Store};

use crate::git::{self, Commit};
use crate::{signature, Error};

pub const EVENT_SOURCE: &str = "trainyard.source";
pub const DETAIL_TYPE: &str = "Git Push";
const ZERO_COMMIT: &str = "0000000000000000000000000000000000000000";

#[derive(Debug, Clone)]
pub struct SourcesConfig {
    /// `DATA_DIR/sources`: one bare mirror per source.
    pub mirrors: PathBuf,
    pub account: String,
    pub region: String,
    /// Seals webhook secrets at rest (the server's master key).
    pub sealer: trainyard_auth::Sealer,
}

/// `POST /sources`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AddSource {
    pub name: String,
    /// An absolute path, `file://`, `http://` or `https://`.
    pub url: String,
    #[serde(default = "main")]
    pub branch: String,
    /// Poll every this many seconds; unset: webhook only.
    #[serde(default)]
    pub poll_interval_seconds: Option<u64>,
    /// The GitHub webhook's secret; unset: no webhook.
    #[serde(default)]
    pub webhook_secret: Option<String>,
}

fn main() -> String {
    "main".into()
}

/// A GitHub webhook delivery as received.
pub struct Webhook<'a> {
    pub event: Option<&'a str>,
    pub delivery: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidRequest { field: field.into(), reason: reason.into() }
}

/// A repository URL with what does not identify it removed (`.git`, a trailing slash).
fn same_repository(a: &str, b: &str) -> bool {
    let normal = |u: &str| u.trim_end_matches('/').trim_end_matches(".git").to_ascii_lowercase();
    normal(a) == normal(b)
}

/// The sources service; cheap to clone.
#[derive(Clone)]
pub struct Sources {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    bus: EventBus,
    config: SourcesConfig,
    /// One fetch at a time per source.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Serialises announcing, so a push is never put twice by two callers.
    announcing: tokio::sync::Mutex<()>,
}

impl Sources {
    pub fn new(store: Store, bus: EventBus, config: SourcesConfig) -> Sources {
        Sources {
            inner: Arc::new(Inner {
                store,
                bus,
                config,
                fetching: Mutex::new(HashMap::new()),
                announcing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn arn(&self, name: &str) -> String {
        let c = &self.inner.config;
        format!("arn:aws:trainyard:{}:{}:source/{name}", c.region, c.account)
    }

    fn mirror(&self, name: &str) -> PathBuf {
        self.inner.config.mirrors.join(format!("{name}.git"))
    }

    fn describe_record(&self, source: &SourceRecord) -> Value {
        json!({
            "Name": source.name,
            "Arn": self.arn(&source.name),
            "Url": source.url,
            "Branch": source.branch,
            "PollIntervalSeconds": source.poll_seconds,
            "Webhook": source.webhook_secret.is_some(),
            "Head": source.head,
            "CreationTime": source.created_at,
            "LastModifiedTime": source.updated_at,
        })
    }

    /// The webhook secret of `source`, opened (one an older version stored plain is taken
    /// as it is until [`Sources::seal_stored_secrets`] seals it).
    fn webhook_secret(&self, source: &SourceRecord) -> Option<String> {
        let stored = source.webhook_secret.as_deref()?;
        if !trainyard_auth::Sealer::is_sealed(stored) {
            return Some(stored.to_string());
        }
        match self.inner.config.sealer.open(stored) {
            Ok(secret) => Some(secret),
            Err(e) => {
                tracing::warn!(source = %source.name, "the webhook secret cannot be used: {e}");
                None
            }
        }
    }

    /// What stands for a webhook secret in text the platform keeps (an applied spec).
    pub fn secret_fingerprint(&self, secret: &str) -> String {
        self.inner.config.sealer.fingerprint(secret)
    }

    /// Whether `source`'s webhook secret is `secret` (both absent counts).
    pub fn has_webhook_secret(&self, source: &SourceRecord, secret: Option<&str>) -> bool {
        self.webhook_secret(source).as_deref() == secret
    }

    /// Seals the webhook secrets an older version stored in clear; returns how many.
    pub async fn seal_stored_secrets(&self) -> Result<usize, Error> {
        let mut sealed = 0;
        for mut source in self.inner.store.list_sources().await? {
            let Some(plain) = source.webhook_secret.clone().filter(|s| !trainyard_auth::Sealer::is_sealed(s)) else {
                continue;
            };
            source.webhook_secret = Some(self.inner.config.sealer.seal(&plain));
            self.inner.store.update_source(&source, None).await?;
            sealed += 1;
        }
        Ok(sealed)
    }

    /// Writes the tree of a followed commit as a tar file at `target`, for a build.
    pub async fn archive(&self, name: &str, commit: &str, target: &std::path::Path) -> Result<(), Error> {
        git::archive(&self.mirror(name), commit, target).await
    }

    /// Follows a branch from its current head on: only later commits are announced.
    pub async fn add(&self, request: AddSource) -> Result<Value, Error> {
        check(&request)?;
        if self.inner.store.get_source(&request.name).await.is_ok() {
            return Err(trainyard_store::Error::AlreadyExists { kind: "source", name: request.name }.into());
        }
        let mirror = self.mirror(&request.name);
        let _ = tokio::fs::remove_dir_all(&mirror).await;
        let head = git::fetch(&mirror, &request.url, &request.branch)
            .await
            .map_err(|e| invalid("Url", format!("cannot read branch {} of {}: {e}", request.branch, request.url)))?;
        let now = Utc::now();
        let record = SourceRecord {
            name: request.name,
            url: request.url,
            branch: request.branch,
            poll_seconds: request.poll_interval_seconds.map(|s| s as i64),
            webhook_secret: request.webhook_secret.map(|secret| self.inner.config.sealer.seal(&secret)),
            head: Some(head),
            created_at: now,
            updated_at: now,
        };
        self.inner.store.create_source(&record).await?;
        Ok(self.describe_record(&record))
    }

    /// Changes what a source follows and how. A new url or branch is followed from its
    /// current head on, like a new source; pushes already recorded stay.
    pub async fn update(&self, request: AddSource) -> Result<Value, Error> {
        check(&request)?;
        let lock = self.fetch_lock(&request.name)?;
        let _fetching = lock.lock().await;
        let mut record = self.inner.store.get_source(&request.name).await?;
        let mut new_head = None;
        if record.url != request.url || record.branch != request.branch {
            let fresh = self.inner.config.mirrors.join(format!("{}.git.new", request.name));
            let _ = tokio::fs::remove_dir_all(&fresh).await;
            let head = git::fetch(&fresh, &request.url, &request.branch).await.map_err(|e| {
                invalid("Url", format!("cannot read branch {} of {}: {e}", request.branch, request.url))
            })?;
            let mirror = self.mirror(&request.name);
            let _ = tokio::fs::remove_dir_all(&mirror).await;
            tokio::fs::rename(&fresh, &mirror)
                .await
                .map_err(|e| invalid("Url", format!("cannot replace the mirror {}: {e}", mirror.display())))?;
            record.head = Some(head.clone());
            new_head = Some(head);
        }
        record.url = request.url;
        record.branch = request.branch;
        record.poll_seconds = request.poll_interval_seconds.map(|s| s as i64);
        record.webhook_secret = request.webhook_secret.map(|secret| self.inner.config.sealer.seal(&secret));
        record.updated_at = Utc::now();
        self.inner.store.update_source(&record, new_head.as_deref()).await?;
        Ok(self.describe_record(&record))
    }

    fn fetch_lock(&self, name: &str) -> Result<Arc<tokio::sync::Mutex<()>>, Error> {
        let mut fetching = self.inner.fetching.lock().map_err(|_| invalid("source", "lock poisoned"))?;
        Ok(Arc::clone(fetching.entry(name.to_string()).or_default()))
    }

    pub async fn describe(&self, name: &str) -> Result<Value, Error> {
        Ok(self.describe_record(&self.inner.store.get_source(name).await?))
    }

    pub async fn list(&self) -> Result<Value, Error> {
        let sources = self.inner.store.list_sources().await?;
        Ok(json!({"Sources": sources.iter().map(|s| self.describe_record(s)).collect::<Vec<_>>()}))
    }

    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        self.inner.store.delete_source(name).await?;
        if let Ok(mut fetching) = self.inner.fetching.lock() {
            fetching.remove(name);
        }
        let _ = tokio::fs::remove_dir_all(self.mirror(name)).await;
        Ok(())
    }

    /// Fetches the branch now; a new head is recorded and announced.
    pub async fn poll(&self, name: &str) -> Result<Value, Error> {
        self.inner.store.get_source(name).await?;
        let lock = self.fetch_lock(name)?;
        let _fetching = lock.lock().await;
        let source = self.inner.store.get_source(name).await?;
        let mirror = self.mirror(name);
        let head = git::fetch(&mirror, &source.url, &source.branch).await?;
        if source.head.as_deref() == Some(head.as_str()) {
            return Ok(json!({"Source": name, "Head": head, "Moved": false}));
        }
        let commits = git::commits(&mirror, source.head.as_deref(), &head).await?;
        let moved = self.record(&source, source.head.as_deref(), &head, &commits, "poll").await?;
        self.announce().await?;
        Ok(json!({"Source": name, "Before": source.head, "Head": head, "Moved": moved, "Commits": commits.len()}))
    }

    async fn record(
        &self,
        source: &SourceRecord,
        before: Option<&str>,
        after: &str,
        commits: &[Commit],
        trigger: &str,
    ) -> Result<bool, Error> {
        let detail = json!({
            "source": source.name,
            "repository": source.url,
            "ref": format!("refs/heads/{}", source.branch),
            "before": before.unwrap_or(ZERO_COMMIT),
            "after": after,
            "commits": commits,
            "head_commit": commits.last(),
            "trigger": trigger,
        });
        Ok(self.inner.store.record_push(&source.name, before, after, &detail, Utc::now()).await?)
    }

    /// Puts every recorded push not yet announced. A push whose event is already on the bus
    /// (the process died between putting it and marking it) is only marked.
    pub async fn announce(&self) -> Result<(), Error> {
        let _one_at_a_time = self.inner.announcing.lock().await;
        for push in self.inner.store.unannounced_pushes().await? {
            let filter = EventFilter {
                source: Some(EVENT_SOURCE.into()),
                detail_type: Some(DETAIL_TYPE.into()),
                since: Some(push.created_at - chrono::Duration::seconds(1)),
                limit: 10_000,
                ..Default::default()
            };
            let already = self.inner.store.list_events(&filter).await?.iter().any(|e| {
                e.event["detail"]["source"] == push.source.as_str()
                    && e.event["detail"]["after"] == push.after.as_str()
                    && e.event["detail"]["before"] == push.detail["before"]
            });
            if !already {
                let resources = vec![self.arn(&push.source)];
                if let Err(e) = self.inner.bus.emit(EVENT_SOURCE, DETAIL_TYPE, push.detail.clone(), resources).await {
                    tracing::error!(source = %push.source, error = %e, "could not put the Git Push event");
                    continue;
                }
            }
            self.inner.store.mark_push_announced(push.id).await?;
        }
        Ok(())
    }

    /// A GitHub delivery: verified against the secrets of the sources following the
    /// repository, acted on once per `X-GitHub-Delivery`.
    pub async fn github(&self, hook: Webhook<'_>) -> Result<Value, Error> {
        let payload: Value = serde_json::from_slice(hook.body).unwrap_or(Value::Null);
        let urls: Vec<&str> = ["clone_url", "html_url", "ssh_url", "git_url", "url"]
            .iter()
            .filter_map(|k| payload["repository"][k].as_str())
            .collect();
        let sources = self.inner.store.list_sources().await?;
        let signed: Vec<SourceRecord> = sources
            .into_iter()
            .filter(|s| {
                self.webhook_secret(s).is_some_and(|secret| signature::verify(&secret, hook.body, hook.signature))
            })
            .collect();
        if signed.is_empty() {
            return Err(Error::BadSignature);
        }
        let delivery =
            hook.delivery.filter(|d| !d.is_empty()).ok_or_else(|| invalid("X-GitHub-Delivery", "missing"))?;
        if !self.inner.store.record_delivery(delivery, Utc::now()).await? {
            return Ok(json!({"Delivery": delivery, "Duplicate": true}));
        }
        match self.act_on(hook.event, &payload, &urls, signed).await {
            Ok(moved) => Ok(json!({"Delivery": delivery, "Event": hook.event, "Sources": moved})),
            Err(e) => {
                // Not acted on: let GitHub's redelivery be.
                let _ = self.inner.store.forget_delivery(delivery).await;
                Err(e)
            }
        }
    }

    async fn act_on(
        &self,
        event: Option<&str>,
        payload: &Value,
        urls: &[&str],
        signed: Vec<SourceRecord>,
    ) -> Result<Vec<String>, Error> {
        if event != Some("push") {
            return Ok(Vec::new());
        }
        let after = payload["after"].as_str().unwrap_or_default();
        let is_commit = |id: &str| matches!(id.len(), 40 | 64) && id.chars().all(|c| c.is_ascii_hexdigit());
        if !is_commit(after) {
            return Err(invalid("after", format!("{after:?} is not a commit id")));
        }
        let before = payload["before"].as_str().filter(|b| is_commit(b) && *b != ZERO_COMMIT);
        let reference = payload["ref"].as_str().unwrap_or_default();
        let listed = payload["commits"].as_array().map(Vec::as_slice).unwrap_or_default();
        let commits: Vec<Commit> = listed[listed.len().saturating_sub(git::MAX_COMMITS)..]
            .iter()
            .map(|c| Commit {
                id: c["id"].as_str().unwrap_or_default().into(),
                message: c["message"].as_str().unwrap_or_default().into(),
                timestamp: c["timestamp"].as_str().unwrap_or_default().into(),
                author: git::Author {
                    name: c["author"]["name"].as_str().unwrap_or_default().into(),
                    email: c["author"]["email"].as_str().unwrap_or_default().into(),
                },
            })
            .collect();
        let mut moved = Vec::new();
        for source in signed {
            let follows = urls.iter().any(|u| same_repository(u, &source.url))
                && reference == format!("refs/heads/{}", source.branch);
            if !follows || after.is_empty() || after == ZERO_COMMIT || source.head.as_deref() == Some(after) {
                continue;
            }
            // A delivery that does not continue from the announced head (out of order, or
            // one was missed): a polled source asks git; a webhook-only one takes the
            // payload's commits from the announced head.
            if before.is_some() && before != source.head.as_deref() && source.poll_seconds.is_some() {
                if self.poll(&source.name).await?["Moved"] == true {
                    moved.push(source.name.clone());
                }
                continue;
            }
            if self.record(&source, source.head.as_deref(), after, &commits, "webhook").await? {
                moved.push(source.name.clone());
            }
        }
        self.announce().await?;
        Ok(moved)
    }

    /// Announces what a previous process recorded, then polls each source on its interval
    /// until `stopped`.
    pub async fn run(&self, mut stopped: watch::Receiver<bool>) {
        if let Err(e) = self.announce().await {
            tracing::error!(error = %e, "announcing recorded pushes failed");
        }
        let mut next: HashMap<String, Instant> = HashMap::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stopped.changed() => return,
            }
            // A push whose announcement failed is retried on every tick.
            if let Err(e) = self.announce().await {
                tracing::warn!(error = %e, "announcing recorded pushes failed");
            }
            let Ok(sources) = self.inner.store.list_sources().await else { continue };
            next.retain(|name, _| sources.iter().any(|s| &s.name == name));
            let now = Instant::now();
            for source in sources {
                let Some(seconds) = source.poll_seconds else { continue };
                let due = next.entry(source.name.clone()).or_insert(now);
                if *due > now {
                    continue;
                }
                *due = now + Duration::from_secs(seconds.max(1) as u64);
                tokio::select! {
                    result = self.poll(&source.name) => if let Err(e) = result {
                        tracing::warn!(source = %source.name, error = %e, "polling failed");
                    },
                    _ = stopped.changed() => return,
                }
            }
        }
    }
}

/// The checks a source's settings pass, on add and on update.
fn check(request: &AddSource) -> Result<(), Error> {
    trainyard_events::validate_name("source", &request.name).map_err(|e| invalid("Name", e))?;
    git::check_url(&request.url).map_err(|e| invalid("Url", e))?;
    git::check_branch(&request.branch).map_err(|e| invalid("Branch", e))?;
    if let Some(seconds) = request.poll_interval_seconds {
        if !(1..=86_400).contains(&seconds) {
            return Err(invalid("PollIntervalSeconds", "must be 1-86400"));
        }
    }
    if request.webhook_secret.as_ref().is_some_and(|s| s.is_empty()) {
        return Err(invalid("WebhookSecret", "must not be empty"));
    }
    if request.poll_interval_seconds.is_none() && request.webhook_secret.is_none() {
        return Err(invalid("PollIntervalSeconds", "give a poll interval, a webhook secret, or both"));
    }
    Ok(())
}
