//! One execution environment: a runtime process (the Python runtime client, or a `provided`
//! function's `bootstrap`) and the Runtime API it pulls invocations from
//! (`/2018-06-01/runtime/invocation/next`, `…/response`, `…/error`, `/init/error`), served
//! on a loopback port of its own. It runs one invocation at a time and stays warm between
//! them: module-level state survives, as on Lambda. A cold start may take a [`Spare`]: a
//! Python runtime started ahead with common modules imported, given its function on stdin.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

use crate::Failure;

/// The most output kept between two invocations' log takes.
const MAX_BUFFERED_LOG: usize = 1024 * 1024;

/// One invocation handed to the runtime.
struct Invocation {
    request_id: String,
    event: Bytes,
    deadline_ms: u64,
    function_arn: String,
}

/// What the runtime answered.
pub enum Answer {
    Response(Bytes),
    /// Lambda's error shape, and whether the runtime itself failed (init, exit).
    Error {
        body: Value,
        runtime: bool,
    },
}

struct Shared {
    exited: std::sync::atomic::AtomicBool,
    /// Set when the runtime first asks for work (its init is done), or is gone.
    ready: tokio::sync::watch::Sender<bool>,
    pending: Mutex<Option<(String, oneshot::Sender<Answer>)>>,
    init_error: Mutex<Option<Value>>,
    next: tokio::sync::Mutex<Option<mpsc::Receiver<Invocation>>>,
    logs: Mutex<Vec<u8>>,
}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            exited: Default::default(),
            ready: tokio::sync::watch::Sender::new(false),
            pending: Default::default(),
            init_error: Default::default(),
            next: Default::default(),
            logs: Default::default(),
        })
    }

    fn answer(&self, request_id: Option<&str>, answer: Answer) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.as_ref().is_some_and(|(id, _)| request_id.is_none_or(|r| r == id)) {
            if let Some((_, sender)) = pending.take() {
                let _ = sender.send(answer);
            }
        }
    }
}

/// How to start an environment.
pub struct Launch {
    pub program: PathBuf,
    pub arguments: Vec<String>,
    pub working_dir: PathBuf,
    pub environment: BTreeMap<String, String>,
}

/// A running environment.
pub struct Environment {
    pub version: String,
    pub created: Instant,
    pub last_used: Instant,
    pub session: Option<String>,
    pid: u32,
    queue: mpsc::Sender<Invocation>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    watcher: tokio::task::JoinHandle<()>,
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.ready.send_replace(true);
    let mut receiver = shared.next.lock().await;
    let Some(invocation) = receiver.as_mut() else { return StatusCode::GONE.into_response() };
    let Some(invocation) = invocation.recv().await else { return StatusCode::GONE.into_response() };
    let mut response = Response::new(axum::body::Body::from(invocation.event));
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    put("lambda-runtime-aws-request-id", &invocation.request_id);
    put("lambda-runtime-deadline-ms", &invocation.deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", &invocation.function_arn);
    put("lambda-runtime-trace-id", &format!("Root=1-{}", invocation.request_id));
    put("content-type", "application/json");
    response
}

async fn respond(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    shared.answer(Some(&id), Answer::Response(body));
    StatusCode::ACCEPTED
}

fn error_of(headers: &HeaderMap, body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| {
        let kind =
            headers.get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok()).unwrap_or("Unhandled");
        json!({"errorMessage": String::from_utf8_lossy(body), "errorType": kind})
    })
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    shared.answer(Some(&id), Answer::Error { body: error_of(&headers, &body), runtime: false });
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let error = error_of(&headers, &body);
    *shared.init_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.clone());
    shared.answer(None, Answer::Error { body: error, runtime: true });
    StatusCode::ACCEPTED
}

/// Appends a pipe's bytes to the environment's log buffer (bounded; the oldest dropped).
async fn capture(shared: Arc<Shared>, pipe: Option<impl AsyncRead + Unpin>) {
    let Some(mut pipe) = pipe else { return };
    let mut chunk = vec![0u8; 8192];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        let mut logs = shared.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.extend_from_slice(&chunk[..n]);
        if logs.len() > MAX_BUFFERED_LOG {
            let excess = logs.len() - MAX_BUFFERED_LOG;
            logs.drain(..excess);
        }
    }
}

