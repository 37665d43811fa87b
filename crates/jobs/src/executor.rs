//! The local executor's process handling: one training process in its own process
//! group and PID namespace (`trainyard_process::contain`), its output captured line by line into the job log and the metric parser,
//! stopped by request or by `MaxRuntimeInSeconds` with SIGTERM, a grace period, then
//! SIGKILL.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use trainyard_store::MetricPoint;

use crate::instances::Limits;
use crate::metrics::MetricParser;

/// Why a running job is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Requested,
    MaxRuntime,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: PathBuf,
    pub arguments: Vec<String>,
    pub working_dir: PathBuf,
    pub environment: BTreeMap<String, String>,
    /// The CPUs and memory the process may use (its instance type's).
    pub limits: Limits,
}

/// How the process ended.
#[derive(Debug)]
pub struct ProcessOutcome {
    /// The exit code, or `None` when a signal ended it.
    pub exit_code: Option<i32>,
    pub stopped: Option<StopReason>,
    /// The last lines the process wrote to stderr.
    pub stderr_tail: Vec<String>,
}

const STDERR_TAIL_LINES: usize = 20;

/// Appends a line to the job log (shared by both output streams).
async fn log_line(log: &tokio::sync::Mutex<tokio::fs::File>, line: &str) {
    let mut file = log.lock().await;
    let _ = file.write_all(line.as_bytes()).await;
    let _ = file.write_all(b"\n").await;
}

