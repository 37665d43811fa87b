//! The bus's operations, called by the API (and by other subsystems to emit events).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, Mutex, Notify};
use trainyard_events::{
    validate_name, validate_put_entry, Event, InputShape, Pattern, PutEntry, RetryPolicy, Schedule,
};
use trainyard_store::{Archive, Bus, Change, Destination, Function, NewEvent, Replay, Rule, Store, Target};

use crate::routing::Routing;
use crate::{BusConfig, Error};

/// The result of one `PutEvents` entry, as EventBridge reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// `PutRule`'s request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RuleRequest {
    pub name: String,
    #[serde(default)]
    pub event_bus_name: Option<String>,
    /// A JSON pattern, as text (AWS) or inline.
    #[serde(default)]
    pub event_pattern: Option<Value>,
    #[serde(default)]
    pub schedule_expression: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// One target of `PutTargets`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TargetRequest {
    pub id: String,
    /// A function by name.
    #[serde(default)]
    pub function_name: Option<String>,
    /// An HTTP endpoint that receives a POST.
    #[serde(default)]
    pub http_url: Option<String>,
    #[serde(default)]
    pub http_headers: BTreeMap<String, String>,
    #[serde(flatten)]
    pub input: InputShape,
    #[serde(default)]
    pub retry_policy: Option<RetryPolicy>,
}

/// `CreateFunction`'s request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FunctionRequest {
    pub function_name: String,
    /// A command function's command line (empty for a Lambda function).
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default = "default_timeout")]
    pub timeout: u32,
    #[serde(default)]
    pub description: String,
    /// The role it runs as (an ARN; `iam:PassRole` is checked by the API).
    #[serde(default)]
    pub role: Option<String>,
    /// A Lambda function's runtime (`python3.X`, `provided`): the function is then a
    /// handler in warm execution environments instead of a command.
    #[serde(default)]
    pub runtime: Option<String>,
    /// `module.function` (Python runtimes).
    #[serde(default)]
    pub handler: Option<String>,
    /// The code: a zip archive, base64 (Lambda's `ZipFile`).
    #[serde(default)]
    pub zip_file: Option<String>,
    #[serde(default)]
    pub memory_size: Option<u32>,
    #[serde(default)]
    pub reserved_concurrency: Option<u32>,
}

fn default_timeout() -> u32 {
    30
}

/// `CreateArchive`'s request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ArchiveRequest {
    pub archive_name: String,
    #[serde(default)]
    pub event_bus_name: Option<String>,
    #[serde(default)]
    pub event_pattern: Option<Value>,
    #[serde(default)]
    pub retention_days: i64,
    #[serde(default)]
    pub description: String,
}

/// `StartReplay`'s request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ReplayRequest {
    pub replay_name: String,
    pub archive_name: String,
    pub event_start_time: DateTime<Utc>,
    pub event_end_time: DateTime<Utc>,
    /// The bus to replay onto; the archive's bus by default.
    #[serde(default)]
    pub event_bus_name: Option<String>,
}

/// The event bus service. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct EventBus {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) config: BusConfig,
    /// Invariant: changed only under `reload_lock`, after the store (so that a reload,
    /// which also takes it, never loses a change); read under its lock, never across I/O.
    pub(crate) routing: RwLock<Routing>,
    pub(crate) reload_lock: Mutex<()>,
    /// Changes applied in place since the last whole load, and when the last one was.
    pub(crate) changes: std::sync::Mutex<(u64, std::time::Instant)>,
    /// Woken when deliveries may be due.
    pub(crate) wake: Notify,
    /// Counts committed puts: what live views (the dashboard's streams) wait on.
    activity: tokio::sync::watch::Sender<u64>,
    /// One HTTP client (and connection pool) for every HTTP target.
    pub(crate) http: reqwest::Client,
    /// Bounds the function processes running at once.
    pub(crate) function_slots: tokio::sync::Semaphore,
    /// The group committer of put events.
    pub(crate) commits: tokio::sync::mpsc::Sender<crate::commit::Commit>,
    /// The writer of invocation records.
    pub(crate) invocations: tokio::sync::mpsc::Sender<crate::invocations::Message>,
    /// The in-process functions (`builtin:NAME`), once the server attaches them.
    pub(crate) builtins: std::sync::OnceLock<Arc<dyn Builtins>>,
    /// Role sessions for functions with a role, once the server attaches them.
    pub(crate) sessions: std::sync::OnceLock<Arc<dyn Sessions>>,
    /// Lambda functions' execution environments (with a functions directory configured).
    pub(crate) lambdas: Option<trainyard_functions::lambda::Lambdas>,
}

