//! The AWS endpoint with real AWS clients: boto3 signs with SigV4 and the server verifies,
//! authenticates and answers in the protocol's shape.

use std::process::Command;

use serde_json::Value;

use crate::process::{cli, stderr, stdout, ServerProcess};

fn python() -> String {
    std::env::var("TRAINYARD_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[test]
fn boto3_signs_and_the_server_verifies_sts_calls() {
    let dir = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let run = |args: &[&str]| {
        let output = cli(dir.path(), args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    let endpoint = std::fs::read_to_string(dir.path().join("aws.url")).unwrap();
    run(&["iam", "users", "create", "dev"]);
    let key: Value = serde_json::from_str(&run(&["iam", "keys", "create", "--user", "dev"])).unwrap();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/dev"},"Action":"sts:AssumeRole"}]}"#;
    run(&["iam", "roles", "create", "dev-role", "--trust-policy", trust]);

    // `trainyard aws env` prints root's session for every AWS client in a shell.
    let exports = run(&["aws", "env"]);
    assert!(exports.contains("export AWS_ENDPOINT_URL=http://127.0.0.1:"), "{exports}");
    let results = boto3_script(
        "sts_check",
        &[
            endpoint.trim(),
            key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
            key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
            "arn:aws:iam::000000000000:role/dev-role",
        ],
        &exports,
    );
    assert_eq!(results["user"], "arn:aws:iam::000000000000:user/dev", "{results}");
    assert_eq!(results["session"], "arn:aws:sts::000000000000:assumed-role/dev-role/boto-1", "{results}");
    assert_eq!(results["root"], "arn:aws:iam::000000000000:root", "{results}");
    assert_eq!(results["wrong_secret"], "SignatureDoesNotMatch", "{results}");
    assert_eq!(results["unknown_key"], "InvalidClientTokenId", "{results}");
    assert_eq!(results["session_without_token"], "InvalidClientTokenId", "{results}");
    assert_eq!(results["unknown_action"], "InvalidAction", "{results}");

    // `aws env --user` (root): a session that is the user, with the user's policies only.
    let exports = run(&["aws", "env", "--user", "dev"]);
    let who = boto3_script::<&str>("whoami", &[], &exports);
    assert_eq!(who["arn"], "arn:aws:iam::000000000000:user/dev", "{who}");
    assert_eq!(who["list_buckets"], "AccessDenied", "the user's policies, nothing more: {who}");
    let missing = cli(dir.path(), &["aws", "env", "--user", "nobody"]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
}

/// A training job with plain boto3: the SDK's waiter polls `DescribeTrainingJob` until the
/// built-in algorithm has trained; a key allowed only `Describe*` is refused the create.
#[test]
fn boto3_trains_a_model_and_policies_apply() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let run = |args: &[&str]| {
        let output = cli(dir.path(), args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    std::fs::create_dir_all(work.path().join("train")).unwrap();
    crate::jobs::write_csv(&work.path().join("train/part-0.csv"), 400, 1, 1.5);
    run(&["data", "mb", "s3://ml-data"]);
    run(&["data", "put", work.path().join("train").to_str().unwrap(), "s3://ml-data/blobs/train/"]);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    run(&["iam", "roles", "create", "sm-exec", "--trust-policy", trust]);
    run(&["iam", "users", "create", "reader"]);
    let describe_only =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sagemaker:Describe*","Resource":"*"}]}"#;
    run(&["iam", "put-policy", "--user", "reader", "--name", "describe", "--document", describe_only]);
    let key: Value = serde_json::from_str(&run(&["iam", "keys", "create", "--user", "reader"])).unwrap();
    let exports = run(&["aws", "env"]);
    let results = boto3_script(
        "sagemaker_check",
        &[
            "arn:aws:iam::000000000000:role/sm-exec",
            key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
            key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
        ],
        &exports,
    );
    assert_eq!(results["status"], "Completed", "{results}");
    assert_eq!(results["arn"], "arn:aws:sagemaker:local:000000000000:training-job/boto-gbdt", "{results}");
    assert!(results["model"].as_str().unwrap().starts_with("s3://ml-data/models/boto-gbdt"), "{results}");
    assert_eq!(results["reader_create"], "AccessDeniedException", "{results}");
    assert_eq!(results["reader_describe"], "Completed", "{results}");
    assert!(results["listed"].as_array().unwrap().iter().any(|n| n == "boto-gbdt"), "{results}");
    assert_eq!(results["missing"], "ValidationException", "{results}");
    assert_eq!(results["duplicate"], "ResourceInUse", "{results}");
    assert_eq!(results["streams"], serde_json::json!(["boto-gbdt/algo-1"]), "{results}");
    assert_eq!(
        results["group_arn"], "arn:aws:sagemaker:local:000000000000:model-package-group/boto-group",
        "{results}"
    );
    assert_eq!(results["package_arn"], "arn:aws:sagemaker:local:000000000000:model-package/boto-group/1", "{results}");
    assert_eq!(
        (results["packages"].as_i64(), &results["approval"]),
        (Some(1), &serde_json::json!("Approved")),
        "{results}"
    );
    assert_eq!(results["missing_group"], "ValidationException", "{results}");
    let denied = run(&["audit", "list", "--denied", "-o", "json"]);
    assert!(
        denied.lines().any(|l| l.contains("\"CreateTrainingJob\"") && l.contains("user/reader")),
        "the facade's denial is in the trail as denied: {denied}"
    );
    assert!(results["log_lines"].as_i64().unwrap() > 0, "the job's log through CloudWatch Logs: {results}");
    assert_eq!(results["searched"], serde_json::json!(["boto-gbdt"]), "Search by artifact: {results}");
    assert_eq!(results["model_cards"], serde_json::json!([]), "{results}");

    // The trained model behind an endpoint, invoked through sagemaker-runtime.
    let model = results["model"].as_str().unwrap();
    run(&["endpoints", "deploy", "boto-ep", "--model-data", model, "--wait"]);
    let invoked = boto3_script("runtime_check", &["boto-ep"], &exports);
    assert_eq!(invoked["variant"], "AllTraffic", "{invoked}");
    assert_eq!(invoked["missing"], "ValidationError", "{invoked}");
    let accept = invoked["content_type"].as_str().unwrap();
    let csv = "1.9,-1.2,0.5\n0.1,0.3,0.5\n";
    let native =
        run(&["endpoints", "invoke", "boto-ep", "--body", csv, "--content-type", "text/csv", "--accept", accept]);
    assert_eq!(
        invoked["body"].as_str().unwrap().trim(),
        native.trim(),
        "the facade answers as the native route: {invoked}"
    );
}

/// EventBridge with plain boto3: a rule with a Lambda-ARN target runs a trainyard function
/// on the event put.
#[test]
fn boto3_routes_events_to_a_function() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let run = |args: &[&str]| {
        let output = cli(dir.path(), args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    let got = scratch.path().join("got.json");
    // Written whole, then renamed: the test never reads half an event.
    let command = format!("cat > {0}.tmp && mv {0}.tmp {0}; echo {{}}", got.display());
    run(&["functions", "create", "collector", "--command", &command]);
    let exports = run(&["aws", "env"]);
    let results = boto3_script("events_check", &["collector"], &exports);
    assert_eq!(results["rule_arn"], "arn:aws:events:local:000000000000:rule/orders", "{results}");
    assert_eq!(results["pattern"]["source"][0], "shop", "{results}");
    assert_eq!(
        (results["failed_targets"].as_i64(), results["failed_events"].as_i64()),
        (Some(0), Some(0)),
        "{results}"
    );
    assert_eq!(results["targets"][0], "fn", "{results}");
    assert_eq!(results["rules"][0], "orders", "{results}");
    assert_eq!(results["missing_rule"], "ResourceNotFoundException", "{results}");
    assert_eq!(results["bad_pattern"], "InvalidEventPatternException", "{results}");
    assert_eq!(results["state"], "DISABLED", "{results}");
    // The function got the event's detail (InputPath $.detail).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !got.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let delivered: Value = serde_json::from_str(&std::fs::read_to_string(&got).unwrap()).unwrap();
    assert_eq!(delivered["total"], 3, "{delivered}");
}

/// S3 with plain boto3 (path style, signed payloads over http): objects round-trip byte
/// for byte, ranges, listings with delimiters and continuation, copy, batch delete, errors.
#[test]
fn boto3_stores_and_lists_objects() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let exports = {
        let output = cli(dir.path(), &["aws", "env"]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        stdout(&output)
    };
    std::fs::write(work.path().join("upload.csv"), "a,b\n1,2\n").unwrap();
    let guest = {
        assert_eq!(cli(dir.path(), &["iam", "users", "create", "guest"]).status.code(), Some(0));
        let key: Value =
            serde_json::from_str(&stdout(&cli(dir.path(), &["iam", "keys", "create", "--user", "guest"]))).unwrap();
        let field = |name: &str| key["AccessKey"][name].as_str().unwrap().to_string();
        [field("AccessKeyId"), field("SecretAccessKey")]
    };
    let work_dir = work.path().to_str().unwrap().to_string();
    let results = boto3_script("s3_check", &[&work_dir, &guest[0], &guest[1]], &exports);
    assert!(results["buckets"].as_array().unwrap().iter().any(|b| b == "facade"), "{results}");
    assert_eq!(results["roundtrip"], true, "{results}");
    assert_eq!(results["range"], serde_json::json!([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]), "{results}");
    assert_eq!(results["range_header"], "bytes 10-19/1048576", "{results}");
    assert_eq!((results["size"].as_i64(), &results["etag"]), (Some(1_048_576), &Value::Bool(true)), "{results}");
    assert_eq!(results["prefixes"], serde_json::json!(["data/many/", "data/train/", "data/üñí/"]), "{results}");
    let paged: Vec<String> = (0..5).map(|i| format!("data/many/k{i}.csv")).collect();
    assert_eq!(results["paged"], serde_json::json!(paged), "{results}");
    assert_eq!(results["unicode"], serde_json::json!(["data/üñí/ké y.csv"]), "{results}");
    assert_eq!(results["copied"], "x,y\n", "{results}");
    assert_eq!(results["deleted"], 5, "{results}");
    assert_eq!(results["missing_key"], "NoSuchKey", "{results}");
    assert_eq!(results["missing_bucket"], "NoSuchBucket", "{results}");
    assert_eq!(results["not_empty"], "BucketNotEmpty", "{results}");
    assert_eq!(results["bad_range"], "InvalidRange", "{results}");
    assert_eq!(
        (&results["acl"], &results["intact"]),
        (&serde_json::json!("NotImplemented"), &serde_json::json!("x,y\n")),
        "an unimplemented sub-resource leaves the object alone: {results}"
    );
    let json = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    assert_eq!(results["metadata"], json(r#"{"owner": "ana", "run": "7"}"#), "{results}");
    assert_eq!(results["tags"], json(r#"[["stage", "dev"], ["team", "ml"]]"#), "{results}");
    assert_eq!(results["tag_count"], 2, "{results}");
    assert_eq!((&results["copied_metadata"], &results["copied_tags"]), (&results["metadata"], &results["tags"]));
    assert_eq!(results["replaced_metadata"], json(r#"{"x": "y"}"#), "{results}");
    assert_eq!(results["retagged"], json(r#"[["a", "b"]]"#), "{results}");
    assert_eq!(results["untagged"], json("[]"), "{results}");
    assert_eq!(results["too_many_tags"], "InvalidTag", "{results}");
    assert_eq!(results["parts"], json("[[1, 100], [2, 100]]"), "{results}");
    assert_eq!(results["parts_page"], json("[true, 1, 1]"), "{results}");
    assert_eq!(
        (&results["guest_before"], &results["no_policy"]),
        (&json(r#""AccessDenied""#), &json(r#""NoSuchBucketPolicy""#))
    );
    assert_eq!(results["policy_back"], true, "{results}");
    assert_eq!(results["guest_with_policy"], "shared\n", "the bucket policy grants: {results}");
    assert_eq!(results["guest_put"], "AccessDenied", "and only what it names: {results}");
    assert_eq!(results["malformed_policy"], "MalformedPolicy", "{results}");
    assert_eq!(results["guest_after"], "AccessDenied", "a deleted policy grants nothing: {results}");
    assert!(results["tampered"].as_str().unwrap().contains("XAmzContentSHA256Mismatch"), "{results}");
    assert_eq!(results["multipart"], true, "{results}");
    assert_eq!(results["wrong_part"], "InvalidPart", "{results}");
    assert_eq!(
        (&results["aborted"], &results["after_abort"]),
        (&serde_json::json!("404"), &serde_json::json!("NoSuchUpload")),
        "{results}"
    );
    assert_eq!(results["tampered_object"], "404", "a refused body leaves no object: {results}");
    // Object writes are data events: in the trail, not published as API calls on the bus.
    let trail = stdout(&cli(dir.path(), &["audit", "list", "--limit", "1000", "-o", "json"]));
    assert!(trail.lines().any(|l| l.contains("\"PutObject\"") && l.contains("\"Data\"")), "{trail}");
    let published =
        stdout(&cli(dir.path(), &["events", "list", "--source", "aws.s3", "--limit", "1000", "-o", "json"]));
    assert!(published.contains("\"eventName\": \"CreateBucket\""), "management calls are published: {published}");
    assert!(!published.contains("\"eventName\": \"PutObject\""), "object writes are not published: {published}");
    // Objects made through S3 are the platform's objects.
    let listed = cli(dir.path(), &["data", "ls", "s3://facade/data/train/"]);
    assert!(stdout(&listed).contains("part 0+1.bin"), "{}{}", stdout(&listed), stderr(&listed));
}

/// Hostile input on the AWS endpoint: no signature, an unknown key announcing a huge body,
/// and a declared body past the limit are answered at once, without reading the body.
#[test]
fn the_aws_endpoint_refuses_before_reading_what_it_cannot_verify() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let endpoint = std::fs::read_to_string(dir.path().join("aws.url")).unwrap();
    let address = endpoint.trim().trim_start_matches("http://").to_string();
    let ask = |request: &str| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = vec![0u8; 4096];
        let read = stream.read(&mut answer).expect("an answer without the body being sent");
        String::from_utf8_lossy(&answer[..read]).to_string()
    };
    let unsigned = ask("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    assert!(unsigned.starts_with("HTTP/1.1 403") && unsigned.contains("MissingAuthenticationToken"), "{unsigned}");
    let authorization = "AWS4-HMAC-SHA256 Credential=AKIAUNKNOWNUNKNOWN00/20261206/us-east-1/sagemaker/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000";
    let unknown = ask(&format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Date: 20261206T120000Z\r\nAuthorization: {authorization}\r\nContent-Length: 100000000\r\n\r\n"
    ));
    assert!(unknown.starts_with("HTTP/1.1 403") && unknown.contains("UnrecognizedClientException"), "{unknown}");
}

/// IAM with plain boto3 (query protocol): roles, users, policies and keys, documents
/// returned as IAM returns them, a new key that signs, and an escalation refused.
#[test]
fn boto3_manages_iam() {
    let dir = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let output = cli(dir.path(), &["aws", "env"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = boto3_script("iam_check", &[] as &[&str], &stdout(&output));
    assert_eq!(results["role_arn"], "arn:aws:iam::000000000000:role/sm-boto", "{results}");
    assert_eq!(results["trust"]["Statement"][0]["Principal"]["Service"], "sagemaker.amazonaws.com", "{results}");
    assert!(results["roles"].as_array().unwrap().iter().any(|r| r == "sm-boto"), "{results}");
    assert_eq!(results["user_tags"][0]["Key"], "team", "{results}");
    assert_eq!(results["keys"][0], results["key_id"], "{results}");
    assert_eq!(results["signed_as"], "arn:aws:iam::000000000000:user/boto-user", "{results}");
    assert_eq!(results["missing"], "NoSuchEntity", "{results}");
    assert_eq!(results["malformed"], "MalformedPolicyDocument", "{results}");
    assert_eq!(results["duplicate"], "EntityAlreadyExists", "{results}");
    assert_eq!(results["escalation"], "AccessDenied", "{results}");
}

/// The `aws` CLI (PyPI awscli) unchanged, with the environment `trainyard aws env` printed:
/// a directory tree synced up and back, a listing, SageMaker and EventBridge calls.
#[test]
fn the_aws_cli_syncs_a_tree_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let exports = stdout(&cli(dir.path(), &["aws", "env"]));
    let aws_binary = std::path::Path::new(&python()).with_file_name("aws");
    let aws = |args: &[&str]| {
        let mut command = Command::new(&aws_binary);
        command.args(args).current_dir(work.path());
        for line in exports.lines() {
            let (name, value) = line.trim_start_matches("export ").split_once('=').unwrap();
            command.env(name, value);
        }
        let output = command.output().unwrap_or_else(|e| panic!("{}: {e}", aws_binary.display()));
        assert!(output.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).unwrap();
    let files = [("a.csv", "a,b\n1,2\n"), ("sub/b c.csv", "x\n"), ("sub/deeper/ü.json", "{\"k\": 1}")];
    for (path, text) in files {
        std::fs::write(tree.join(path), text).unwrap();
    }
    aws(&["s3", "mb", "s3://synced"]);
    aws(&["s3", "sync", "tree", "s3://synced/data"]);
    let listed = aws(&["s3", "ls", "--recursive", "s3://synced"]);
    for (path, _) in files {
        assert!(listed.contains(&format!("data/{path}")), "{path} missing from {listed}");
    }
    aws(&["s3", "sync", "s3://synced/data", "back"]);
    for (path, text) in files {
        assert_eq!(std::fs::read_to_string(work.path().join("back").join(path)).unwrap(), text, "{path}");
    }
    // Past 8 MiB the CLI uploads in parts (multipart).
    let big: Vec<u8> = (0..9 * 1024 * 1024 + 7).map(|i: usize| (i * 31 % 251) as u8).collect();
    std::fs::write(work.path().join("big.bin"), &big).unwrap();
    aws(&["s3", "cp", "big.bin", "s3://synced/big.bin"]);
    aws(&["s3", "cp", "s3://synced/big.bin", "big.back"]);
    assert!(std::fs::read(work.path().join("big.back")).unwrap() == big, "a multipart upload round-trips");
    aws(&["s3", "cp", "tree/a.csv", "s3://synced/copy.csv"]);
    aws(&["s3", "cp", "s3://synced/copy.csv", "copy.csv"]);
    assert_eq!(std::fs::read_to_string(work.path().join("copy.csv")).unwrap(), "a,b\n1,2\n");
    assert!(aws(&["sagemaker", "list-training-jobs"]).contains("TrainingJobSummaries"));
    let put = aws(&["events", "put-events", "--entries", r#"[{"Source":"cli","DetailType":"t","Detail":"{}"}]"#]);
    assert!(put.contains("\"FailedEntryCount\": 0"), "{put}");
}

/// Runs `tests/aws/NAME.py` with `args` in the environment `trainyard aws env` printed; its
/// one JSON line.
pub fn boto3_script<A: AsRef<std::ffi::OsStr>>(name: &str, args: &[A], exports: &str) -> Value {
    let mut script = Command::new(python());
    script.arg(format!("{}/../../tests/aws/{name}.py", env!("CARGO_MANIFEST_DIR"))).args(args);
    for line in exports.lines() {
        let (name, value) = line.trim_start_matches("export ").split_once('=').unwrap();
        script.env(name, value);
    }
    let output = script.output().unwrap();
    assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// EventBridge's buses, archives and replays, ListRuleNamesByTarget and TestEventPattern
/// with plain boto3: a replay puts the archived event on the bus again.
#[test]
fn boto3_manages_buses_archives_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let run = |args: &[&str]| {
        let output = cli(dir.path(), args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    run(&["functions", "create", "sink", "--command", "cat >/dev/null; echo {}"]);
    let exports = run(&["aws", "env"]);
    let results = boto3_script("events_resources_check", &["sink"], &exports);
    assert!(results["bus_arn"].as_str().unwrap().ends_with(":event-bus/orders"), "{results}");
    assert_eq!(results["duplicate_bus"], "ResourceAlreadyExistsException", "{results}");
    assert_eq!(results["buses"], serde_json::json!(["default", "orders"]), "{results}");
    assert_eq!(results["described_bus"], "orders", "{results}");
    assert_eq!((&results["test_match"], &results["test_miss"]), (&Value::Bool(true), &Value::Bool(false)));
    assert_eq!(results["bad_pattern"], "InvalidEventPatternException", "{results}");
    assert_eq!(results["rules_by_target"], serde_json::json!(["big-orders"]), "{results}");
    assert_eq!(results["archive_state"], "ENABLED", "{results}");
    assert_eq!(results["archived"], 1, "{results}");
    assert_eq!(results["archives"], serde_json::json!(["orders-archive"]), "{results}");
    assert_eq!(results["replay_state"], "COMPLETED", "{results}");
    assert_eq!(results["replays"], serde_json::json!(["again"]), "{results}");
    assert_eq!(results["missing_archive"], "ResourceNotFoundException", "{results}");
    assert_eq!(results["deleted_bus"], "ResourceNotFoundException", "{results}");
}

/// Every json and query operation of the dispatch table (the one `docs/aws-api.md`'s table
/// is generated from) reaches its handler; one not in it is the unknown-operation error.
#[test]
fn every_operation_of_the_table_reaches_a_handler() {
    let dir = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let output = cli(dir.path(), &["aws", "env"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let exports = stdout(&output);
    let mut operations: Vec<(&str, &str)> = Vec::new();
    for service in trainyard_aws::operations::SERVICES {
        if matches!(service.client, "s3" | "sagemaker-runtime" | "lambda") {
            continue; // routed by method and path: their tests call each one
        }
        operations.extend(service.operations.iter().map(|o| (service.client, *o)));
    }
    assert!(operations.len() > 80, "{operations:?}");
    let table = serde_json::to_string(&operations).unwrap();
    let results = boto3_script("operations_check", &[table.as_str()], &exports);
    assert_eq!(results["unreached"], serde_json::json!([]), "{results}");
    let unknown =
        serde_json::to_string(&[("sagemaker", "CreateHyperParameterTuningJob"), ("sts", "GetFederationToken")])
            .unwrap();
    let refused = boto3_script("operations_check", &[unknown.as_str()], &exports);
    assert_eq!(refused["unreached"].as_array().map(Vec::len), Some(2), "{refused}");
}

/// The operations no other script calls with success, once each, their answers checked
/// against botocore's output shapes (`tests/aws/common.py`'s hook fails the script on a
/// mismatch): with the others, every operation of the table is called and checked.
#[test]
fn every_operation_answers_in_botocores_shape() {
    let dir = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let output = cli(dir.path(), &["aws", "env"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let runtime = crate::lambda::python_runtime();
    let results = boto3_script("fidelity_rest", &[runtime.as_str()], &stdout(&output));
    assert_eq!(results["called"].as_array().map(Vec::len), Some(21), "{results}");
    assert_eq!(results["weights"], serde_json::json!({"a": 1.0, "b": 0.0}), "{results}");
    assert_eq!(results["tags"], serde_json::json!([{"Key": "team", "Value": "ml"}]), "{results}");
    assert!(matches!(results["stopped"].as_str(), Some("Stopping" | "Stopped")), "{results}");
}
