//! ECR and CloudWatch Logs through the AWS endpoint with real clients: boto3 manages
//! repositories and images, skopeo logs in to the registry with `GetAuthorizationToken`'s
//! password (`--username AWS`) and pushes and pulls as the caller's policies allow, and
//! `FilterLogEvents` finds a finished training job's line.

use std::process::Command;

use serde_json::{json, Value};

use crate::process::{cli, stderr, stdout, ServerProcess};

fn python() -> String {
    std::env::var("TRAINYARD_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs `tests/aws/NAME.py` with the AWS environment `trainyard aws env` printed; its JSON.
fn boto3_script<A: AsRef<std::ffi::OsStr>>(name: &str, args: &[A], exports: &str) -> Value {
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

/// A user named `name` with `policy` (if any) and an access key: (key id, secret).
fn user_with_key(data: &std::path::Path, name: &str, policy: Option<&str>) -> (String, String) {
    let run = |args: &[&str]| {
        let output = cli(data, args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    run(&["iam", "users", "create", name]);
    if let Some(policy) = policy {
        run(&["iam", "put-policy", "--user", name, "--name", "ecr", "--document", policy]);
    }
    let key: Value = serde_json::from_str(&run(&["iam", "keys", "create", "--user", name])).unwrap();
    let field = |f: &str| key["AccessKey"][f].as_str().unwrap().to_string();
    (field("AccessKeyId"), field("SecretAccessKey"))
}

#[test]
fn ecr_manages_repositories_and_its_login_pushes_and_pulls() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(&data);
    let host = server.url.trim_start_matches("http://").to_string();
    let run = |args: &[&str]| {
        let output = cli(&data, args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    for (repo, file) in [("base/app", "app.py"), ("base/other", "other.py")] {
        let context = dir.path().join(file);
        std::fs::create_dir_all(&context).unwrap();
        std::fs::write(context.join(file), format!("print('{file}')\n")).unwrap();
        run(&["build", context.to_str().unwrap(), "--repo", repo, "--tag", "v1", "--push"]);
    }
    let outsider = user_with_key(&data, "outsider", None);
    let pull_only = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:ListImages"],
         "Resource": "arn:aws:ecr:local:000000000000:repository/boto/*"}]}"#;
    let puller = user_with_key(&data, "puller", Some(pull_only));
    let exports = run(&["aws", "env"]);
    let r = boto3_script("ecr", &[host.as_str(), &outsider.0, &outsider.1, &puller.0, &puller.1], &exports);

    assert_eq!(r["repository_arn"], "arn:aws:ecr:local:000000000000:repository/boto/app", "{r}");
    assert_eq!(r["repository_uri"], format!("{host}/boto/app"), "{r}");
    assert_eq!(r["mutability"], "MUTABLE", "{r}");
    assert_eq!(r["duplicate"], "RepositoryAlreadyExistsException", "{r}");
    assert_eq!(r["described"], json!(["boto/app"]), "{r}");
    assert_eq!(r["all_repositories"], json!(["base/app", "base/other", "boto/app"]), "{r}");
    assert_eq!(r["missing_repository"], "RepositoryNotFoundException", "{r}");
    assert_eq!(r["missing_repository_images"], "RepositoryNotFoundException", "{r}");

    assert_eq!((&r["user"], &r["proxy_endpoint"]), (&json!("AWS"), &json!(server.url)), "{r}");
    assert_eq!(r["hours_valid"], 12, "{r}");
    assert_eq!((&r["login"], &r["wrong_login"]), (&json!(true), &json!(false)), "{r}");
    for push in ["push_v1", "push_v2", "push_other"] {
        assert_eq!(r[push], true, "{push}: {r}");
    }

    assert_eq!(r["listed_tags"], json!(["other", "v1", "v2"]), "{r}");
    assert_eq!(r["paged_tags"], r["listed_tags"], "{r}");
    assert_eq!(r["v1_tags"], json!(["v1", "v2"]), "{r}");
    assert!(r["v1_size"].as_u64().unwrap() > 100, "{r}");
    assert_eq!(r["v1_pushed_recently"], true, "{r}");
    assert_eq!(r["image_count"], 2, "{r}");
    assert_eq!(r["missing_image"], "ImageNotFoundException", "{r}");
    assert_eq!(r["got_digest"], r["v1_digest"], "{r}");
    assert!(r["got_layers"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(r["got_failures"], json!(["ImageNotFound"]), "{r}");

    assert_eq!(r["now_mutability"], "IMMUTABLE", "{r}");
    assert_eq!(r["overwrite_immutable"], false, "an immutable tag is not moved: {r}");
    assert_eq!(r["v1_after_overwrite"], r["v1_digest"], "{r}");
    assert_eq!((&r["same_image_again"], &r["new_tag"]), (&json!(true), &json!(true)), "{r}");

    assert_eq!(r["deleted"], json!(["v2"]), "{r}");
    assert_eq!(r["delete_failures"], json!(["ImageNotFound"]), "{r}");
    assert_eq!(r["left"], json!([["v1"]]), "the last tag took its image along: {r}");

    assert_eq!(r["outsider_create"], "AccessDeniedException", "{r}");
    assert_eq!(r["outsider_token"], "AccessDeniedException", "{r}");
    assert_eq!(r["outsider_list"], "AccessDeniedException", "{r}");
    assert_eq!((&r["puller_login"], &r["puller_pull"]), (&json!(true), &json!(true)), "{r}");
    assert_eq!(r["puller_push"], false, "a pull-only password does not push: {r}");
    assert_eq!(r["puller_list"], "ok", "{r}");
    assert_eq!(r["puller_delete"], "AccessDeniedException", "{r}");

    assert_eq!(r["delete_not_empty"], "RepositoryNotEmptyException", "{r}");
    assert_eq!(r["delete_forced"], "boto/app", "{r}");
    assert_eq!(r["after_delete"], "RepositoryNotFoundException", "{r}");
    assert_eq!(r["delete_missing"], "RepositoryNotFoundException", "{r}");

    // Writes and denials are in the trail.
    let trail = run(&["audit", "list", "-o", "json"]);
    for action in ["CreateRepository", "PutImageTagMutability", "BatchDeleteImage", "GetAuthorizationToken"] {
        assert!(trail.contains(&format!("\"{action}\"")), "{action} missing from the trail: {trail}");
    }
    let denied = run(&["audit", "list", "--denied", "-o", "json"]);
    assert!(
        denied.lines().any(|l| l.contains("\"CreateRepository\"") && l.contains("user/outsider")),
        "the outsider's denial is in the trail: {denied}"
    );
}

#[test]
fn filter_log_events_finds_a_finished_jobs_line() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let run = |args: &[&str]| {
        let output = cli(dir.path(), args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    std::fs::create_dir_all(work.path().join("train")).unwrap();
    crate::jobs::write_csv(&work.path().join("train/part-0.csv"), 300, 7, 1.5);
    run(&["data", "mb", "s3://ml-data"]);
    run(&["data", "put", work.path().join("train").to_str().unwrap(), "s3://ml-data/train/"]);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    run(&["iam", "roles", "create", "sm-exec", "--trust-policy", trust]);
    let reader = user_with_key(dir.path(), "reader", None);
    let exports = run(&["aws", "env"]);
    let r = boto3_script(
        "logs_extra",
        &["arn:aws:iam::000000000000:role/sm-exec", reader.0.as_str(), reader.1.as_str()],
        &exports,
    );
    assert_eq!(r["status"], "Completed", "{r}");
    assert_eq!(r["groups"], json!(["/aws/sagemaker/ProcessingJobs", "/aws/sagemaker/TrainingJobs"]), "{r}");
    assert_eq!(r["training_groups"], json!(["/aws/sagemaker/TrainingJobs"]), "{r}");
    assert_eq!(r["lambda_groups"], json!([]), "{r}");
    let found = r["found"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{r}");
    assert!(found[0].as_str().unwrap().starts_with("#data algorithm=gbdt train_rows=300"), "{r}");
    assert_eq!(r["found_streams"], json!(["logs-gbdt/algo-1"]), "{r}");
    assert_eq!(r["found_in_range"], true, "{r}");
    assert_eq!(r["searched"], json!(["logs-gbdt/algo-1"]), "{r}");
    assert_eq!(r["phrase"], 1, "{r}");
    assert_eq!((r["other_stream"].as_u64(), r["not_in_log"].as_u64()), (Some(0), Some(0)), "{r}");
    assert_eq!((r["later"].as_u64(), r["earlier"].as_u64()), (Some(0), Some(0)), "{r}");
    assert_eq!(r["paged_equals_log"], true, "{r}");
    assert!(r["paged_lines"].as_u64().unwrap() > 2, "the pages were followed: {r}");
    assert_eq!(r["missing_group"], "ResourceNotFoundException", "{r}");
    assert_eq!(r["json_pattern"], "InvalidParameterException", "{r}");
    assert_eq!(
        (&r["reader_filter"], &r["reader_groups"]),
        (&json!("AccessDeniedException"), &json!("AccessDeniedException")),
        "{r}"
    );
}