/// Starts a runtime process in a contained tree: its own environment only (plus where
/// programs are and the locale), never the server's; output captured into `shared`.
fn spawn_runtime(
    program: &std::path::Path,
    arguments: &[String],
    working_dir: &std::path::Path,
    environment: &BTreeMap<String, String>,
    shared: &Arc<Shared>,
    stdin: Stdio,
) -> std::io::Result<Child> {
    let mut command = tokio::process::Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()))
        .env("LANG", "C.UTF-8")
        .env("TZ", ":UTC")
        // Invariant: an AWS client inside never falls back to the server user's own AWS
        // files (~/.aws/credentials): its credentials are its role's session, or none.
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .envs(environment)
        .args(arguments)
        .current_dir(working_dir)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    trainyard_process::contain(&mut command);
    let mut child = command.spawn()?;
    tokio::spawn(capture(shared.clone(), child.stdout.take()));
    tokio::spawn(capture(shared.clone(), child.stderr.take()));
    Ok(child)
}

fn kill_runtime(pid: u32) {
    if pid > 0 {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
        trainyard_process::kill_tree(pid);
    }
}

/// A pre-initialised Python runtime: the runtime client with common modules (boto3)
/// already imported, waiting on stdin for the function it will run. Taking one makes a
/// cold start skip the interpreter's start and those imports. It belongs to no function
/// and holds no credentials until it is given one.
pub struct Spare {
    child: Option<Child>,
    shared: Arc<Shared>,
    pub created: Instant,
}

impl Spare {
    pub fn start(python: &std::path::Path, bootstrap: &std::path::Path, preload: &[String]) -> std::io::Result<Spare> {
        let shared = Shared::new();
        let mut arguments = vec!["-u".to_string(), bootstrap.display().to_string(), "--spare".into()];
        arguments.extend(preload.iter().cloned());
        let working_dir = bootstrap.parent().unwrap_or(std::path::Path::new("/"));
        let child = spawn_runtime(python, &arguments, working_dir, &BTreeMap::new(), &shared, Stdio::piped())?;
        Ok(Spare { child: Some(child), shared, created: Instant::now() })
    }

    /// Whether it is still waiting to be given a function.
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            kill_runtime(child.id().unwrap_or(0));
        }
    }
}

/// Gives a spare its function: the environment and working directory, as one JSON line.
async fn assign(spare: &mut Spare, launch: &Launch, runtime_api: &str) -> Option<(Child, Arc<Shared>)> {
    use tokio::io::AsyncWriteExt;
    let mut child = spare.child.take()?;
    let mut environment = launch.environment.clone();
    environment.insert("AWS_LAMBDA_RUNTIME_API".into(), runtime_api.to_string());
    let mut line = serde_json::to_vec(&json!({"environment": environment, "cwd": launch.working_dir})).ok()?;
    line.push(b'\n');
    let mut stdin = child.stdin.take()?;
    if stdin.write_all(&line).await.is_err() {
        kill_runtime(child.id().unwrap_or(0));
        return None;
    }
    Some((child, spare.shared.clone()))
}

