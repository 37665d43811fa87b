//! The registry through real clients: `trainyard build --push`, `trainyard images`, and
//! skopeo copying an OCI layout to trainyard and back with identical digests.

use std::process::Command;

use serde_json::Value;

use crate::process::{cli, stderr, stdout, ServerProcess};

fn skopeo(args: &[&str]) -> std::process::Output {
    Command::new("skopeo").args(args).output().expect("skopeo is installed (.ci/run installs it)")
}

fn layout_digest(layout: &std::path::Path) -> String {
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_string()
}

#[test]
fn a_build_is_pushed_listed_copied_by_skopeo_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(&data);
    let host = server.url.trim_start_matches("http://").to_string();
    let credentials = format!("ci:{}", server.token());
    let context = dir.path().join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("train.py"), "print('training')\n").unwrap();

    let pushed = cli(
        &data,
        &[
            "build",
            context.to_str().unwrap(),
            "--repo",
            "team/train",
            "--tag",
            "v1",
            "--tag",
            "latest",
            "--push",
            "--entrypoint",
            "python3 train.py",
        ],
    );
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let digest = stdout(&pushed).trim().to_string();
    assert!(stderr(&pushed).contains(&format!("pushed {host}/team/train:v1")), "{}", stderr(&pushed));
    let no_repo = cli(&data, &["build", context.to_str().unwrap(), "--push"]);
    assert_eq!(no_repo.status.code(), Some(2), "{}", stderr(&no_repo));

    let listed = cli(&data, &["images", "list", "team/train", "-o", "json"]);
    let listed: Value = serde_json::from_str(&stdout(&listed)).unwrap();
    let tags: Vec<&str> =
        listed["Images"].as_array().unwrap().iter().map(|i| i["ImageTag"].as_str().unwrap()).collect();
    assert_eq!(tags, ["latest", "v1"]);
    assert!(listed["Images"].as_array().unwrap().iter().all(|i| i["ImageDigest"] == digest.as_str()));
    let described = cli(&data, &["images", "describe", "team/train:v1"]);
    let described: Value = serde_json::from_str(&stdout(&described)).unwrap();
    assert_eq!(described["Config"]["Entrypoint"], serde_json::json!(["python3", "train.py"]));
    assert_eq!(described["Config"]["WorkingDir"], "/opt/program");

    // skopeo pulls what trainyard serves into a layout, pushes it back under a new name,
    // and every hop keeps the manifest digest.
    let back = dir.path().join("back");
    let pulled = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &credentials,
        &format!("docker://{host}/team/train:v1"),
        &format!("oci:{}:v1", back.display()),
    ]);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert_eq!(layout_digest(&back), digest);
    let copied = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &credentials,
        &format!("oci:{}:v1", back.display()),
        &format!("docker://{host}/mirror/train:v1"),
    ]);
    assert!(copied.status.success(), "{}", stderr(&copied));
    let inspected = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        &credentials,
        &format!("docker://{host}/mirror/train:v1"),
    ]);
    let inspected: Value = serde_json::from_str(&stdout(&inspected)).unwrap();
    assert_eq!(inspected["Digest"], digest.as_str());
    let anonymous = skopeo(&["inspect", "--tls-verify=false", &format!("docker://{host}/mirror/train:v1")]);
    assert!(!anonymous.status.success(), "the registry needs credentials");

    let events = cli(&data, &["events", "list", "--source", "aws.ecr", "-o", "json"]);
    let events = stdout(&events);
    for expected in ["\"image-tag\": \"v1\"", "\"image-tag\": \"latest\"", "\"repository-name\": \"mirror/train\""] {
        assert!(events.contains(expected), "{expected} missing from {events}");
    }

    let deleted = cli(&data, &["images", "delete", "team/train:latest"]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let missing = cli(&data, &["images", "describe", "team/train:latest"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("MANIFEST_UNKNOWN"), "{}", stderr(&missing));
    let created = cli(&data, &["images", "repos", "create", "empty/repo"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let repositories = stdout(&cli(&data, &["images", "repos", "list", "-o", "json"]));
    assert!(repositories.contains("empty/repo") && repositories.contains("mirror/train"), "{repositories}");
}
