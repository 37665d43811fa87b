//! Lambda-compatible functions: a handler (`module.function` of a Python runtime, or a
//! `provided` function's `bootstrap` speaking the Runtime API) in execution environments that
//! stay warm between invocations. Each function has a pool: an invocation takes an idle
//! environment of the function's current code version or starts one (a cold start), up to
//! the function's concurrency; idle environments are reclaimed, and a new code version
//! drains the old ones. Each invocation's log is framed by Lambda's START, END and REPORT lines.

mod code;
mod environment;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;

pub use code::{code_sha256, unpack, zip_directory, MAX_UNPACKED_BYTES};
use environment::{Answer, Environment, Launch, Spare};

use crate::{Failure, Outcome};

/// The runtime client Python runtimes run (`bootstrap.py`).
const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap.py");

/// An environment older than this is not reused (its role session would end soon).
const MAX_ENVIRONMENT_AGE: Duration = Duration::from_secs(50 * 60);

/// A started session: its id, and the variables that carry it to the runtime.
pub type StartedSession = (String, BTreeMap<String, String>);

/// What an environment's credentials come from: a session of the function's role for its
/// lifetime (the bus attaches the identity service's).
pub trait EnvironmentCredentials: Send + Sync + 'static {
    /// A session of `role` named `name`: its id and the variables that carry it.
    fn start(&self, role: &str, name: &str) -> BoxFuture<'static, Result<StartedSession, String>>;
    fn end(&self, session: String) -> BoxFuture<'static, ()>;
}

