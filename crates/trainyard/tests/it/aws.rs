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
    let mut script = Command::new(python());
    script.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/aws/sts_check.py")).args([
        endpoint.trim(),
        key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
        "arn:aws:iam::000000000000:role/dev-role",
    ]);
    for line in exports.lines() {
        let (name, value) = line.trim_start_matches("export ").split_once('=').unwrap();
        script.env(name, value);
    }
    let output = script.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let results: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(results["user"], "arn:aws:iam::000000000000:user/dev", "{results}");
    assert_eq!(results["session"], "arn:aws:sts::000000000000:assumed-role/dev-role/boto-1", "{results}");
    assert_eq!(results["root"], "arn:aws:iam::000000000000:root", "{results}");
    assert_eq!(results["wrong_secret"], "SignatureDoesNotMatch", "{results}");
    assert_eq!(results["unknown_key"], "InvalidClientTokenId", "{results}");
    assert_eq!(results["session_without_token"], "InvalidClientTokenId", "{results}");
    assert_eq!(results["unknown_action"], "InvalidAction", "{results}");
}