/// Runs the process to its end. `on_spawn` receives the process id (the process
/// group id too). Metric values go to `metrics` as lines arrive.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    spec: &ProcessSpec,
    log_path: &Path,
    parser: Arc<MetricParser>,
    metrics: mpsc::UnboundedSender<MetricPoint>,
    mut stop: watch::Receiver<Option<StopReason>>,
    max_runtime: Option<Duration>,
    grace: Duration,
    on_spawn: impl FnOnce(u32),
) -> std::io::Result<ProcessOutcome> {
    let log = tokio::fs::OpenOptions::new().create(true).append(true).open(log_path).await?;
    let log = Arc::new(tokio::sync::Mutex::new(log));
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.arguments)
        .current_dir(&spec.working_dir)
        .env_clear()
        .envs(inherited_environment())
        .envs(&spec.environment)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    confine(&mut command, &spec.limits)?;
    trainyard_process::contain(&mut command);
    let mut child = command.spawn()?;
    let pid = child.id().unwrap_or(0);
    on_spawn(pid);
    let group = Pid::from_raw(pid as i32);
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_LINES)));
    let readers = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .enumerate()
    .filter_map(|(index, stream)| stream.map(|s| (index == 1, s)))
    .map(|(is_stderr, stream)| {
        let (log, parser, metrics, tail) = (Arc::clone(&log), Arc::clone(&parser), metrics.clone(), Arc::clone(&tail));
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log_line(&log, &line).await;
                for point in parser.parse(&line, Utc::now()) {
                    let _ = metrics.send(point);
                }
                if is_stderr {
                    if let Ok(mut tail) = tail.lock() {
                        if tail.len() == STDERR_TAIL_LINES {
                            tail.pop_front();
                        }
                        tail.push_back(line);
                    }
                }
            }
        })
    })
    .collect::<Vec<_>>();

    let deadline = async {
        match max_runtime {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let requested = async {
        loop {
            if let Some(reason) = *stop.borrow_and_update() {
                return reason;
            }
            if stop.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    let mut stopped = None;
    let status = tokio::select! {
        status = child.wait() => status?,
        _ = deadline => { stopped = Some(StopReason::MaxRuntime); terminate(&mut child, group, grace).await? }
        reason = requested => { stopped = Some(reason); terminate(&mut child, group, grace).await? }
    };
    // Invariant: nothing of the job outlives it (children the script left behind too,
    // in its process group or not).
    kill_group(pid);
    for reader in readers {
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    }
    let stderr_tail = tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default();
    Ok(ProcessOutcome { exit_code: status.code(), stopped, stderr_tail })
}

/// SIGTERM to the group, up to `grace` to exit, then SIGKILL.
async fn terminate(
    child: &mut tokio::process::Child,
    group: Pid,
    grace: Duration,
) -> std::io::Result<std::process::ExitStatus> {
    let _ = killpg(group, Signal::SIGTERM);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            let _ = killpg(group, Signal::SIGKILL);
            child.wait().await
        }
    }
}

/// The parts of the server's environment a training process may see.
fn inherited_environment() -> Vec<(String, String)> {
    let mut inherited = inheritable(std::env::vars());
    // Invariant: an AWS client in a job never falls back to the server user's own AWS
    // files (~/.aws): its credentials are its role's, or none (the job's own variables,
    // applied after these, may still name files).
    inherited.push(("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()));
    inherited.push(("AWS_CONFIG_FILE".into(), "/dev/null".into()));
    inherited
}

/// Invariant: an allow-list. What locates programs, the locale, the temporary directory,
/// proxies and certificates, and the accelerators pass; the server's own settings and
/// secrets (`TRAINYARD_*`, the operator's `AWS_*` credentials, tokens of any kind) never do.
fn inheritable(variables: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    const NAMES: &[&str] = &[
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TERM",
        "LD_LIBRARY_PATH",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
    ];
    const PREFIXES: &[&str] = &["LC_", "CUDA_", "NVIDIA_", "PYENV"];
    variables.filter(|(k, _)| NAMES.contains(&k.as_str()) || PREFIXES.iter().any(|p| k.starts_with(p))).collect()
}

/// Whether a process (group leader) still exists.
pub fn alive(pid: u32) -> bool {
    pid > 0 && nix::sys::signal::kill(Pid::from_raw(pid as i32), None).is_ok()
}

/// Kills a job's whole process tree: its group, and (without PID namespaces, where the
/// tree dies with its top process) every descendant that left it.
pub fn kill_group(pid: u32) {
    if pid > 0 {
        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        if !trainyard_process::namespaces_available() {
            trainyard_process::kill_tree(pid);
        }
    }
}

/// Applies `limits` to the process before it runs its program: the first allowed CPUs
/// (affinity) and a data-segment limit (`RLIMIT_DATA`: heap and private mappings), which
/// makes an allocation past it fail in the process rather than take the machine down.
#[allow(unsafe_code)]
fn confine(command: &mut Command, limits: &Limits) -> std::io::Result<()> {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::sys::resource::{setrlimit, Resource};
    if *limits == Limits::default() {
        return Ok(());
    }
    let allowed = sched_getaffinity(Pid::from_raw(0)).map_err(std::io::Error::from)?;
    let mut cpus = CpuSet::new();
    let mut chosen = 0;
    for cpu in 0..CpuSet::count() {
        if limits.cpus.is_some_and(|n| chosen >= n) {
            break;
        }
        if allowed.is_set(cpu).unwrap_or(false) {
            cpus.set(cpu).map_err(std::io::Error::from)?;
            chosen += 1;
        }
    }
    let memory = limits.memory_bytes;
    // SAFETY: the closure runs in the child between fork and exec; it only makes two
    // system calls (no allocation, no locks), which is what `pre_exec` allows.
    unsafe {
        command.pre_exec(move || {
            if chosen > 0 {
                sched_setaffinity(Pid::from_raw(0), &cpus).map_err(std::io::Error::from)?;
            }
            if let Some(bytes) = memory {
                setrlimit(Resource::RLIMIT_DATA, bytes, bytes).map_err(std::io::Error::from)?;
            }
            Ok(())
        });
    }
    Ok(())
}

#[cfg(test)]
mod inherit_tests {
    use super::inheritable;

    #[test]
    fn jobs_never_inherit_the_servers_secrets() {
        let server = [
            ("PATH", "/usr/bin"),
            ("LC_ALL", "C"),
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("CUDA_VISIBLE_DEVICES", "0"),
            ("AWS_ACCESS_KEY_ID", "AKIAOPERATOR"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_PROFILE", "admin"),
            ("TRAINYARD_TOKEN", "t"),
            ("GITHUB_TOKEN", "g"),
            ("SM_MODEL_DIR", "/elsewhere"),
        ];
        let passed = inheritable(server.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let names: Vec<&str> = passed.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["PATH", "LC_ALL", "HTTPS_PROXY", "CUDA_VISIBLE_DEVICES"]);
    }
}
