//! Lambda-compatible functions through the real binary: a Python handler deployed with
//! `trainyard functions create --runtime --handler --code`, calling boto3 inside under its
//! role with no trainyard code, warm between invocations, and routed events.

use serde_json::Value;

use crate::process::{cli, stderr, stdout, ServerProcess};

/// The Lambda runtime of the Python the tests use (`python3.X`).
pub fn python_runtime() -> String {
    let python = std::env::var("TRAINYARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let version = std::process::Command::new(&python)
        .args(["-c", "import sys; print('python%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    String::from_utf8(version.stdout).unwrap().trim().to_string()
}

const HANDLER: &str = r#"
import json, os
import boto3

CALLS = 0

def lambda_handler(event, context):
    global CALLS
    CALLS += 1
    sts = boto3.client("sts")
    me = sts.get_caller_identity()["Arn"]
    try:
        boto3.client("events").create_event_bus(Name="not-mine")
        bus = "created"
    except Exception as e:
        bus = str(getattr(e, "response", {}).get("Error", {}).get("Code"))
    print("handled", CALLS)
    return {"me": me, "calls": CALLS, "bus": bus, "detail": event.get("detail"),
            "function": context.function_name, "region": os.environ["AWS_REGION"],
            "task_root": os.environ["LAMBDA_TASK_ROOT"] == os.getcwd()}
"#;

#[test]
fn a_python_handler_runs_under_its_role_with_plain_boto3() {
    let dir = tempfile::tempdir().unwrap();
    let code = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let run = |args: &[&str]| {
        let output = cli(dir.path(), args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    std::fs::write(code.path().join("app.py"), HANDLER).unwrap();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    run(&["iam", "roles", "create", "reader-fn", "--trust-policy", trust]);
    let policy =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}"#;
    run(&["iam", "put-policy", "--role", "reader-fn", "--name", "who", "--document", policy]);
    let runtime = python_runtime();
    let code_dir = code.path().to_str().unwrap();
    run(&[
        "functions",
        "create",
        "who",
        "--runtime",
        &runtime,
        "--handler",
        "app.lambda_handler",
        "--code",
        code_dir,
        "--role",
        "reader-fn",
        "--timeout",
        "30s",
    ]);
    let invoke = || -> Value {
        let out = run(&["functions", "invoke", "who", "--event", r#"{"detail": {"n": 1}}"#, "-o", "json"]);
        serde_json::from_str::<Value>(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))["Payload"].clone()
    };
    let first = invoke();
    assert_eq!(first["me"], "arn:aws:sts::000000000000:assumed-role/reader-fn/who", "{first}");
    assert_eq!(first["bus"], "AccessDeniedException", "outside its role: {first}");
    assert_eq!(
        (&first["function"], &first["region"], &first["task_root"]),
        (&"who".into(), &"us-east-1".into(), &true.into())
    );
    assert_eq!(first["detail"]["n"], 1, "{first}");
    assert_eq!(invoke()["calls"], 2, "the environment stayed warm");
    let logs = run(&["functions", "logs", "who", "-o", "json"]);
    assert!(logs.contains("REPORT RequestId") && logs.contains("handled 2"), "{logs}");
    // `functions logs -f` prints what is there, then each new invocation as it happens.
    let mut follow = std::process::Command::new(crate::process::binary())
        .args(["functions", "logs", "who", "-f"])
        .env("TRAINYARD_DATA_DIR", dir.path())
        .env_remove("TRAINYARD_ENDPOINT")
        .env_remove("TRAINYARD_TOKEN")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = follow.id();
    // A watchdog: the follower never outlives the test's patience.
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(30));
        let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
    });
    invoke();
    let reader = std::io::BufReader::new(follow.stdout.take().unwrap());
    let mut seen = Vec::new();
    for line in std::io::BufRead::lines(reader) {
        let line = line.unwrap();
        let done = line.contains("handled 3");
        seen.push(line);
        if done {
            break;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(seen.iter().any(|l| l.contains("handled 1")) && seen.iter().any(|l| l.starts_with("REPORT")), "{seen:?}");

    // A bad handler is refused at create, nothing stored.
    let refused = cli(
        dir.path(),
        &["functions", "create", "bad", "--runtime", &runtime, "--handler", "nothere.handler", "--code", code_dir],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("no module nothere"), "{}", stderr(&refused));
    let missing_runtime =
        cli(dir.path(), &["functions", "create", "bad", "--runtime", "python2.7", "--code", code_dir]);
    assert_eq!(missing_runtime.status.code(), Some(2));
    assert!(stderr(&missing_runtime).contains("python2.7"), "{}", stderr(&missing_runtime));
}

/// AWS Lambda's API with plain boto3: create from a zip, invoke every way, warm state,
/// updates picked up by the next invocation, Lambda's error document, bad code refused.
#[test]
fn boto3_manages_and_invokes_lambda_functions() {
    let dir = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let output = cli(dir.path(), &["aws", "env"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let exports = stdout(&output);
    let runtime = python_runtime();
    let r = crate::aws::boto3_script("lambda_check", &[runtime.as_str()], &exports);
    assert_eq!(r["created"], serde_json::json!(["counter", runtime, "app.handler", 256, "Active"]), "{r}");
    assert_eq!(
        (r["first"]["count"].as_i64(), &r["first"]["stage"], r["status"].as_i64()),
        (Some(1), &"dev".into(), Some(200))
    );
    assert_eq!(r["first"]["event"]["n"], 1, "{r}");
    assert_eq!(r["second"], 2, "module state survives a warm invocation: {r}");
    let tail = r["tail"].as_str().unwrap();
    assert!(
        tail.contains("seen 2") && tail.contains("REPORT RequestId") && tail.contains("Memory Size: 256 MB"),
        "{tail}"
    );
    assert_eq!(r["function_error"], "Unhandled", "{r}");
    assert_eq!(
        (&r["error"]["errorType"], &r["error"]["errorMessage"]),
        (&"RuntimeError".into(), &"boom requested".into())
    );
    assert!(r["error"]["stackTrace"].as_array().is_some_and(|t| !t.is_empty()), "{r}");
    assert_eq!((r["event"].as_i64(), r["dry_run"].as_i64()), (Some(202), Some(204)), "{r}");
    assert_eq!(r["reconfigured"], "prod", "a configuration change reaches the next invocation: {r}");
    assert_eq!(r["updated"], 2, "new code reaches the next invocation: {r}");
    assert_eq!(r["described"], true, "{r}");
    assert!(r["listed"].as_array().unwrap().iter().any(|f| f == "counter"), "{r}");
    assert_eq!(r["permission"], serde_json::json!({"Service": "events.amazonaws.com"}), "{r}");
    assert_eq!(r["policy"], "events-rule_1", "a resource policy's statement ids take - and _: {r}");
    assert_eq!(r["duplicate"], "ResourceConflictException", "{r}");
    assert_eq!(
        (&r["escape"], &r["no_handler"]),
        (&"InvalidParameterValueException".into(), &"InvalidParameterValueException".into())
    );
    assert_eq!(r["syntax"], serde_json::json!(["Unhandled", "Runtime.UserCodeSyntaxError"]), "{r}");
    assert_eq!(r["deleted"], "ResourceNotFoundException", "{r}");
    assert_eq!(r["vendored"], "vendored", "a function's own boto3 wins over the preloaded one: {r}");
    assert_eq!(r["flagged"], 1, "PYTHON* variables reach the interpreter: {r}");
    assert_eq!((r["concurrency"].as_i64(), r["concurrency_back"].as_i64()), (Some(2), Some(2)), "{r}");
    assert!(r["concurrency_gone"].is_null(), "{r}");
    assert!(r["log_groups"].as_array().unwrap().iter().any(|g| g == "/aws/lambda/counter"), "{r}");
    assert!(r["log_reports"].as_i64().unwrap() >= 6, "every invocation's REPORT line in /aws/lambda/counter: {r}");
    assert_eq!(r["log_filtered"], true, "{r}");
}

/// The seed's five handlers as Lambda functions (`examples/seed-lambdas`), deployed with
/// boto3 only, run the loop: new data → training → evaluation → registration → endpoint →
/// prediction; an image push → the same with the image; new data → retraining →
/// redeployment; each handler under its own role.
#[test]
fn the_seed_lambdas_run_the_loop_under_their_roles() {
    let dir = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let output = cli(dir.path(), &["aws", "env"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let exports = stdout(&output);
    let example = format!("{}/../../examples/seed-lambdas", env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("TRAINYARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let run = |script: &str| {
        let mut command = std::process::Command::new(&python);
        command.args(script.split(' ')).current_dir(&example);
        for line in exports.lines().filter(|l| l.starts_with("export ")) {
            let (name, value) = line.trim_start_matches("export ").split_once('=').unwrap();
            command.env(name, value);
        }
        let output = command.output().unwrap();
        let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{script}:\n{out}\n{err}");
        out.to_string()
    };
    run("deploy.py");
    let followed = run("run_loop.py");
    assert!(followed.contains("InService") && followed.contains("prediction for"), "{followed}");
    // An image pushed to the repository (as the example's README has it): trained by
    // trigger_model_training, evaluated, registered, deployed as a second version.
    let mut follow = std::process::Command::new(&python);
    follow.args(["run_loop.py", "--follow"]).current_dir(&example).stdout(std::process::Stdio::piped());
    for line in exports.lines().filter(|l| l.starts_with("export ")) {
        let (name, value) = line.trim_start_matches("export ").split_once('=').unwrap();
        follow.env(name, value);
    }
    let follower = follow.spawn().unwrap();
    // The follower follows runs that start after it has: give it time to start.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("README"), "the quickstart's image: the built-in gbdt\n").unwrap();
    let context_dir = context.path().to_str().unwrap();
    let pushed = cli(
        dir.path(),
        &["build", context_dir, "--entrypoint", "trainyard algorithm gbdt", "--repo", "churn", "--tag", "v1", "--push"],
    );
    assert_eq!(pushed.status.code(), Some(0), "{}", stderr(&pushed));
    let output = follower.wait_with_output().unwrap();
    let pushed_run = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{pushed_run}");
    assert!(pushed_run.contains("churn@sha256:"), "trained on the pushed image: {pushed_run}");
    assert!(pushed_run.contains("InService on churn-v2") && pushed_run.contains("prediction for"), "{pushed_run}");
    // New data: retraining, a third version registered, the endpoint moved to it.
    let retrained = run("run_loop.py --part 2");
    assert!(retrained.contains("InService on churn-v3") && retrained.contains("prediction for"), "{retrained}");
    let trail = stdout(&cli(dir.path(), &["audit", "list", "--limit", "2000", "-o", "json"]));
    for role in [
        "trigger-model-training",
        "retrain-model-on-new-data",
        "evaluate-model-function",
        "register-model-in-registry",
        "deploy-sagemaker-model",
    ] {
        let session = format!("assumed-role/churn-{role}/");
        assert!(trail.lines().any(|l| l.contains(&session)), "{role}'s calls are in the trail as its role's session");
    }
}

/// A handler's exception and a handler past its timeout, as rule targets: each attempt is
/// retried by the bus as its retry policy says, then dead-lettered with Lambda's error.
#[test]
fn failing_handlers_are_retried_then_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let run = |args: &[&str]| {
        let output = cli(dir.path(), args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    let exports = run(&["aws", "env"]);
    let runtime = python_runtime();
    let put = crate::aws::boto3_script("lambda_retries", &[runtime.as_str()], &exports);
    assert_eq!(put["put"], 0, "{put}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let dead = loop {
        let dead = run(&["dlq", "list", "-o", "json"]);
        if (dead.contains("KeyError") && dead.contains("FunctionTimeout")) || std::time::Instant::now() > deadline {
            break dead;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    assert!(dead.contains("KeyError") && dead.contains("no such order"), "Lambda's error, dead-lettered: {dead}");
    assert!(dead.contains("FunctionTimeout"), "the timed-out handler, dead-lettered: {dead}");
    for function in ["raises", "sleeps"] {
        let logs = run(&["functions", "logs", function, "-o", "json"]);
        let attempts = logs.matches("REPORT RequestId").count();
        assert_eq!(attempts, 2, "{function}: the first attempt and one retry: {logs}");
    }
}
