//! The delivery loop: claim due deliveries, run each against its target, record the
//! attempt and decide what comes next (done, retry later, dead letter).

use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use rand::Rng;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{mpsc, watch, Notify};
use trainyard_events::{backoff, TargetContext};
use trainyard_functions::{CommandSpec, Failure, Outcome};
use trainyard_store::{AfterAttempt, Attempt, Claimed, Destination, Function, Target};

use crate::EventBus;

/// How long a claimed delivery stays leased before another worker may take it.
const LEASE: Duration = Duration::from_secs(16 * 60);
/// A replica not heard from for this long is gone: the deliveries it held are released.
pub const DEPARTED_AFTER: Duration = Duration::from_secs(10);
/// How often a replica says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// The earliest heartbeat of a replica still alive at `now`.
pub fn alive_since(now: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    now - chrono::Duration::from_std(DEPARTED_AFTER).unwrap_or_default()
}

/// The ids of the replicas alive now.
pub async fn alive_replicas(
    store: &trainyard_store::Store,
) -> Result<std::collections::HashSet<String>, trainyard_store::Error> {
    Ok(store.list_replicas(alive_since(Utc::now())).await?.into_iter().map(|r| r.id).collect())
}
/// The longest the loop sleeps without looking for due deliveries.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// The most finished attempts written in one transaction.
const COMPLETION_BATCH: usize = 256;
/// The command prefix of an in-process function.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// A finished attempt waiting to be recorded.
type Completion = (trainyard_store::Delivery, Attempt, AfterAttempt);

