//! Identity from the command line, as a team would use it: a user with a key saved as a
//! profile, calls denied until a policy allows them, a role assumed into a session, the
//! simulator, the audit trail, and no secret left in the data directory.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::process::{cli, stderr, stdout, ServerProcess};

/// The CLI as a user on another machine: no data directory to find the admin token in,
/// only the credentials file.
fn as_user(home: &Path, args: &[&str]) -> Output {
    Command::new(crate::process::binary())
        .args(args)
        .env("TRAINYARD_DATA_DIR", home.join("no-data-dir"))
        .env("TRAINYARD_CREDENTIALS_FILE", home.join("credentials"))
        .env_remove("TRAINYARD_ENDPOINT")
        .env_remove("TRAINYARD_TOKEN")
        .env_remove("TRAINYARD_PROFILE")
        .output()
        .expect("run the CLI")
}

#[test]
fn a_team_member_gets_least_privilege_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("server.log");
    let mut server = ServerProcess::start_logged(dir.path(), &log);
    let admin = |args: &[&str]| {
        let output = Command::new(crate::process::binary())
            .args(args)
            .env("TRAINYARD_DATA_DIR", dir.path())
            .env("TRAINYARD_CREDENTIALS_FILE", home.path().join("credentials"))
            .env_remove("TRAINYARD_ENDPOINT")
            .env_remove("TRAINYARD_TOKEN")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    admin(&["iam", "users", "create", "alice", "--tag", "team=a"]);
    let created: Value =
        serde_json::from_str(&admin(&["iam", "keys", "create", "--user", "alice", "--save-profile", "alice"])).unwrap();
    let secret = created["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string();
    assert!(secret.starts_with("tyk_"));
    let mode = std::fs::metadata(home.path().join("credentials")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the credentials file is private");

    let whoami = as_user(home.path(), &["whoami", "--profile", "alice"]);
    assert_eq!(whoami.status.code(), Some(0), "{}", stderr(&whoami));
    assert!(stdout(&whoami).contains("arn:aws:iam::000000000000:user/alice"), "{}", stdout(&whoami));

    let denied = as_user(home.path(), &["rules", "list", "--profile", "alice"]);
    assert_eq!(denied.status.code(), Some(2));
    assert!(
        stderr(&denied).contains("AccessDenied") && stderr(&denied).contains("events:ListRules"),
        "{}",
        stderr(&denied)
    );
    admin(&["iam", "attach", "--user", "alice", "--policy", "ReadOnlyAccess"]);
    let allowed = as_user(home.path(), &["rules", "list", "--profile", "alice"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    let write = as_user(home.path(), &["buses", "create", "team-bus", "--profile", "alice"]);
    assert_eq!(write.status.code(), Some(2), "read-only cannot create");

    let simulated = admin(&[
        "iam",
        "simulate",
        "--principal",
        "arn:aws:iam::000000000000:user/alice",
        "--action",
        "events:PutRule",
        "--action",
        "events:ListRules",
        "-o",
        "json",
    ]);
    let simulated: Value = serde_json::from_str(&simulated).unwrap();
    assert_eq!(simulated["EvaluationResults"][0]["EvalDecision"], "implicitDeny");
    assert_eq!(simulated["EvaluationResults"][1]["EvalDecision"], "allowed");

    // A role alice may assume, into a session saved as a profile.
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"sts:AssumeRole"}]}"#;
    admin(&["iam", "roles", "create", "builder", "--trust-policy", trust]);
    admin(&["iam", "attach", "--role", "builder", "--policy", "AmazonEventBridgeFullAccess"]);
    let assumed = as_user(
        home.path(),
        &[
            "sts",
            "assume-role",
            "--role",
            "builder",
            "--session-name",
            "alice-1",
            "--save-profile",
            "builder",
            "--profile",
            "alice",
        ],
    );
    assert_eq!(assumed.status.code(), Some(0), "{}", stderr(&assumed));
    let session = as_user(home.path(), &["whoami", "--profile", "builder"]);
    assert!(stdout(&session).contains("assumed-role/builder/alice-1"), "{}", stdout(&session));
    let create = as_user(home.path(), &["buses", "create", "team-bus", "--profile", "builder"]);
    assert_eq!(create.status.code(), Some(0), "{}", stderr(&create));

    // The trail has alice's denial and the session she was issued.
    let trail = admin(&["audit", "list", "--denied", "-o", "json"]);
    assert!(trail.lines().any(|l| l.contains("ListRules") && l.contains("user/alice")), "{trail}");
    let all = admin(&["audit", "list", "--limit", "500", "-o", "json"]);
    assert!(all.contains("\"eventName\":\"AssumeRole\""), "{all}");
    assert!(all.contains("\"eventName\":\"CreateEventBus\"") && all.contains("assumed-role/builder/alice-1"));

    // API calls are events on the bus, as CloudTrail puts them on EventBridge.
    let trail_events = admin(&["events", "list", "--source", "aws.iam", "-o", "json"]);
    assert!(
        trail_events.contains("AWS API Call via CloudTrail") && trail_events.contains("CreateUser"),
        "{trail_events}"
    );

    // No secret anywhere in the data directory (database, WAL, logs).
    let session_token = std::fs::read_to_string(home.path().join("credentials"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("aws_session_token = ").map(str::to_string))
        .unwrap();
    server.terminate();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("DEBUG") || logged.contains("debug"), "the server logged at debug level");
    for needle in [&secret, &session_token] {
        assert!(!logged.contains(needle.as_str()), "a secret is in the server's log");
    }
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for needle in [&secret, &session_token] {
            assert!(!text.contains(needle.as_str()), "a secret is in {}", entry.display());
        }
    }
    let missing = cli(home.path(), &["whoami", "--profile", "nobody"]);
    assert_eq!(missing.status.code(), Some(2));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A function with a role runs with a fresh session of it: it can do what the role may
/// (start a training job of its team), not more (create a bus, pass a stronger role), and
/// its credentials stop working when the invocation ends.
#[test]
fn a_function_runs_as_its_role_and_its_session_ends_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let run = |args: &[&str]| {
        let output = cli(dir.path(), args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    let lambda = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let sagemaker = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    run(&["iam", "roles", "create", "fn-trainer", "--trust-policy", lambda]);
    run(&["iam", "roles", "create", "team-exec", "--trust-policy", sagemaker]);
    run(&["iam", "roles", "create", "admin-exec", "--trust-policy", sagemaker]);
    run(&["iam", "attach", "--role", "admin-exec", "--policy", "AdministratorAccess"]);
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["sagemaker:CreateTrainingJob","sagemaker:DescribeTrainingJob"],"Resource":"arn:aws:sagemaker:local:000000000000:training-job/team-*"},
        {"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"},
        {"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::000000000000:role/team-exec",
         "Condition":{"StringEquals":{"iam:PassedToService":"sagemaker.amazonaws.com"}}}]}"#;
    run(&["iam", "put-policy", "--role", "fn-trainer", "--name", "train", "--document", policy]);

    let binary = crate::process::binary();
    let job = |name: &str, role: &str| {
        format!(
            r#"{{"TrainingJobName":"{name}","RoleArn":"arn:aws:iam::000000000000:role/{role}","AlgorithmSpecification":{{"AlgorithmName":"linear-learner","TrainingInputMode":"File"}},"InputDataConfig":[{{"ChannelName":"train","DataSource":{{"S3DataSource":{{"S3DataType":"S3Prefix","S3Uri":"s3://none/train/"}}}}}}],"OutputDataConfig":{{"S3OutputPath":"s3://none/out"}}}}"#
        )
    };
    std::fs::write(scratch.path().join("ok.json"), job("team-1", "team-exec")).unwrap();
    std::fs::write(scratch.path().join("stronger.json"), job("team-2", "admin-exec")).unwrap();
    // The function records what each call answered (exit codes) and keeps its token in a
    // file outside the data directory, to try it after the invocation.
    let script = format!(
        r#"cd {scratch}; echo "$TRAINYARD_SESSION_TOKEN" > token; test -n "$AWS_SECRET_ACCESS_KEY" || exit 9
{binary} whoami -o json > me.json; who=$?
{binary} jobs create-training --file ok.json >/dev/null 2>ok.err; ok=$?
{binary} jobs create-training --file stronger.json >/dev/null 2>stronger.err; stronger=$?
{binary} buses create not-mine >/dev/null 2>bus.err; bus=$?
echo "{{\"who\": $who, \"ok\": $ok, \"stronger\": $stronger, \"bus\": $bus}}""#,
        scratch = scratch.path().display()
    );
    run(&["functions", "create", "trainer-fn", "--command", &script, "--role", "fn-trainer", "--timeout", "60s"]);
    let result = run(&["functions", "invoke", "trainer-fn", "-o", "json"]);
    let result: Value = serde_json::from_str(result.trim()).unwrap_or_else(|e| panic!("{e}: {result}"));
    let result = result["Payload"].clone();
    assert_eq!(result["who"], 0, "{result}");
    let me: Value = serde_json::from_str(&std::fs::read_to_string(scratch.path().join("me.json")).unwrap()).unwrap();
    assert_eq!(me["Arn"], "arn:aws:sts::000000000000:assumed-role/fn-trainer/trainer-fn");
    let err = |name: &str| std::fs::read_to_string(scratch.path().join(name)).unwrap_or_default();
    assert_eq!(result["ok"], 0, "its role may start team jobs: {}", err("ok.err"));
    assert_eq!(result["stronger"], 2, "it may not pass a stronger role");
    assert!(err("stronger.err").contains("iam:PassRole"), "{}", err("stronger.err"));
    assert_eq!(result["bus"], 2, "it may not create a bus");

    // The session ended with the invocation.
    let token = std::fs::read_to_string(scratch.path().join("token")).unwrap();
    let after = Command::new(crate::process::binary())
        .args(["whoami"])
        .env("TRAINYARD_DATA_DIR", scratch.path().join("none"))
        .env("TRAINYARD_TOKEN", token.trim())
        .env("TRAINYARD_ENDPOINT", &_server.url)
        .output()
        .unwrap();
    assert_eq!(after.status.code(), Some(2));
    assert!(stderr(&after).contains("InvalidClientTokenId"), "{}", stderr(&after));
    // Creating a function with a role it may not pass: refused (root may, but the role
    // must trust Lambda).
    let wrong = cli(dir.path(), &["functions", "create", "f2", "--command", "echo {}", "--role", "team-exec"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("does not allow lambda.amazonaws.com"), "{}", stderr(&wrong));
}