/// A role session for one run of a function: the variables that carry its credentials
/// into the process, and how to end it.
#[derive(Debug, Clone, Default)]
pub struct RunSession {
    pub id: String,
    pub environment: BTreeMap<String, String>,
}

/// Starts and ends the role sessions functions (and jobs) run with; the server attaches
/// the identity service's.
pub trait Sessions: Send + Sync + 'static {
    /// A session of `role` for `service`, lasting at least `seconds`, named `session_name`.
    fn start(
        &self,
        role: &str,
        service: &str,
        session_name: &str,
        seconds: u64,
    ) -> futures::future::BoxFuture<'static, Result<RunSession, String>>;
    /// Ends a session at once (revokes its credentials).
    fn end(&self, session: RunSession) -> futures::future::BoxFuture<'static, ()>;
}

/// Functions the platform runs in process: a function whose command is `builtin:NAME`
/// is handed here with the event, instead of to a child process.
pub trait Builtins: Send + Sync + 'static {
    /// Runs builtin `name` for `function` (its environment configures it) on `event`.
    fn invoke(
        &self,
        name: &str,
        function: &Function,
        event: Value,
    ) -> futures::future::BoxFuture<'static, trainyard_functions::Outcome>;
}

/// How long the routing cache must go unchanged before the changes applied in place are
/// compacted by loading it whole.
const QUIET_BEFORE_COMPACTING: std::time::Duration = std::time::Duration::from_secs(2);

/// Reloads the routing cache whole (its matchers compacted) once changes applied in place
/// have settled; ends with the bus.
async fn compact_when_quiet(inner: std::sync::Weak<Inner>) {
    loop {
        tokio::time::sleep(QUIET_BEFORE_COMPACTING / 2).await;
        let Some(inner) = inner.upgrade() else { return };
        let (changes, last) = *inner.changes.lock().unwrap_or_else(|e| e.into_inner());
        if changes > 0 && last.elapsed() >= QUIET_BEFORE_COMPACTING {
            if let Err(e) = (EventBus { inner }).reload().await {
                tracing::warn!(error = %e, "reloading the routing cache");
            }
        }
    }
}

/// Reloads the routing cache whole when another replica changes rules, targets or
/// functions (or notices may have been missed); ends with the bus.
async fn follow_other_replicas(inner: std::sync::Weak<Inner>, mut changes: broadcast::Receiver<Change>) {
    loop {
        match changes.recv().await {
            Ok(Change::Routing | Change::Missed) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        }
        // One reload serves every notice already waiting.
        while changes.try_recv().is_ok() {}
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = (EventBus { inner }).reload().await {
            tracing::warn!(error = %e, "reloading the routing cache after another replica's change");
        }
    }
}

/// Accepts a pattern as JSON text or an inline object and checks it.
fn pattern_text(value: &Value) -> Result<String, Error> {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    Pattern::parse_str(&text)?;
    Ok(text)
}

impl EventBus {
    /// Attaches the in-process functions; only the first call counts.
    pub fn set_builtins(&self, builtins: Arc<dyn Builtins>) {
        let _ = self.inner.builtins.set(builtins);
    }

    /// Attaches the role sessions functions with a role run with.
    pub fn set_sessions(&self, sessions: Arc<dyn Sessions>) {
        if let Some(lambdas) = self.lambdas() {
            lambdas.attach_credentials(Arc::new(crate::lambda::SessionCredentials(sessions.clone())));
        }
        let _ = self.inner.sessions.set(sessions);
    }

    /// The attached role sessions, if any.
    pub fn sessions(&self) -> Option<Arc<dyn Sessions>> {
        self.inner.sessions.get().cloned()
    }