impl EventBus {
    /// Runs the delivery loop until `shutdown` turns true; in-flight deliveries finish.
    pub async fn run_deliveries(&self, mut shutdown: watch::Receiver<bool>) {
        match self.store().release_departed(alive_since(Utc::now())).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "released deliveries of replicas that are gone"),
            Err(e) => tracing::error!(error = %e, "could not release interrupted deliveries"),
        }
        let concurrency = self.config().concurrency.max(1);
        // Claim in batches: once deliveries are in flight, wait until a quarter of the
        // slots are free, so that one claim transaction serves many deliveries.
        let batch = (concurrency / 4).max(1);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(Notify::new());
        let (completions, pending) = mpsc::channel::<Completion>(4 * COMPLETION_BATCH);
        let recorder = tokio::spawn({
            let bus = self.clone();
            async move { bus.record_completions(pending).await }
        });
        while !*shutdown.borrow() {
            let busy = in_flight.load(Ordering::Acquire);
            let free = concurrency - busy;
            if busy > 0 && free < batch {
                let _ = tokio::time::timeout(Duration::from_millis(5), finished.notified()).await;
                continue;
            }
            let now = Utc::now();
            let lease = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
            let claimed = match self.store().claim_due(now, lease, free as i64, &self.config().replica).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::error!(error = %e, "claiming deliveries failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if claimed.is_empty() {
                let wait = match self.store().next_due().await {
                    Ok(Some(due)) => (due - Utc::now()).to_std().unwrap_or_default().min(IDLE_POLL),
                    _ => IDLE_POLL,
                };
                tokio::select! {
                    _ = self.inner.wake.notified() => {}
                    _ = finished.notified(), if busy > 0 => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            for claim in claimed {
                in_flight.fetch_add(1, Ordering::AcqRel);
                let (bus, completions, in_flight, finished) =
                    (self.clone(), completions.clone(), Arc::clone(&in_flight), Arc::clone(&finished));
                tokio::spawn(async move {
                    let completion = bus.deliver(claim).await;
                    let _ = completions.send(completion).await;
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                    finished.notify_one();
                });
            }
        }
        // Invariant: every claimed delivery finishes and is recorded before the loop
        // returns (or, after a crash, its lease is released at restart).
        while in_flight.load(Ordering::Acquire) > 0 {
            let _ = tokio::time::timeout(Duration::from_millis(50), finished.notified()).await;
        }
        drop(completions);
        let _ = recorder.await;
    }

    /// Writes finished attempts in batches: one transaction for all that are waiting.
    async fn record_completions(&self, mut pending: mpsc::Receiver<Completion>) {
        let mut batch = Vec::with_capacity(COMPLETION_BATCH);
        while pending.recv_many(&mut batch, COMPLETION_BATCH).await > 0 {
            if let Err(e) = self.store().finish_attempts(&batch).await {
                // The leases run out and the deliveries are tried again: at-least-once.
                tracing::error!(attempts = batch.len(), error = %e, "recording delivery attempts failed");
            }
            if batch.iter().any(|(_, _, after)| matches!(after, AfterAttempt::RetryAt(_))) {
                self.inner.wake.notify_one();
            }
            batch.clear();
        }
    }

    async fn deliver(&self, claim: Claimed) -> Completion {
        let Claimed { delivery, event } = claim;
        let started = Utc::now();
        let (bus, rule, id) = (&delivery.event_bus_name, &delivery.rule, &delivery.target_id);
        // What the attempt needs, copied out of the routing cache (no lock across I/O).
        let (target, rule_arn, function) = self.with_routing(|routing| {
            let target = routing.target(bus, rule, id).cloned();
            let function = target.as_ref().and_then(|t| routing.function(function_name(t)).cloned());
            (target, routing.rule_arn(bus, rule), function)
        });
        let result = match &target {
            None => Err(Failure {
                code: "TargetNotFound".into(),
                message: format!("target {:?} of rule {:?} no longer exists", delivery.target_id, delivery.rule),
                retriable: false,
            }),
            Some(target) => {
                let context = TargetContext {
                    rule_name: &delivery.rule,
                    rule_arn: &rule_arn,
                    ingestion_time: &delivery.age_from.to_rfc3339_opts(SecondsFormat::Secs, true),
                };
                match target.input.apply(&event, &context) {
                    Err(e) => {
                        Err(Failure { code: "InputTransformFailed".into(), message: e.to_string(), retriable: false })
                    }
                    Ok(input) => self.send(target, function.as_ref(), &event, input).await,
                }
            }
        };
        let elapsed = (Utc::now() - started).num_milliseconds();
        let attempt = Attempt {
            attempt: delivery.attempts,
            start_time: started,
            duration_ms: elapsed,
            outcome: match &result {
                Ok(()) => "succeeded",
                Err(f) if f.retriable => "retriable",
                Err(_) => "fatal",
            }
            .into(),
            error_code: result.as_ref().err().map(|f| f.code.clone()),
            message: result.as_ref().err().map(|f| f.message.clone()),
        };
        let policy = target.map(|t| t.retry_policy).unwrap_or_default();
        let age = (Utc::now() - delivery.age_from).to_std().unwrap_or_default();
        let after = match result {
            Ok(()) => AfterAttempt::Succeeded,
            Err(f) if f.retriable && policy.may_retry(delivery.attempts as u32, age) => {
                let c = self.config();
                let delay = backoff(delivery.attempts as u32, c.base_backoff, c.max_backoff, rand::thread_rng().gen());
                AfterAttempt::RetryAt(Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default())
            }
            Err(f) => {
                let why = if !f.retriable {
                    "not retriable".to_string()
                } else {
                    format!("gave up after {} attempts (retry policy exhausted)", delivery.attempts)
                };
                AfterAttempt::Dead { error_code: f.code, error_message: format!("{} ({why})", f.message) }
            }
        };
        (delivery, attempt, after)
    }

    async fn send(
        &self,
        target: &Target,
        function: Option<&Function>,
        event: &Value,
        input: String,
    ) -> Result<(), Failure> {
        match &target.destination {
            Destination::Function { name } => {
                let Some(function) = function else {
                    return Err(Failure {
                        code: "FunctionNotFound".into(),
                        message: format!("function {name:?} does not exist"),
                        retriable: false,
                    });
                };
                let event_id = event.get("id").and_then(Value::as_str);
                let outcome = self.invoke(function, input.as_bytes(), event_id).await;
                outcome.result.map(|_| ())
            }
            Destination::Http { url, headers } => {
                let mut request = self.inner.http.post(url).header("content-type", "application/json").body(input);
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                match request.send().await {
                    Err(e) => {
                        Err(Failure { code: "HttpConnectionFailed".into(), message: e.to_string(), retriable: true })
                    }
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => {
                        let status = response.status();
                        let body: String = response.text().await.unwrap_or_default().chars().take(512).collect();
                        Err(Failure {
                            code: format!("HttpStatus{}", status.as_u16()),
                            message: format!("{url} answered {status}: {body}"),
                            // Invariant: 4xx other than 429 Too Many Requests is not retried.
                            retriable: status.as_u16() == 429 || !status.is_client_error(),
                        })
                    }
                }
            }
        }
    }

    /// Runs a function once and records the invocation.
    pub(crate) async fn invoke(&self, function: &Function, input: &[u8], event_id: Option<&str>) -> Outcome {
        let mut environment = function.environment.clone();
        environment.insert("TRAINYARD_FUNCTION_NAME".into(), function.function_name.clone());
        if let Some(id) = event_id {
            environment.insert("TRAINYARD_EVENT_ID".into(), id.to_string());
        }
        if let Some(url) = &self.config().endpoint_url {
            environment.insert("TRAINYARD_ENDPOINT".into(), url.clone());
        }
        let started = Utc::now();
        let outcome = match (&function.lambda, function.command.strip_prefix(BUILTIN_PREFIX)) {
            (Some(lambda), _) => self.invoke_lambda(function, lambda, input).await,
            (None, Some(name)) => self.invoke_builtin(name, function, input).await,
            (None, None) => {
                // A function with a role runs with a fresh session of it, ended when it ends.
                let session = match self.start_session(function).await {
                    Ok(session) => session,
                    Err(outcome) => return outcome,
                };
                if let Some(session) = &session {
                    environment.extend(session.environment.clone());
                }
                let spec = CommandSpec {
                    command: function.command.clone(),
                    environment,
                    timeout: Duration::from_secs(u64::from(function.timeout)),
                };
                let _slot = self.inner.function_slots.acquire().await;
                let outcome = trainyard_functions::run(&spec, input).await;
                if let (Some(session), Some(sessions)) = (session, self.sessions()) {
                    sessions.end(session).await;
                }
                outcome
            }
        };
        let (status, result) = match &outcome.result {
            Ok(value) => ("succeeded".to_string(), Some(value.to_string())),
            Err(f) => (format!("failed: {}: {}", f.code, f.message), None),
        };
        let record = trainyard_store::NewInvocation {
            function: function.function_name.clone(),
            event_id: event_id.map(String::from),
            started,
            duration_ms: outcome.duration.as_millis() as i64,
            outcome: status,
            result,
            logs: outcome.logs.clone(),
        };
        if self.inner.invocations.send(crate::invocations::Message::Record(Box::new(record))).await.is_err() {
            tracing::warn!(function = %function.function_name, "the invocation writer has stopped; a record was lost");
        }
        outcome
    }

    /// A session of the function's role for one invocation (none without a role); a
    /// failure to start one is a retriable failure of the invocation.
    async fn start_session(&self, function: &Function) -> Result<Option<crate::RunSession>, Outcome> {
        let Some(role) = &function.role else { return Ok(None) };
        let failure = |message: String| Outcome {
            result: Err(trainyard_functions::Failure { code: "RoleSessionFailed".into(), message, retriable: true }),
            logs: String::new(),
            duration: Duration::ZERO,
        };
        let Some(sessions) = self.sessions() else {
            return Err(failure(format!(
                "{} runs as {role}, but this server starts no role sessions",
                function.function_name
            )));
        };
        let seconds = u64::from(function.timeout).max(900);
        sessions
            .start(role, "lambda.amazonaws.com", &function.function_name, seconds)
            .await
            .map(Some)
            .map_err(|e| failure(format!("starting a session of {role}: {e}")))
    }

    async fn invoke_builtin(&self, name: &str, function: &Function, input: &[u8]) -> Outcome {
        let failure = |code: &str, message: String, retriable| Outcome {
            result: Err(trainyard_functions::Failure { code: code.into(), message, retriable }),
            logs: String::new(),
            duration: Duration::ZERO,
        };
        let Some(builtins) = self.inner.builtins.get() else {
            return failure("BuiltinUnavailable", format!("builtin:{name} is not available on this server"), true);
        };
        let event = match serde_json::from_slice(input) {
            Ok(event) => event,
            Err(e) => return failure("InvalidInput", format!("builtin:{name} takes a JSON event: {e}"), false),
        };
        let timeout = Duration::from_secs(u64::from(function.timeout).max(1));
        match tokio::time::timeout(timeout, builtins.invoke(name, function, event)).await {
            Ok(outcome) => outcome,
            Err(_) => failure("FunctionTimeout", format!("builtin:{name} ran longer than {timeout:?}"), true),
        }
    }

    /// The most recent invocations of a function, newest last, every answered one included.
    pub async fn list_invocations(
        &self,
        name: &str,
        limit: i64,
    ) -> Result<Vec<trainyard_store::Invocation>, crate::Error> {
        let (done, flushed) = tokio::sync::oneshot::channel();
        if self.inner.invocations.send(crate::invocations::Message::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
        Ok(self.store().list_invocations(name, limit).await?)
    }

    /// `Invoke` (synchronous): runs the function on `event` and returns its outcome.
    pub async fn invoke_function(&self, name: &str, event: &Value) -> Result<Outcome, crate::Error> {
        let function = self.store().get_function(name).await?;
        let event_id = event.get("id").and_then(Value::as_str);
        Ok(self.invoke(&function, event.to_string().as_bytes(), event_id).await)
    }
}

fn function_name(target: &Target) -> &str {
    match &target.destination {
        Destination::Function { name } => name,
        Destination::Http { .. } => "",
    }
}
