//! The AWS facade's acceptance runs, against the real server: a plain boto3 script of the
//! whole SageMaker loop (`tests/aws/acceptance.py`) and the SageMaker Python SDK v2
//! (`tests/aws/sdk_sklearn.py`), both unchanged code written for AWS, with every answer
//! checked against botocore's output shape for its operation.

use std::process::Command;

use crate::process::{cli, stderr, stdout, ServerProcess};

/// Runs `tests/aws/NAME.py` in the environment `trainyard aws env` printed plus `env`; its
/// closing `N passed, N failed` line.
fn acceptance_script(name: &str, exports: &str, env: &[(&str, &str)]) -> String {
    let python = std::env::var("TRAINYARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut script = Command::new(python);
    script.arg(format!("{}/../../tests/aws/{name}.py", env!("CARGO_MANIFEST_DIR")));
    for line in exports.lines().filter(|l| l.starts_with("export ")) {
        let (name, value) = line.trim_start_matches("export ").split_once('=').unwrap();
        script.env(name, value);
    }
    script.envs(env.iter().copied());
    let output = script.output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{name}:\n{out}\n{}", String::from_utf8_lossy(&output.stderr));
    let closing = out.lines().rev().find(|l| l.contains(" passed, ")).unwrap_or_default().to_string();
    assert!(closing.contains(" 0 failed"), "{name}: {closing}\n{out}");
    closing
}

#[test]
fn plain_boto3_runs_the_sagemaker_loop_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let run = |args: &[&str]| {
        let output = cli(dir.path(), args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    let got = scratch.path().join("got.json");
    let command = format!("cat > {0}.tmp && mv {0}.tmp {0}; echo {{}}", got.display());
    run(&["functions", "create", "acceptance-target", "--command", &command]);
    let exports = run(&["aws", "env"]);
    let closing = acceptance_script("acceptance", &exports, &[("ACCEPTANCE_FUNCTION", "acceptance-target")]);
    let passed: usize = closing.split_whitespace().next().unwrap().parse().unwrap();
    assert!(passed >= 50, "every step ran: {closing}");
    // The rule's target got the event put through EventBridge.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !got.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&got).unwrap()).unwrap();
    assert_eq!(event["detail-type"], "Acceptance", "{event}");
    // Everything the script made through the facade is there through trainyard's own API.
    let endpoints = run(&["endpoints", "list", "-o", "json"]);
    assert!(!endpoints.contains("acceptance"), "the endpoint was deleted: {endpoints}");
    let jobs = run(&["jobs", "list", "-o", "json"]);
    assert!(jobs.contains("Completed"), "{jobs}");
}

#[test]
fn the_sagemaker_sdk_fits_deploys_and_predicts_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let output = cli(dir.path(), &["aws", "env"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let closing = acceptance_script("sdk_sklearn", &stdout(&output), &[]);
    let passed: usize = closing.split_whitespace().next().unwrap().parse().unwrap();
    assert!(passed >= 20, "{closing}");
}