/// One Lambda function as it runs.
#[derive(Debug, Clone)]
pub struct LambdaSpec {
    pub function_name: String,
    pub function_arn: String,
    /// `python3.X` or `provided` (`provided.al2`, `provided.al2023`).
    pub runtime: String,
    pub handler: String,
    /// The unpacked code (`LAMBDA_TASK_ROOT`).
    pub code_dir: PathBuf,
    /// The code version (its SHA-256): environments of another version are drained.
    pub version: String,
    /// The function's variables and the platform's (`AWS_ENDPOINT_URL`, `AWS_REGION`).
    pub environment: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub timeout: Duration,
    pub role: Option<String>,
    /// At most this many environments (invocations at once).
    pub concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct LambdasConfig {
    /// Where the runtime client is written.
    pub runtime_dir: PathBuf,
    /// Idle environments are reclaimed after this long.
    pub idle_timeout: Duration,
    /// The Python for a `python3.X` runtime of the same version (else `python3.X` on `PATH`).
    pub python: Option<PathBuf>,
    /// What a pre-initialised Python runtime (a spare) imports before it is given a
    /// function; empty: cold starts start their interpreter.
    pub preload: Vec<String>,
}

struct Pool {
    version: String,
    idle: Vec<Environment>,
    limit: Arc<tokio::sync::Semaphore>,
    concurrency: usize,
}

/// Every Lambda function's environments; cheap to clone.
#[derive(Clone)]
pub struct Lambdas {
    inner: Arc<Inner>,
}

struct Inner {
    config: LambdasConfig,
    pools: Mutex<HashMap<String, Pool>>,
    credentials: std::sync::OnceLock<Arc<dyn EnvironmentCredentials>>,
    bootstrap: PathBuf,
    /// One requirements environment is built at a time.
    building: tokio::sync::Mutex<()>,
    /// Each runtime's interpreter, looked up once.
    pythons: Mutex<HashMap<String, Option<PathBuf>>>,
    /// One pre-initialised runtime per interpreter that has run a function (see [`Spare`]).
    spares: Mutex<HashMap<PathBuf, Spare>>,
}

fn failure(code: &str, message: impl Into<String>, retriable: bool) -> Failure {
    Failure { code: code.into(), message: message.into(), retriable }
}

/// The Python interpreter for `runtime` (`python3.11`, …), if this machine has it.
pub fn python_for(runtime: &str, configured: Option<&Path>) -> Option<PathBuf> {
    let version = runtime.strip_prefix("python")?;
    if let Some(python) = configured {
        let output = std::process::Command::new(python)
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
            .output()
            .ok()?;
        if String::from_utf8_lossy(&output.stdout).trim() == version {
            return Some(python.to_path_buf());
        }
    }
    let name = format!("python{version}");
    let found = std::process::Command::new(&name).args(["-c", "pass"]).status().ok()?.success();
    found.then(|| PathBuf::from(name))
}

/// Checks a runtime and handler before a function is stored.
pub fn validate(runtime: &str, handler: &str, config: &LambdasConfig) -> Result<(), String> {
    if runtime.starts_with("python") {
        if python_for(runtime, config.python.as_deref()).is_none() {
            return Err(format!("runtime {runtime} is not present on this server"));
        }
        let (module, function) = handler
            .rsplit_once('.')
            .ok_or_else(|| format!("handler {handler:?} must be module.function (for example app.lambda_handler)"))?;
        if module.is_empty() || function.is_empty() || module.contains("..") || module.starts_with('/') {
            return Err(format!("handler {handler:?} must be module.function inside the code"));
        }
        Ok(())
    } else if runtime == "provided" || runtime.starts_with("provided.") {
        Ok(())
    } else {
        Err(format!("runtime {runtime:?} is not supported: use python3.X or provided"))
    }
}

impl Lambdas {
    /// Writes the runtime client and starts the reclaimer of idle environments.
    pub fn new(config: LambdasConfig) -> std::io::Result<Lambdas> {
        std::fs::create_dir_all(&config.runtime_dir)?;
        let bootstrap = config.runtime_dir.join("bootstrap.py");
        std::fs::write(&bootstrap, PYTHON_BOOTSTRAP)?;
        let lambdas = Lambdas {
            inner: Arc::new(Inner {
                config,
                pools: Mutex::new(HashMap::new()),
                credentials: std::sync::OnceLock::new(),
                bootstrap,
                building: tokio::sync::Mutex::new(()),
                pythons: Mutex::new(HashMap::new()),
                spares: Mutex::new(HashMap::new()),
            }),
        };
        let weak = Arc::downgrade(&lambdas.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(inner) = weak.upgrade() else { return };
                Lambdas { inner }.reclaim();
            }
        });
        Ok(lambdas)
    }

    /// Attaches where environments' role sessions come from.
    pub fn attach_credentials(&self, credentials: Arc<dyn EnvironmentCredentials>) {
        let _ = self.inner.credentials.set(credentials);
    }

    /// Ends idle environments past the idle timeout or too old.
    pub fn reclaim(&self) {
        let idle_timeout = self.inner.config.idle_timeout;
        let mut ended = Vec::new();
        if let Ok(mut pools) = self.inner.pools.lock() {
            for pool in pools.values_mut() {
                let (keep, stale): (Vec<_>, Vec<_>) = pool.idle.drain(..).partition(|e| {
                    e.alive() && e.last_used.elapsed() < idle_timeout && e.created.elapsed() < MAX_ENVIRONMENT_AGE
                });
                pool.idle = keep;
                ended.extend(stale);
            }
        }
        for environment in ended {
            self.end(environment);
        }
        // A spare unused for the idle timeout goes too (dropping it ends its process).
        if let Ok(mut spares) = self.inner.spares.lock() {
            spares.retain(|_, spare| spare.alive() && spare.created.elapsed() < idle_timeout);
        }
    }

    /// The interpreter of a `python3.X` runtime (looked up once).
    fn python(&self, runtime: &str) -> Option<PathBuf> {
        let mut pythons = self.inner.pythons.lock().unwrap_or_else(|p| p.into_inner());
        pythons
            .entry(runtime.to_string())
            .or_insert_with(|| python_for(runtime, self.inner.config.python.as_deref()))
            .clone()
    }

    /// Takes the waiting spare of `python`, if there is one.
    fn take_spare(&self, python: &Path) -> Option<Spare> {
        self.inner.spares.lock().ok()?.remove(python)
    }

    /// Starts a spare for `python` unless one is waiting.
    fn prime(&self, python: &Path) {
        if self.inner.config.preload.is_empty() {
            return;
        }
        let mut spares = self.inner.spares.lock().unwrap_or_else(|p| p.into_inner());
        if !spares.get_mut(python).is_some_and(Spare::alive) {
            match Spare::start(python, &self.inner.bootstrap, &self.inner.config.preload) {
                Ok(spare) => {
                    spares.insert(python.to_path_buf(), spare);
                }
                Err(e) => tracing::warn!(python = %python.display(), error = %e, "starting a spare runtime"),
            }
        }
    }

    /// Ends every environment of a function (deleted, or its code changed).
    pub fn drain(&self, function_name: &str) {
        let removed = self.inner.pools.lock().ok().and_then(|mut p| p.remove(function_name));
        for environment in removed.map(|p| p.idle).unwrap_or_default() {
            self.end(environment);
        }
    }

    /// How many idle (warm) environments a function has.
    pub fn warm(&self, function_name: &str) -> usize {
        self.inner.pools.lock().ok().and_then(|p| p.get(function_name).map(|p| p.idle.len())).unwrap_or(0)
    }

    fn end(&self, environment: Environment) {
        environment.stop();
        if let (Some(session), Some(credentials)) = (environment.session.clone(), self.inner.credentials.get()) {
            tokio::spawn(credentials.end(session));
        }
    }

    /// The pool's concurrency permit and a warm environment of the current version, if any.
    fn checkout(&self, spec: &LambdaSpec) -> (Arc<tokio::sync::Semaphore>, Option<Environment>, Vec<Environment>) {
        let mut pools = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner());
        let pool = pools.entry(spec.function_name.clone()).or_insert_with(|| Pool {
            version: spec.version.clone(),
            idle: Vec::new(),
            limit: Arc::new(tokio::sync::Semaphore::new(spec.concurrency.max(1))),
            concurrency: spec.concurrency.max(1),
        });
        let mut drained = Vec::new();
        if pool.version != spec.version || pool.concurrency != spec.concurrency.max(1) {
            // Invariant: a new code version (or concurrency) drains the old environments.
            drained.append(&mut pool.idle);
            pool.version = spec.version.clone();
            if pool.concurrency != spec.concurrency.max(1) {
                pool.limit = Arc::new(tokio::sync::Semaphore::new(spec.concurrency.max(1)));
                pool.concurrency = spec.concurrency.max(1);
            }
        }
        let mut warm = None;
        while let Some(candidate) = pool.idle.pop() {
            if candidate.alive() && candidate.created.elapsed() < MAX_ENVIRONMENT_AGE {
                warm = Some(candidate);
                break;
            }
            drained.push(candidate);
        }
        (pool.limit.clone(), warm, drained)
    }

    fn checkin(&self, spec: &LambdaSpec, environment: Environment) {
        let mut pools = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner());
        match pools.get_mut(&spec.function_name) {
            Some(pool) if pool.version == environment.version && environment.alive() => pool.idle.push(environment),
            _ => {
                drop(pools);
                self.end(environment);
            }
        }
    }

    /// Starts an environment of `spec`, and the interpreter a spare should be primed for
    /// (the shared one, when the function used it).
    async fn launch(&self, spec: &LambdaSpec) -> Result<(Environment, Option<PathBuf>), Failure> {
        // The interpreter first (a requirements environment may take a while, and fail):
        // no session is started for a launch that cannot happen.
        let (python, shared_python) = if spec.runtime.starts_with("python") {
            let base = self.python(&spec.runtime).ok_or_else(|| {
                failure("Runtime.InvalidRuntime", format!("{} is not on this server", spec.runtime), false)
            })?;
            let python = self.requirements_python(spec, base.clone()).await?;
            let shared = (python == base).then_some(base);
            (Some(python), shared)
        } else {
            (None, None)
        };
        let mut environment = spec.environment.clone();
        let stream = format!("{}/[$LATEST]{}", chrono_date(), uuid_like());
        for (key, value) in [
            ("AWS_LAMBDA_FUNCTION_NAME", spec.function_name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_mb.to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", spec.function_name)),
            ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
            ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", spec.runtime)),
            ("LAMBDA_TASK_ROOT", spec.code_dir.display().to_string()),
            ("LAMBDA_RUNTIME_DIR", self.inner.config.runtime_dir.display().to_string()),
            ("_HANDLER", spec.handler.clone()),
        ] {
            environment.insert(key.into(), value);
        }
        let mut session = None;
        if let Some(role) = &spec.role {
            let credentials = self.inner.credentials.get().ok_or_else(|| {
                failure(
                    "RoleSessionFailed",
                    format!("{} runs as {role}, but no sessions are attached", spec.function_name),
                    true,
                )
            })?;
            let (id, variables) = credentials
                .start(role, &spec.function_name)
                .await
                .map_err(|e| failure("RoleSessionFailed", format!("starting a session of {role}: {e}"), true))?;
            environment.extend(variables);
            // The function's region stands (the session's is the server's ARN region).
            for key in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
                if let Some(region) = spec.environment.get(key) {
                    environment.insert(key.into(), region.clone());
                }
            }
            session = Some(id);
        }
        let launch = if let Some(python) = python {
            Launch {
                program: python,
                arguments: vec!["-u".into(), self.inner.bootstrap.display().to_string()],
                working_dir: spec.code_dir.clone(),
                environment,
            }
        } else {
            Launch {
                program: spec.code_dir.join("bootstrap"),
                arguments: Vec::new(),
                working_dir: spec.code_dir.clone(),
                environment,
            }
        };
        // Invariant: a spare runs only functions on the interpreter it was started with.
        let spare = shared_python.as_deref().and_then(|python| self.take_spare(python));
        match Environment::start(launch, spec.version.clone(), session.clone(), spare).await {
            Ok(environment) => Ok((environment, shared_python)),
            Err(e) => {
                if let (Some(session), Some(credentials)) = (session, self.inner.credentials.get()) {
                    credentials.end(session).await;
                }
                Err(e)
            }
        }
    }

    /// The Python of a code version with a `requirements.txt`: a virtual environment built
    /// once per version (beside the configured Python's packages, boto3 among them).
    /// Invariant: a version's environment appears whole (built aside, renamed), once.
    async fn requirements_python(&self, spec: &LambdaSpec, python: PathBuf) -> Result<PathBuf, Failure> {
        let requirements = spec.code_dir.join("requirements.txt");
        if !requirements.is_file() {
            return Ok(python);
        }
        let dir_name: String = spec.code_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let venvs = self.inner.config.runtime_dir.with_file_name("venvs");
        let venv = venvs.join(format!("{dir_name}-{}", spec.runtime));
        let ready = venv.join(".ready");
        let _building = self.inner.building.lock().await;
        if ready.exists() {
            return Ok(venv.join("bin/python"));
        }
        let fail = |message: String| failure("Runtime.RequirementsFailed", message, false);
        let staging = venvs.join(format!(".{dir_name}.building-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        let _ = std::fs::remove_dir_all(&venv);
        std::fs::create_dir_all(&venvs).map_err(|e| fail(format!("{}: {e}", venvs.display())))?;
        let pip = vec![
            "-m".to_string(),
            "pip".into(),
            "install".into(),
            "--quiet".into(),
            "--disable-pip-version-check".into(),
            "-r".into(),
            requirements.display().to_string(),
        ];
        let venv_arguments =
            vec!["-m".into(), "venv".into(), "--system-site-packages".into(), staging.display().to_string()];
        for (program, arguments) in [(python, venv_arguments), (staging.join("bin/python"), pip)] {
            let output = tokio::process::Command::new(&program)
                .args(&arguments)
                .current_dir(&spec.code_dir)
                .output()
                .await
                .map_err(|e| fail(format!("{}: {e}", program.display())))?;
            if !output.status.success() {
                let _ = std::fs::remove_dir_all(&staging);
                let stderr = String::from_utf8_lossy(&output.stderr);
                let lines: Vec<&str> = stderr.lines().collect();
                let tail = lines[lines.len().saturating_sub(5)..].join("\n");
                return Err(fail(format!("installing requirements.txt failed: {tail}")));
            }
        }
        std::fs::rename(&staging, &venv).map_err(|e| fail(format!("{}: {e}", venv.display())))?;
        std::fs::write(&ready, b"").map_err(|e| fail(format!("{}: {e}", ready.display())))?;
        Ok(venv.join("bin/python"))
    }

    /// Runs one invocation of `spec` on `event` (JSON bytes).
    pub async fn invoke(&self, spec: &LambdaSpec, event: &[u8]) -> Outcome {
        let started = Instant::now();
        let finish = |result, logs| Outcome { result, logs, duration: started.elapsed() };
        let (limit, warm, drained) = self.checkout(spec);
        for environment in drained {
            self.end(environment);
        }
        let Ok(_permit) = limit.acquire_owned().await else {
            return finish(
                Err(failure("TooManyRequestsException", "the function's pool is closed", true)),
                String::new(),
            );
        };
        // A warm environment might have been taken while waiting for the permit: look again.
        let warm = match warm {
            Some(environment) => Some(environment),
            None => self.checkout(spec).1,
        };
        let cold = warm.is_none();
        let (mut environment, prime) = match warm {
            Some(environment) => (environment, None),
            None => match self.launch(spec).await {
                Ok(launched) => launched,
                Err(e) => return finish(Err(e), String::new()),
            },
        };
        // The init (the runtime's start, its imports and the handler module's) ends when
        // the runtime first asks for work; it may take the function's timeout at most.
        let initialised = !cold || environment.ready(spec.timeout).await || !environment.alive();
        let request_id = uuid_like();
        let mut logs = format!("START RequestId: {request_id} Version: $LATEST\n");
        let invoked = Instant::now();
        let answer = if initialised {
            environment.invoke(&request_id, Bytes::copy_from_slice(event), &spec.function_arn, spec.timeout).await
        } else {
            None
        };
        let elapsed = invoked.elapsed();
        logs.push_str(&environment.take_logs().await);
        let result = match &answer {
            Some(Answer::Response(body)) => {
                if body.iter().all(u8::is_ascii_whitespace) {
                    Ok(Value::Null)
                } else {
                    serde_json::from_slice::<Value>(body)
                        .map_err(|e| failure("Runtime.InvalidResult", format!("the result is not JSON: {e}"), false))
                }
            }
            Some(Answer::Error { body, runtime }) => {
                // The message is Lambda's error document itself ({errorMessage, errorType,
                // stackTrace}), as `Invoke` answers it.
                let kind = body["errorType"].as_str().unwrap_or("Unhandled").to_string();
                let _ = runtime;
                Err(Failure { code: kind, message: serde_json::to_string(body).unwrap_or_default(), retriable: true })
            }
            None => {
                logs.push_str(&format!(
                    "{} Task timed out after {:.2} seconds\n",
                    request_id,
                    spec.timeout.as_secs_f64()
                ));
                Err(failure(
                    "FunctionTimeout",
                    format!("Task timed out after {:.2} seconds", spec.timeout.as_secs_f64()),
                    true,
                ))
            }
        };
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        logs.push_str(&format!("END RequestId: {request_id}\n"));
        logs.push_str(&format!(
            "REPORT RequestId: {request_id}\tDuration: {duration_ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            (duration_ms.ceil() as u64).max(1),
            spec.memory_mb,
            environment.max_memory_mb()
        ));
        if cold {
            logs.push_str(&format!("\tInit Duration: {:.2} ms", (invoked - started).as_secs_f64() * 1000.0));
        }
        logs.push('\n');
        let healthy = matches!(&answer, Some(Answer::Response(_)) | Some(Answer::Error { runtime: false, .. }));
        if healthy && environment.alive() {
            self.checkin(spec, environment);
        } else {
            self.end(environment);
        }
        // The next cold start on this interpreter takes a spare (started after this
        // invocation's answer, so as not to slow it).
        if let Some(python) = prime {
            self.prime(&python);
        }
        finish(result, logs)
    }
}

fn chrono_date() -> String {
    chrono::Utc::now().format("%Y/%m/%d").to_string()
}

/// A request id in Lambda's form (a random UUID).
fn uuid_like() -> String {
    uuid::Uuid::new_v4().to_string()
}