    /// Opens the bus on a store: makes the `default` bus and loads the routing cache.
    pub async fn open(store: Store, config: BusConfig) -> Result<EventBus, Error> {
        let commits = crate::commit::start(store.clone());
        let invocations = crate::invocations::start(store.clone());
        let lambdas = crate::lambda::open(&config)?;
        let bus = EventBus {
            inner: Arc::new(Inner {
                store,
                routing: RwLock::new(Routing::default()),
                reload_lock: Mutex::new(()),
                changes: std::sync::Mutex::new((0, std::time::Instant::now())),
                wake: Notify::new(),
                activity: tokio::sync::watch::Sender::new(0),
                http: reqwest::Client::builder()
                    .timeout(config.http_timeout)
                    .build()
                    .map_err(|e| Error::invalid(format!("HTTP client: {e}")))?,
                function_slots: tokio::sync::Semaphore::new(config.function_concurrency.max(1)),
                commits,
                invocations,
                config,
                builtins: std::sync::OnceLock::new(),
                sessions: std::sync::OnceLock::new(),
                lambdas,
            }),
        };
        let default = Bus { name: "default".into(), arn: bus.arn("event-bus/default"), creation_time: Utc::now() };
        bus.store().ensure_bus(&default).await?;
        bus.reload().await?;
        tokio::spawn(compact_when_quiet(Arc::downgrade(&bus.inner)));
        tokio::spawn(follow_other_replicas(Arc::downgrade(&bus.inner), bus.store().changes()));
        Ok(bus)
    }