impl Environment {
    /// Starts the runtime with its Runtime API (on `spare` when given and still waiting);
    /// it is ready when it first asks for work.
    pub async fn start(
        launch: Launch,
        version: String,
        session: Option<String>,
        spare: Option<Spare>,
    ) -> Result<Environment, Failure> {
        let spawn_failed = |message: String| Failure { code: "Runtime.StartFailed".into(), message, retriable: true };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| spawn_failed(e.to_string()))?;
        let address = listener.local_addr().map_err(|e| spawn_failed(e.to_string()))?.to_string();
        let mut assigned = None;
        if let Some(mut spare) = spare {
            if spare.alive() {
                assigned = assign(&mut spare, &launch, &address).await;
            }
        }
        let (mut child, shared) = match assigned {
            Some(assigned) => assigned,
            None => {
                let shared = Shared::new();
                let mut environment = launch.environment.clone();
                environment.insert("AWS_LAMBDA_RUNTIME_API".into(), address);
                let child = spawn_runtime(
                    &launch.program,
                    &launch.arguments,
                    &launch.working_dir,
                    &environment,
                    &shared,
                    Stdio::null(),
                )
                .map_err(|e| spawn_failed(format!("{}: {e}", launch.program.display())))?;
                (child, shared)
            }
        };
        let (queue, receiver) = mpsc::channel(1);
        *shared.next.lock().await = Some(receiver);
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let pid = child.id().unwrap_or(0);
        let watched = shared.clone();
        let watcher = tokio::spawn(async move {
            let status = child.wait().await;
            watched.exited.store(true, std::sync::atomic::Ordering::SeqCst);
            watched.ready.send_replace(true);
            let code = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            let body = watched.init_error.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_else(
                || json!({"errorMessage": format!("the runtime exited ({code})"), "errorType": "Runtime.ExitError"}),
            );
            watched.answer(None, Answer::Error { body, runtime: true });
            // The queue's receiver goes with the runtime: later sends fail at once.
            watched.next.lock().await.take();
        });
        let now = Instant::now();
        Ok(Environment { version, created: now, last_used: now, session, pid, queue, shared, server, watcher })
    }

    /// Waits until the runtime has finished its init (it asks for work) or is gone, at
    /// most `timeout`: false when it is still initialising.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let mut ready = self.shared.ready.subscribe();
        let done = tokio::time::timeout(timeout, ready.wait_for(|r| *r)).await.is_ok();
        done
    }

    /// Whether the runtime is still there to take work.
    pub fn alive(&self) -> bool {
        !self.shared.exited.load(std::sync::atomic::Ordering::SeqCst) && !self.watcher.is_finished()
    }

    /// Runs one invocation: hands it to the runtime and waits for its answer, at most
    /// `timeout`; past it the environment must be thrown away (`None`).
    pub async fn invoke(
        &mut self,
        request_id: &str,
        event: Bytes,
        function_arn: &str,
        timeout: Duration,
    ) -> Option<Answer> {
        let (sender, receiver) = oneshot::channel();
        *self.shared.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some((request_id.to_string(), sender));
        // Invariant: the watcher marks the runtime exited before it answers what is pending,
        // so a runtime that exited before this invocation became pending is seen here.
        if self.shared.exited.load(std::sync::atomic::Ordering::SeqCst) {
            self.shared.pending.lock().unwrap_or_else(|p| p.into_inner()).take();
            let init_error = self.shared.init_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let body = init_error
                .unwrap_or_else(|| json!({"errorMessage": "the runtime is gone", "errorType": "Runtime.ExitError"}));
            return Some(Answer::Error { body, runtime: true });
        }
        let deadline_ms = (std::time::SystemTime::now() + timeout)
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let invocation = Invocation {
            request_id: request_id.to_string(),
            event,
            deadline_ms,
            function_arn: function_arn.to_string(),
        };
        if self.queue.send(invocation).await.is_err() {
            let init_error = self.shared.init_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let body = init_error
                .unwrap_or_else(|| json!({"errorMessage": "the runtime is gone", "errorType": "Runtime.ExitError"}));
            return Some(Answer::Error { body, runtime: true });
        }
        let answer = tokio::time::timeout(timeout, receiver).await;
        self.last_used = Instant::now();
        match answer {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(_)) => Some(Answer::Error {
                body: json!({"errorMessage": "the runtime is gone", "errorType": "Runtime.ExitError"}),
                runtime: true,
            }),
            Err(_) => None,
        }
    }

    /// The output written since the last take.
    pub async fn take_logs(&self) -> String {
        // What the runtime printed just before it answered may still be in the pipe.
        tokio::task::yield_now().await;
        let mut logs = self.shared.logs.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&logs).into_owned();
        logs.clear();
        text
    }

    /// The runtime's peak memory (VmHWM), in MB.
    pub fn max_memory_mb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb.div_ceil(1024))
    }

    /// Ends the runtime and everything it started.
    pub fn stop(&self) {
        kill_runtime(self.pid);
        self.server.abort();
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.stop();
    }
}
