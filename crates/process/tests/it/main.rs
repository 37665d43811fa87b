//! Contained process trees with real processes: escaped descendants (`setsid`, pipes held
//! open) die with the command, signals and exit codes pass through, and the `/proc`
//! fallback finds what left the process group.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use trainyard_process::{contain, descendants, kill_tree, namespaces_available};

/// A shell command, contained, in its own process group, with piped stdio.
fn contained(script: &str) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    contain(&mut command);
    command
}

/// A detached grandchild that would create `marker` after a while.
fn escapee(marker: &Path, seconds: u32) -> String {
    format!("setsid sh -c 'sleep {seconds}; touch {}' &", marker.display())
}

#[test]
fn namespaces_are_available_to_root() {
    if nix::unistd::geteuid().is_root() {
        assert!(namespaces_available(), "root can always make a PID namespace");
    }
}

#[tokio::test]
async fn an_escaped_descendant_dies_when_the_command_exits() {
    if !namespaces_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("escaped");
    let started = Instant::now();
    let mut child = contained(&format!("{} echo done", escapee(&marker, 2))).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut text = String::new();
    // The escapee holds stdout open; EOF comes only because it died with the command.
    tokio::time::timeout(Duration::from_secs(1), stdout.read_to_string(&mut text)).await.unwrap().unwrap();
    assert_eq!(text, "done\n");
    assert!(child.wait().await.unwrap().success());
    assert!(started.elapsed() < Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!marker.exists(), "a setsid descendant outlived its command");
}

#[tokio::test]
async fn killing_the_top_process_kills_the_whole_tree() {
    if !namespaces_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("escaped");
    let mut child = contained(&format!("{} sleep 30", escapee(&marker, 2))).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().await.unwrap();
    let mut text = String::new();
    let mut stdout = child.stdout.take().unwrap();
    tokio::time::timeout(Duration::from_secs(1), stdout.read_to_string(&mut text)).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!marker.exists(), "a setsid descendant outlived the kill");
}

#[tokio::test]
async fn stdio_exit_codes_and_signals_pass_through() {
    let mut child = contained("read x; echo \"got $x\"; echo oops >&2; exit 3").spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"hi\n").await.unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(output.stdout, b"got hi\n");
    assert_eq!(output.stderr, b"oops\n");

    // SIGTERM to the group reaches the command, which may act on it.
    let mut child =
        contained("trap 'echo term; exit 5' TERM; echo ready; while :; do sleep 0.05; done").spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut ready = [0u8; 6];
    stdout.read_exact(&mut ready).await.unwrap();
    let group = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(5));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    assert_eq!(rest, "term\n");

    // A command that cannot be run is a spawn error, as it would be uncontained.
    let mut missing = Command::new("/nonexistent/program");
    contain(&mut missing);
    assert!(missing.spawn().is_err());
}

#[tokio::test]
async fn kill_tree_finds_descendants_that_left_the_group() {
    // Uncontained: the fallback where namespaces are not available.
    let mut child = Command::new("/bin/sh")
        .args(["-c", "setsid sleep 30 & sleep 30"])
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while descendants(pid).len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let found = descendants(pid);
    assert_eq!(found.len(), 2, "{found:?}");
    kill_tree(pid);
    child.wait().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for pid in found {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for init to reap it.
        assert!(state.is_empty() || state.contains(") Z "), "{pid} still runs: {state}");
    }
}
