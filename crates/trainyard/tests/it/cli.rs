use serde_json::Value;

use crate::process::{cli, stderr, stdout, ServerProcess};

#[test]
fn test_pattern_works_offline_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let yes = cli(
        dir.path(),
        &[
            "events",
            "test-pattern",
            "--pattern",
            r#"{"detail":{"x":[{"prefix":"ab"}]}}"#,
            "--event",
            r#"{"detail":{"x":"abc"}}"#,
        ],
    );
    assert_eq!((yes.status.code(), stdout(&yes).trim()), (Some(0), "true"), "{}", stderr(&yes));
    let no = cli(
        dir.path(),
        &["events", "test-pattern", "--pattern", r#"{"detail":{"x":["zz"]}}"#, "--event", r#"{"detail":{"x":"abc"}}"#],
    );
    assert_eq!((no.status.code(), stdout(&no).trim()), (Some(0), "false"));
    let bad = cli(dir.path(), &["events", "test-pattern", "--pattern", r#"{"detail":{"x":"abc"}}"#, "--event", "{}"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("detail.x"), "{}", stderr(&bad));
    let bad_event = cli(dir.path(), &["events", "test-pattern", "--pattern", r#"{"a":[1]}"#, "--event", "[1"]);
    assert_eq!(bad_event.status.code(), Some(2));
    assert!(stderr(&bad_event).contains("--event"), "{}", stderr(&bad_event));
    let usage = cli(dir.path(), &["events", "test-pattern"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn a_server_that_is_down_is_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(crate::process::binary())
        .args(["rules", "list", "--endpoint", "http://127.0.0.1:9"])
        .env("TRAINYARD_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot reach"), "{}", stderr(&output));
}

#[test]
fn the_cli_drives_the_bus_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path());
    let run = |args: &[&str]| {
        let output = cli(dir.path(), args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    run(&["functions", "create", "collect", "--command", "cat; echo got-it >&2", "--timeout", "10s"]);
    run(&["rules", "create", "orders", "--pattern", r#"{"source":["shop"]}"#]);
    run(&["rules", "targets", "add", "orders", "--function", "collect", "--input-path", "$.detail"]);
    let id = run(&["events", "put", "--source", "shop", "--detail-type", "Order", "--detail", r#"{"total": 3}"#]);
    let id = id.trim();
    assert_eq!(id.len(), 36, "an event id: {id}");

    let mut described = Value::Null;
    for _ in 0..200 {
        described = serde_json::from_str(&run(&["events", "describe", id, "--output", "json"])).unwrap();
        if described["Deliveries"][0]["State"] == "succeeded" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert_eq!(described["Deliveries"][0]["State"], "succeeded", "{described}");
    assert!(run(&["functions", "logs", "collect"]).contains("got-it"));

    let table = run(&["rules", "list"]);
    insta::assert_snapshot!("rules_list_table", table);
    // API calls are on the bus too (as CloudTrail puts them on EventBridge): list ours.
    let listed: Value =
        serde_json::from_str(&run(&["events", "list", "--source", "shop", "--output", "json"])).unwrap();
    assert_eq!(listed["Events"][0]["Event"]["id"], id);

    // `events tail` follows: a new event appears on its output.
    let mut tail = std::process::Command::new(crate::process::binary())
        .args(["events", "tail", "--output", "json"])
        .env("TRAINYARD_DATA_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let followed = run(&["events", "put", "--source", "late.app", "--detail-type", "Late", "--detail", "{}"]);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(tail.stdout.take().unwrap()), &mut line).unwrap();
    tail.kill().unwrap();
    let _ = tail.wait();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["id"], followed.trim());
    assert_eq!(event["source"], "late.app");

    // Validation errors are exit 2 and say what was wrong.
    let bad = cli(dir.path(), &["rules", "create", "bad", "--pattern", r#"{"source":"shop"}"#]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("InvalidEventPatternException") && stderr(&bad).contains("source"),
        "{}",
        stderr(&bad)
    );
    let reserved = cli(dir.path(), &["events", "put", "--source", "aws.s3", "--detail-type", "x", "--detail", "{}"]);
    assert_eq!(reserved.status.code(), Some(2));
    assert!(stderr(&reserved).contains("reserved"), "{}", stderr(&reserved));
    let wrong_token = std::process::Command::new(crate::process::binary())
        .args(["rules", "list", "--token", "nope"])
        .env("TRAINYARD_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(wrong_token.status.code(), Some(2));
    assert!(stderr(&wrong_token).contains("InvalidClientTokenId"));

    // Graceful shutdown on SIGTERM.
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(!dir.path().join("server.url").exists());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("admin.token")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn bad_configuration_is_reported_whole_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("trainyard.toml"), "listen = \"nowhere\"\ncolour = 1\n").unwrap();
    let output = cli(dir.path(), &["server"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("colour"), "{err}");
}
