//! Lambda functions in real execution environments: the Python runtime client pulling
//! invocations from the Runtime API, warm state, Lambda's error shape, timeouts that kill,
//! a syntax error at init, a new code version, and a `provided` runtime in shell.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use trainyard_functions::lambda::{LambdaSpec, Lambdas, LambdasConfig};

fn python() -> Option<std::path::PathBuf> {
    std::env::var_os("TRAINYARD_PYTHON").map(Into::into)
}

/// The runtime string of the Python the tests use.
fn runtime() -> String {
    let python = python().unwrap_or_else(|| "python3".into());
    let out = std::process::Command::new(python)
        .args(["-c", "import sys; print('python%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn lambdas(dir: &Path, idle: Duration) -> Lambdas {
    lambdas_preloading(dir, idle, &["boto3"])
}

fn lambdas_preloading(dir: &Path, idle: Duration, preload: &[&str]) -> Lambdas {
    let preload = preload.iter().map(|m| m.to_string()).collect();
    Lambdas::new(LambdasConfig { runtime_dir: dir.join("runtime"), idle_timeout: idle, python: python(), preload })
        .unwrap()
}

fn spec(code: &Path, version: &str, handler: &str, timeout: Duration) -> LambdaSpec {
    LambdaSpec {
        function_name: "f".into(),
        function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
        runtime: runtime(),
        handler: handler.into(),
        code_dir: code.to_path_buf(),
        version: version.into(),
        environment: BTreeMap::from([("GREETING".to_string(), "hi".to_string())]),
        memory_mb: 128,
        timeout,
        role: None,
        concurrency: 4,
    }
}

const APP: &str = r#"
import os, time
CALLS = 0
def handler(event, context):
    global CALLS
    CALLS += 1
    print("log line", CALLS)
    if event.get("fail"):
        raise ValueError("asked to fail")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("unencodable"):
        return {1, 2}
    return {"calls": CALLS, "greeting": os.environ["GREETING"], "name": context.function_name,
            "aws_files": [os.environ.get("AWS_SHARED_CREDENTIALS_FILE"), os.environ.get("AWS_CONFIG_FILE")],
            "remaining": context.get_remaining_time_in_millis() > 0, "request": context.aws_request_id,
            "arn": context.invoked_function_arn, "event": event}
"#;

#[tokio::test]
async fn a_python_handler_stays_warm_and_fails_as_lambda_does() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("app.py"), APP).unwrap();
    let lambdas = lambdas(dir.path(), Duration::from_secs(60));
    let f = spec(&code, "v1", "app.handler", Duration::from_secs(2));

    let first = lambdas.invoke(&f, br#"{"x": 1}"#).await;
    let value = first.result.clone().unwrap();
    assert_eq!((value["calls"].as_i64(), &value["greeting"], &value["name"]), (Some(1), &json!("hi"), &json!("f")));
    assert_eq!((value["remaining"].as_bool(), &value["event"]), (Some(true), &json!({"x": 1})));
    assert!(value["arn"].as_str().unwrap().ends_with(":function:f"));
    assert_eq!(value["aws_files"], json!(["/dev/null", "/dev/null"]), "never the server user's ~/.aws files");
    assert!(first.logs.starts_with("START RequestId: "), "{}", first.logs);
    assert!(first.logs.contains("log line 1") && first.logs.contains("Init Duration"), "{}", first.logs);
    assert!(first.logs.contains("REPORT RequestId: ") && first.logs.contains("Memory Size: 128 MB"));

    // Warm: module-level state survives, no init.
    let second = lambdas.invoke(&f, b"{}").await;
    assert_eq!(second.result.clone().unwrap()["calls"], 2, "{}", second.logs);
    assert!(!second.logs.contains("Init Duration"), "{}", second.logs);
    assert_eq!(lambdas.warm("f"), 1);

    // An exception is Lambda's error shape, and the environment stays warm.
    let failed = lambdas.invoke(&f, br#"{"fail": true}"#).await;
    let error = failed.result.unwrap_err();
    assert_eq!(error.code, "ValueError");
    assert!(error.message.contains("asked to fail") && error.message.contains("stackTrace"), "{}", error.message);
    assert!(error.retriable, "the bus retries a handler's exception");
    assert!(failed.logs.contains("[ERROR] ValueError: asked to fail"), "{}", failed.logs);
    let unencodable = lambdas.invoke(&f, br#"{"unencodable": true}"#).await.result.unwrap_err();
    assert!(unencodable.message.contains("Unable to marshal response"), "{}", unencodable.message);
    assert_eq!(lambdas.invoke(&f, b"{}").await.result.unwrap()["calls"], 5, "still the same environment");

    // Past its timeout the environment is killed; the next invocation starts a new one.
    let slow = lambdas.invoke(&f, br#"{"sleep": 5}"#).await;
    assert_eq!(slow.result.unwrap_err().code, "FunctionTimeout");
    assert!(slow.duration < Duration::from_secs(4), "{:?}", slow.duration);
    let fresh = lambdas.invoke(&f, b"{}").await;
    assert_eq!(fresh.result.unwrap()["calls"], 1, "a new environment after the timeout");

    // A new code version drains the old environments.
    let code2 = dir.path().join("code2");
    std::fs::create_dir_all(&code2).unwrap();
    std::fs::write(code2.join("app.py"), "def handler(e, c):\n    return 'v2'\n").unwrap();
    let f2 = LambdaSpec { code_dir: code2, version: "v2".into(), ..f.clone() };
    assert_eq!(lambdas.invoke(&f2, b"{}").await.result.unwrap(), json!("v2"));
    assert_eq!(lambdas.warm("f"), 1);
}

const PRELOAD_PROBE: &str = r#"
import sys
PRELOADED = "boto3" in sys.modules
import os
def handler(event, context):
    return {"preloaded": PRELOADED, "greeting": os.environ["GREETING"], "name": context.function_name,
            "cwd": os.getcwd() == os.environ["LAMBDA_TASK_ROOT"]}
"#;

/// After a first cold start, the next one (of any function on that interpreter) takes a
/// runtime started ahead with boto3 imported, and runs as its own function; with nothing
/// to preload, cold starts start their interpreter.
#[tokio::test]
async fn cold_starts_take_a_preloaded_spare_runtime() {
    for (preload, expected) in [(&["boto3"][..], true), (&[][..], false)] {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path().join("code");
        std::fs::create_dir_all(&code).unwrap();
        std::fs::write(code.join("app.py"), PRELOAD_PROBE).unwrap();
        let lambdas = lambdas_preloading(dir.path(), Duration::from_secs(60), preload);
        let first = spec(&code, "v1", "app.handler", Duration::from_secs(10));
        assert_eq!(lambdas.invoke(&first, b"{}").await.result.unwrap()["preloaded"], false, "no spare yet");
        let mut second = LambdaSpec { function_name: "g".into(), ..first.clone() };
        second.environment.insert("GREETING".into(), "second".into());
        let value = lambdas.invoke(&second, b"{}").await.result.unwrap();
        assert_eq!(value["preloaded"], expected, "{preload:?}: {value}");
        assert_eq!((&value["greeting"], &value["name"], &value["cwd"]), (&json!("second"), &json!("g"), &json!(true)));
    }
}

#[tokio::test]
async fn init_errors_name_the_problem_and_idle_environments_are_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("broken.py"), "def handler(e, c)\n    return 1\n").unwrap();
    std::fs::write(code.join("ok.py"), "def handler(e, c):\n    return 1\n").unwrap();
    let lambdas = lambdas(dir.path(), Duration::from_millis(300));
    let broken = lambdas.invoke(&spec(&code, "v1", "broken.handler", Duration::from_secs(5)), b"{}").await;
    let error = broken.result.unwrap_err();
    assert_eq!(error.code, "Runtime.UserCodeSyntaxError", "{error:?}");
    let missing = lambdas.invoke(&spec(&code, "v1", "ok.nothing", Duration::from_secs(5)), b"{}").await;
    assert_eq!(missing.result.unwrap_err().code, "Runtime.HandlerNotFound");
    let absent = lambdas.invoke(&spec(&code, "v1", "absent.handler", Duration::from_secs(5)), b"{}").await;
    assert_eq!(absent.result.unwrap_err().code, "Runtime.ImportModuleError");
    assert_eq!(lambdas.warm("f"), 0, "a failed runtime is not kept");

    let ok = spec(&code, "v1", "ok.handler", Duration::from_secs(5));
    assert_eq!(lambdas.invoke(&ok, b"{}").await.result.unwrap(), json!(1));
    assert_eq!(lambdas.warm("f"), 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(lambdas.warm("f"), 0, "reclaimed after the idle timeout");
}

#[tokio::test]
async fn a_provided_runtime_speaks_the_runtime_api_itself() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir_all(&code).unwrap();
    let bootstrap = r#"#!/bin/sh
set -eu
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT="$(curl -sS -D "$HEADERS" "$API/invocation/next")"
  ID="$(grep -i '^lambda-runtime-aws-request-id:' "$HEADERS" | tr -d '\r' | cut -d' ' -f2)"
  curl -sS -X POST "$API/invocation/$ID/response" -d "{\"echo\": $EVENT, \"handler\": \"$_HANDLER\"}" >/dev/null
done
"#;
    std::fs::write(code.join("bootstrap"), bootstrap).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(code.join("bootstrap"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let lambdas = lambdas(dir.path(), Duration::from_secs(60));
    let f = LambdaSpec { runtime: "provided.al2023".into(), ..spec(&code, "v1", "my.handler", Duration::from_secs(5)) };
    let value: Value = lambdas.invoke(&f, br#"{"n": 7}"#).await.result.unwrap();
    assert_eq!(value, json!({"echo": {"n": 7}, "handler": "my.handler"}));
    let again: Value = lambdas.invoke(&f, br#"{"n": 8}"#).await.result.unwrap();
    assert_eq!(again["echo"]["n"], 8);
}

#[tokio::test]
async fn a_requirements_txt_gets_an_environment_once_per_version() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir_all(code.join("vendored_pkg")).unwrap();
    // A local package as the requirement: pip installs it without the network.
    std::fs::write(
        code.join("vendored_pkg/pyproject.toml"),
        "[project]\nname = \"trainyard-lambda-probe\"\nversion = \"1.0\"\n[tool.setuptools]\npy-modules = [\"probe\"]\n",
    )
    .unwrap();
    std::fs::write(code.join("vendored_pkg/probe.py"), "ANSWER = 42\n").unwrap();
    std::fs::write(code.join("requirements.txt"), "./vendored_pkg\n").unwrap();
    std::fs::write(
        code.join("app.py"),
        "import probe, sys\ndef handler(e, c):\n    return [probe.ANSWER, sys.prefix]\n",
    )
    .unwrap();
    let lambdas = lambdas(dir.path(), Duration::from_secs(60));
    let f = spec(&code, "v1", "app.handler", Duration::from_secs(120));
    let outcome = lambdas.invoke(&f, b"{}").await;
    let value = outcome.result.unwrap_or_else(|e| panic!("{e:?}\n{}", outcome.logs));
    assert_eq!(value[0], 42, "the requirement is importable: {value}");
    assert!(value[1].as_str().unwrap().contains("venvs"), "in the version's environment: {value}");
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("requirements.txt"), "./no-such-dir\n").unwrap();
    std::fs::write(broken.join("app.py"), "def handler(e, c):\n    return 1\n").unwrap();
    let failed = lambdas.invoke(&LambdaSpec { code_dir: broken, version: "v2".into(), ..f }, b"{}").await;
    assert_eq!(failed.result.unwrap_err().code, "Runtime.RequirementsFailed");
}
