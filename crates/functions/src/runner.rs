//! Runs one invocation of a command function.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// The largest result a function may print (Lambda's 6 MB payload limit).
pub const MAX_RESULT_BYTES: usize = 6 * 1024 * 1024;
/// The most log text kept from one invocation.
pub const MAX_LOG_BYTES: usize = 1024 * 1024;

/// `PATH` when the server has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What to run.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// A shell command line, run with `/bin/sh -c`.
    pub command: String,
    pub environment: BTreeMap<String, String>,
    pub timeout: Duration,
}

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// A stable code: `FunctionTimeout`, `FunctionError`, `InvalidResult`, `SpawnFailed`
    /// or the `errorType` the function reported.
    pub code: String,
    pub message: String,
    /// False when retrying cannot help (the function said so, or its output is unusable).
    pub retriable: bool,
}

/// The result of one invocation.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: Result<Value, Failure>,
    pub logs: String,
    pub duration: Duration,
}

/// Runs `spec` with `input` on stdin. The child runs in its own process group and PID
/// namespace (where available); when it ends or times out, its whole tree is killed.
pub async fn run(spec: &CommandSpec, input: &[u8]) -> Outcome {
    let started = Instant::now();
    let finish = |result, logs| Outcome { result, logs, duration: started.elapsed() };
    let mut command = Command::new("/bin/sh");
    // Invariant: nothing of the server's environment (its tokens above all) reaches a
    // function but where programs are found and the locale.
    command.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()));
    if let Some(home) = std::env::var_os("HOME") {
        command.env("HOME", home);
    }
    command
        .env("LANG", "C.UTF-8")
        .env("TZ", "UTC")
        // Invariant: an AWS client in the function never falls back to the server user's
        // own AWS files: its credentials are its role's session, or none.
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .arg("-c")
        .arg(&spec.command)
        .envs(&spec.environment)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    trainyard_process::contain(&mut command);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let failure = Failure { code: "SpawnFailed".into(), message: e.to_string(), retriable: true };
            return finish(Err(failure), String::new());
        }
    };
    let pid = child.id().unwrap_or(0);
    let mut stdin = child.stdin.take();
    let input = input.to_vec();
    let writer = tokio::spawn(async move {
        if let Some(stdin) = stdin.as_mut() {
            // A function may exit without reading its input; a broken pipe is fine.
            let _ = stdin.write_all(&input).await;
        }
    });
    let (stdout, stderr) = (Captured::default(), Captured::default());
    let readers = [
        tokio::spawn(stdout.clone().read(child.stdout.take(), MAX_RESULT_BYTES + 1)),
        tokio::spawn(stderr.clone().read(child.stderr.take(), usize::MAX)),
    ];
    let status = tokio::time::timeout(spec.timeout, child.wait()).await;
    // Invariant: nothing of the invocation outlives it, finished or timed out, even what
    // left its process group.
    end_tree(pid);
    writer.abort();
    // Whatever still holds the pipes is gone; never wait on them past a moment.
    for reader in readers {
        if tokio::time::timeout(PIPE_GRACE, reader).await.is_err() {
            tracing::warn!("a function's output pipe stayed open after its processes were killed");
        }
    }
    let out = stdout.take();
    let logs = tail(&String::from_utf8_lossy(&stderr.take()), MAX_LOG_BYTES);
    let status = match status {
        Err(_) => {
            let _ = child.wait().await;
            let message = format!("the function did not finish within {:?}", spec.timeout);
            return finish(Err(Failure { code: "FunctionTimeout".into(), message, retriable: true }), logs);
        }
        Ok(Err(e)) => {
            let failure = Failure { code: "SpawnFailed".into(), message: e.to_string(), retriable: true };
            return finish(Err(failure), logs);
        }
        Ok(Ok(status)) => status,
    };
    if out.len() > MAX_RESULT_BYTES {
        let message = format!("the result is larger than {MAX_RESULT_BYTES} bytes");
        return finish(Err(Failure { code: "InvalidResult".into(), message, retriable: false }), logs);
    }
    let parsed =
        if out.iter().all(u8::is_ascii_whitespace) { Ok(Value::Null) } else { serde_json::from_slice::<Value>(&out) };
    let result = match (status.success(), parsed) {
        (true, Ok(value)) => Ok(value),
        (true, Err(e)) => {
            Err(Failure { code: "InvalidResult".into(), message: format!("stdout is not JSON: {e}"), retriable: false })
        }
        (false, parsed) => Err(reported_failure(status.code(), parsed.ok(), &logs)),
    };
    finish(result, logs)
}

/// A failed exit: the function may describe its error on stdout as
/// `{"errorType": ..., "errorMessage": ..., "retriable": false}`.
fn reported_failure(code: Option<i32>, reported: Option<Value>, logs: &str) -> Failure {
    let field = |name: &str| reported.as_ref().and_then(|v| v.get(name)).and_then(Value::as_str).map(str::to_string);
    let status = code.map_or_else(|| "killed by a signal".to_string(), |c| format!("exit code {c}"));
    let last_log = logs.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_string();
    Failure {
        code: field("errorType").unwrap_or_else(|| "FunctionError".into()),
        message: field("errorMessage").unwrap_or_else(|| format!("{status}: {last_log}")),
        retriable: reported.as_ref().and_then(|v| v.get("retriable")).and_then(Value::as_bool).unwrap_or(true),
    }
}

/// The longest a finished invocation's output pipes are read after its processes end.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// Kills the invocation's whole tree: its group, and (without PID namespaces) every
/// descendant that left it.
fn end_tree(pid: u32) {
    if pid == 0 {
        return;
    }
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
    if !trainyard_process::namespaces_available() {
        trainyard_process::kill_tree(pid);
    }
}