    /// Changes each time events are committed: a cheap wake-up for live views, which then
    /// read what they show.
    pub fn activity(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.activity.subscribe()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> &BusConfig {
        &self.inner.config
    }

    pub(crate) fn arn(&self, resource: &str) -> String {
        let c = &self.inner.config;
        format!("arn:aws:events:{}:{}:{resource}", c.region, c.account)
    }

    /// Runs `read` on the routing cache (briefly: no I/O under the lock).
    pub(crate) fn with_routing<T>(&self, read: impl FnOnce(&Routing) -> T) -> T {
        read(&self.inner.routing.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Applies `change` (committed to the store) to the routing cache in place, and tells
    /// the other replicas. Call with `reload_lock` held.
    pub(crate) fn change_routing(&self, change: impl FnOnce(&mut Routing)) {
        change(&mut self.inner.routing.write().unwrap_or_else(|e| e.into_inner()));
        let mut changes = self.inner.changes.lock().unwrap_or_else(|e| e.into_inner());
        *changes = (changes.0 + 1, std::time::Instant::now());
        self.announce_routing();
    }

    /// Reloads the routing cache after a committed change, and tells the other replicas.
    async fn reload_changed(&self) -> Result<(), Error> {
        self.reload().await?;
        self.announce_routing();
        Ok(())
    }

    /// Tells the other replicas sharing the store that the routing changed.
    fn announce_routing(&self) {
        if !self.store().is_shared() {
            return;
        }
        let store = self.store().clone();
        tokio::spawn(async move {
            if let Err(e) = store.announce(&Change::Routing).await {
                tracing::warn!(error = %e, "telling the other replicas about a routing change");
            }
        });
    }

    /// Rebuilds the routing cache from the store (matchers compacted), and swaps it in.
    pub async fn reload(&self) -> Result<(), Error> {
        let _guard = self.inner.reload_lock.lock().await;
        let fresh = Routing::load(self.store()).await?;
        *self.inner.routing.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        self.inner.changes.lock().unwrap_or_else(|e| e.into_inner()).0 = 0;
        Ok(())
    }

    /// Brings the cache in line with rule `name` of `bus` as stored now.
    async fn reload_rule(&self, bus: &str, name: &str) -> Result<(), Error> {
        let rule = match self.store().get_rule(bus, name).await {
            Ok(rule) => Some(rule),
            Err(trainyard_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        self.change_routing(|routing| routing.set_rule(bus, name, rule.as_ref()));
        Ok(())
    }

    /// `PutEvents`: validates each entry, then stores all valid ones with their
    /// deliveries in one transaction. `platform` may use `aws.` sources.
    pub async fn put_events(&self, entries: &[PutEntry], platform: bool) -> Result<Vec<PutResult>, Error> {
        if entries.is_empty() || entries.len() > trainyard_events::MAX_ENTRIES_PER_PUT {
            return Err(Error::LimitExceeded {
                message: format!(
                    "PutEvents takes 1-{} entries; got {}",
                    trainyard_events::MAX_ENTRIES_PER_PUT,
                    entries.len()
                ),
            });
        }
        let (results, batch) = self.with_routing(|routing| self.route_entries(routing, entries, platform))?;
        if !batch.is_empty() {
            crate::commit::commit(&self.inner.commits, batch).await?;
            self.inner.wake.notify_one();
            self.inner.activity.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(results)
    }

    /// Validates and routes `entries`: a result for each, and the events to store.
    fn route_entries(
        &self,
        routing: &Routing,
        entries: &[PutEntry],
        platform: bool,
    ) -> Result<(Vec<PutResult>, Vec<NewEvent>), Error> {
        let now = Utc::now();
        let mut results = Vec::with_capacity(entries.len());
        let mut batch = Vec::with_capacity(entries.len());
        for entry in entries {
            let valid = match validate_put_entry(entry, platform) {
                Ok(valid) => valid,
                Err(e @ trainyard_events::Error::ReservedSource { .. }) => return Err(e.into()),
                Err(e) => {
                    results.push(failed("InvalidArgument", e.to_string()));
                    continue;
                }
            };
            let bus = valid.bus.clone().unwrap_or_else(|| "default".into());
            let bus = bus.rsplit('/').next().unwrap_or(&bus).to_string();
            if !routing.has_bus(&bus) {
                results.push(failed("ResourceNotFoundException", format!("event bus {bus:?} does not exist")));
                continue;
            }
            let c = &self.inner.config;
            let event = Event::new(
                valid.source,
                valid.detail_type,
                valid.detail,
                valid.resources,
                valid.time.unwrap_or(now),
                &c.account,
                &c.region,
            );
            results.push(PutResult { event_id: Some(event.id.clone()), error_code: None, error_message: None });
            batch.push(self.route(routing, event, bus, now));
        }
        Ok((results, batch))
    }

    /// Puts one platform event (`aws.*` sources allowed) on the default bus.
    pub async fn emit(
        &self,
        source: &str,
        detail_type: &str,
        detail: Value,
        resources: Vec<String>,
    ) -> Result<String, Error> {
        let entry = PutEntry {
            source: Some(source.into()),
            detail_type: Some(detail_type.into()),
            detail: Some(detail),
            resources,
            ..Default::default()
        };
        let result = self.put_events(&[entry], true).await?.remove(0);
        result.event_id.ok_or_else(|| Error::invalid(result.error_message.unwrap_or_default()))
    }

    pub(crate) fn route(&self, routing: &Routing, event: Event, bus: String, now: DateTime<Utc>) -> NewEvent {
        let value = event.to_value();
        let rules = routing.matching_rules(&bus, &value);
        let archives = if event.replay_name.is_some() { Vec::new() } else { routing.archives_for(&bus, &value) };
        NewEvent {
            deliveries: routing.deliveries_for(&bus, &rules),
            matched_rules: rules,
            archives,
            event,
            bus,
            ingested_at: now,
        }
    }

    pub async fn create_bus(&self, name: &str) -> Result<Bus, Error> {
        validate_name("event bus", name).map_err(Error::invalid)?;
        let bus = Bus { name: name.into(), arn: self.arn(&format!("event-bus/{name}")), creation_time: Utc::now() };
        self.store().create_bus(&bus).await?;
        self.reload_changed().await?;
        Ok(bus)
    }

    pub async fn delete_bus(&self, name: &str) -> Result<(), Error> {
        if name == "default" {
            return Err(Error::invalid("the default event bus cannot be deleted"));
        }
        self.store().delete_bus(name).await?;
        self.reload_changed().await
    }

    /// `PutRule` for a new rule.
    pub async fn create_rule(&self, request: &RuleRequest) -> Result<Rule, Error> {
        let rule = self.rule_from(request)?;
        let _guard = self.inner.reload_lock.lock().await;
        self.store().create_rule(&rule).await?;
        self.reload_rule(&rule.event_bus_name, &rule.name).await?;
        Ok(rule)
    }

    /// `PutRule` on an existing rule: its pattern or schedule and description change in
    /// place; its targets stay, and so does its state unless the request gives one.
    pub async fn update_rule(&self, request: &RuleRequest) -> Result<Rule, Error> {
        let mut rule = self.rule_from(request)?;
        let current = self.store().get_rule(&rule.event_bus_name, &rule.name).await?;
        if request.state.is_none() {
            rule.state = current.state;
        }
        rule.creation_time = current.creation_time;
        let _guard = self.inner.reload_lock.lock().await;
        self.store().update_rule(&rule, Utc::now()).await?;
        self.reload_rule(&rule.event_bus_name, &rule.name).await?;
        Ok(rule)
    }

    /// A rule as `request` describes it, validated.
    fn rule_from(&self, request: &RuleRequest) -> Result<Rule, Error> {
        validate_name("rule", &request.name).map_err(Error::invalid)?;
        let bus = request.event_bus_name.clone().unwrap_or_else(|| "default".into());
        let state = request.state.clone().unwrap_or_else(|| "ENABLED".into());
        if state != "ENABLED" && state != "DISABLED" {
            return Err(Error::invalid(format!("State must be ENABLED or DISABLED, not {state:?}")));
        }
        let now = Utc::now();
        let (event_pattern, schedule, next_fire) = match (&request.event_pattern, &request.schedule_expression) {
            (Some(pattern), None) => (Some(pattern_text(pattern)?), None, None),
            (None, Some(expression)) => {
                let schedule = Schedule::parse(expression)?;
                (None, Some(expression.clone()), schedule.next_after(now))
            }
            _ => return Err(Error::invalid("a rule needs exactly one of EventPattern and ScheduleExpression")),
        };
        let arn =
            if bus == "default" { format!("rule/{}", request.name) } else { format!("rule/{bus}/{}", request.name) };
        let rule = Rule {
            name: request.name.clone(),
            arn: self.arn(&arn),
            event_bus_name: bus,
            event_pattern,
            schedule_expression: schedule,
            state,
            description: request.description.clone().unwrap_or_default(),
            next_fire_time: next_fire,
            creation_time: now,
        };
        Ok(rule)
    }

    pub async fn set_rule_state(&self, bus: &str, name: &str, enabled: bool) -> Result<Rule, Error> {
        let now = Utc::now();
        let _guard = self.inner.reload_lock.lock().await;
        self.store().set_rule_state(bus, name, if enabled { "ENABLED" } else { "DISABLED" }, now).await?;
        let rule = self.store().get_rule(bus, name).await?;
        if let (true, Some(expression)) = (enabled, &rule.schedule_expression) {
            let next = Schedule::parse(expression)?.next_after(now);
            self.store().set_next_fire(bus, name, next).await?;
        }
        self.reload_rule(bus, name).await?;
        Ok(self.store().get_rule(bus, name).await?)
    }

    pub async fn delete_rule(&self, bus: &str, name: &str) -> Result<(), Error> {
        let _guard = self.inner.reload_lock.lock().await;
        self.store().delete_rule(bus, name).await?;
        self.reload_rule(bus, name).await
    }

    /// `PutTargets` for one target (added or replaced).
    pub async fn put_target(&self, bus: &str, rule: &str, request: &TargetRequest) -> Result<Target, Error> {
        let id_ok = !request.id.is_empty()
            && request.id.len() <= 64
            && request.id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !id_ok {
            return Err(Error::invalid(format!(
                "target Id {:?} must be 1-64 letters, digits, '.', '_' or '-'",
                request.id
            )));
        }
        request.input.validate()?;
        let retry_policy = request.retry_policy.unwrap_or_default();
        retry_policy.validate()?;
        let destination = match (&request.function_name, &request.http_url) {
            (Some(name), None) => {
                self.store().get_function(name).await?;
                Destination::Function { name: name.clone() }
            }
            (None, Some(url)) => {
                let parsed = reqwest::Url::parse(url).map_err(|e| Error::invalid(format!("HttpUrl {url:?}: {e}")))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(Error::invalid(format!("HttpUrl {url:?} must be http:// or https://")));
                }
                Destination::Http { url: url.clone(), headers: request.http_headers.clone() }
            }
            _ => return Err(Error::invalid("a target needs exactly one of FunctionName and HttpUrl")),
        };
        let target = Target {
            id: request.id.clone(),
            rule: rule.into(),
            event_bus_name: bus.into(),
            destination,
            input: request.input.clone(),
            retry_policy,
        };
        self.store().get_rule(bus, rule).await?;
        let _guard = self.inner.reload_lock.lock().await;
        self.store().put_target(&target, self.inner.config.max_targets_per_rule, Utc::now()).await.map_err(
            |e| match e {
                trainyard_store::Error::InUse { reason, .. } => Error::LimitExceeded { message: reason },
                other => other.into(),
            },
        )?;
        self.change_routing(|routing| routing.set_target(bus, rule, &target.id, Some(target.clone())));
        Ok(target)
    }

    pub async fn remove_target(&self, bus: &str, rule: &str, id: &str) -> Result<(), Error> {
        let _guard = self.inner.reload_lock.lock().await;
        self.store().remove_target(bus, rule, id).await?;
        self.change_routing(|routing| routing.set_target(bus, rule, id, None));
        Ok(())
    }

    pub async fn create_function(&self, request: &FunctionRequest) -> Result<Function, Error> {
        validate_name("function", &request.function_name).map_err(Error::invalid)?;
        let lambda = self.lambda_config(request, None)?;
        let command = if lambda.is_some() { "lambda" } else { request.command.as_str() };
        trainyard_functions::validate(&request.function_name, command, &request.environment, request.timeout)?;
        let c = &self.inner.config;
        let function = Function {
            function_name: request.function_name.clone(),
            function_arn: format!("arn:aws:lambda:{}:{}:function:{}", c.region, c.account, request.function_name),
            command: request.command.clone(),
            environment: request.environment.clone(),
            timeout: request.timeout,
            description: request.description.clone(),
            creation_time: Utc::now(),
            role: request.role.clone(),
            lambda,
        };
        let _guard = self.inner.reload_lock.lock().await;
        self.store().create_function(&function).await?;
        self.change_routing(|routing| routing.set_function(&function.function_name, Some(function.clone())));
        Ok(function)
    }

    pub async fn delete_function(&self, name: &str) -> Result<(), Error> {
        let _guard = self.inner.reload_lock.lock().await;
        self.store().delete_function(name).await?;
        self.change_routing(|routing| routing.set_function(name, None));
        if let Some(lambdas) = self.lambdas() {
            lambdas.drain(name);
        }
        Ok(())
    }

    pub async fn create_archive(&self, request: &ArchiveRequest) -> Result<Archive, Error> {
        validate_name("archive", &request.archive_name).map_err(Error::invalid)?;
        if request.retention_days < 0 {
            return Err(Error::invalid("RetentionDays must be 0 (forever) or more"));
        }
        let bus = request.event_bus_name.clone().unwrap_or_else(|| "default".into());
        let bus = bus.rsplit('/').next().unwrap_or(&bus).to_string();
        let archive = Archive {
            archive_name: request.archive_name.clone(),
            archive_arn: self.arn(&format!("archive/{}", request.archive_name)),
            event_source_arn: self.arn(&format!("event-bus/{bus}")),
            event_bus_name: bus,
            event_pattern: request.event_pattern.as_ref().map(pattern_text).transpose()?,
            retention_days: request.retention_days,
            description: request.description.clone(),
            event_count: 0,
            creation_time: Utc::now(),
        };
        self.store().create_archive(&archive).await?;
        self.reload_changed().await?;
        Ok(archive)
    }

    pub async fn delete_archive(&self, name: &str) -> Result<(), Error> {
        self.store().delete_archive(name).await?;
        self.reload_changed().await
    }

    /// `StartReplay`: records the replay and runs it in the background.
    pub async fn start_replay(&self, request: &ReplayRequest) -> Result<Replay, Error> {
        validate_name("replay", &request.replay_name).map_err(Error::invalid)?;
        if request.event_start_time >= request.event_end_time {
            return Err(Error::invalid("EventStartTime must be before EventEndTime"));
        }
        let archive = self.store().get_archive(&request.archive_name).await?;
        let bus = request.event_bus_name.clone().unwrap_or(archive.event_bus_name);
        let bus = bus.rsplit('/').next().unwrap_or(&bus).to_string();
        self.store().get_bus(&bus).await?;
        let replay = Replay {
            replay_name: request.replay_name.clone(),
            replay_arn: self.arn(&format!("replay/{}", request.replay_name)),
            archive_name: request.archive_name.clone(),
            event_bus_name: bus,
            event_start_time: request.event_start_time,
            event_end_time: request.event_end_time,
            state: "STARTING".into(),
            state_reason: String::new(),
            events_replayed: 0,
            replay_start_time: Utc::now(),
            replay_end_time: None,
        };
        self.store().create_replay(&replay).await?;
        let bus = self.clone();
        let name = replay.replay_name.clone();
        tokio::spawn(async move { bus.run_replay(&name).await });
        Ok(replay)
    }
}

fn failed(code: &str, message: String) -> PutResult {
    PutResult { event_id: None, error_code: Some(code.into()), error_message: Some(message) }
}

impl EventBus {
    /// Sends dead letters (`ids`, or all when `None`) back for delivery.
    pub async fn redrive(&self, ids: Option<&[i64]>, now: DateTime<Utc>) -> Result<u64, Error> {
        let count = self.store().redrive(ids, now).await?;
        self.inner.wake.notify_one();
        Ok(count)
    }
}