/// What a process wrote to one pipe, kept where it can be read even if the pipe never
/// closes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Reads `source` to its end, keeping up to `cap` bytes (the tail, past twice the log
    /// limit, when uncapped).
    async fn read(self, source: Option<impl AsyncRead + Unpin>, cap: usize) {
        let Some(mut source) = source else { return };
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match source.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut buffer = self.0.lock().unwrap_or_else(|e| e.into_inner());
                    // Keep reading past the cap so the child never blocks on a full pipe.
                    if buffer.len() < cap {
                        let keep = n.min(cap - buffer.len());
                        buffer.extend_from_slice(&chunk[..keep]);
                    }
                    if cap == usize::MAX && buffer.len() > 2 * MAX_LOG_BYTES {
                        let excess = buffer.len() - MAX_LOG_BYTES;
                        buffer.drain(..excess);
                    }
                }
            }
        }
    }

    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(command: &str) -> CommandSpec {
        CommandSpec { command: command.into(), environment: BTreeMap::new(), timeout: Duration::from_secs(5) }
    }

    #[tokio::test]
    async fn echoes_the_event_back() {
        let outcome = run(&spec("cat"), br#"{"a":1}"#).await;
        assert_eq!(outcome.result.unwrap(), serde_json::json!({"a": 1}));
    }

    #[tokio::test]
    async fn stderr_is_the_log_and_env_is_passed() {
        let mut s = spec("echo \"hello $WHO\" >&2; echo '{}'");
        s.environment.insert("WHO".into(), "world".into());
        let outcome = run(&s, b"{}").await;
        assert!(outcome.result.is_ok());
        assert_eq!(outcome.logs.trim(), "hello world");
    }

    #[tokio::test]
    async fn the_server_environment_does_not_reach_the_function() {
        // The test process stands in for the server: a secret in its environment.
        std::env::set_var("TRAINYARD_TOKEN", "secret-of-the-server");
        let mut s = spec("env >&2; echo {}");
        s.environment.insert("GIVEN".into(), "yes".into());
        let outcome = run(&s, b"{}").await;
        assert!(outcome.result.is_ok(), "{outcome:?}");
        assert!(!outcome.logs.contains("secret-of-the-server"), "{}", outcome.logs);
        let mut names: Vec<&str> = outcome.logs.lines().filter_map(|l| l.split('=').next()).collect();
        names.sort();
        names.retain(|n| !["PWD", "SHLVL", "_", "OLDPWD"].contains(n));
        let expected = if std::env::var_os("HOME").is_some() {
            vec!["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "GIVEN", "HOME", "LANG", "PATH", "TZ"]
        } else {
            vec!["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "GIVEN", "LANG", "PATH", "TZ"]
        };
        assert_eq!(names, expected);
    }

    #[tokio::test]
    async fn non_zero_exit_is_a_retriable_failure() {
        let outcome = run(&spec("echo boom >&2; exit 3"), b"{}").await;
        let failure = outcome.result.unwrap_err();
        assert_eq!(failure.code, "FunctionError");
        assert!(failure.retriable);
        assert!(failure.message.contains("exit code 3") && failure.message.contains("boom"), "{failure:?}");
    }

    #[tokio::test]
    async fn a_function_can_refuse_retries() {
        let outcome =
            run(&spec(r#"echo '{"errorType":"BadInput","errorMessage":"no","retriable":false}'; exit 1"#), b"{}").await;
        let failure = outcome.result.unwrap_err();
        assert_eq!((failure.code.as_str(), failure.message.as_str(), failure.retriable), ("BadInput", "no", false));
    }

    #[tokio::test]
    async fn non_json_output_is_not_retried() {
        let failure = run(&spec("echo not-json"), b"{}").await.result.unwrap_err();
        assert_eq!(failure.code, "InvalidResult");
        assert!(!failure.retriable);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survived");
        let mut s = spec(&format!("(sleep 2; touch {}) & sleep 30", marker.display()));
        s.timeout = Duration::from_millis(300);
        let outcome = run(&s, b"{}").await;
        assert_eq!(outcome.result.unwrap_err().code, "FunctionTimeout");
        assert!(outcome.duration < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!marker.exists(), "a grandchild outlived the timeout");
    }

    #[tokio::test]
    async fn a_timeout_kills_descendants_that_left_the_group_and_hold_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("escaped");
        let mut s = spec(&format!("setsid sh -c 'sleep 2; touch {}' & sleep 30", marker.display()));
        s.timeout = Duration::from_millis(500);
        let outcome = run(&s, b"{}").await;
        assert_eq!(outcome.result.unwrap_err().code, "FunctionTimeout");
        assert!(outcome.duration < Duration::from_secs(2), "{:?}", outcome.duration);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!marker.exists(), "a setsid descendant outlived the timeout");
    }

    #[tokio::test]
    async fn a_finished_function_leaves_nothing_behind() {
        if !trainyard_process::namespaces_available() {
            return; // without namespaces an escapee of a finished function is not found
        }
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("escaped");
        let s = spec(&format!("setsid sh -c 'sleep 2; touch {}' & echo '{{\"ok\":1}}'", marker.display()));
        let outcome = run(&s, b"{}").await;
        assert_eq!(outcome.result.unwrap(), serde_json::json!({"ok": 1}));
        assert!(outcome.duration < Duration::from_secs(1), "{:?}", outcome.duration);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!marker.exists(), "a setsid descendant outlived its function");
    }
}
