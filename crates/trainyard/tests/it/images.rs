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

/// A robot whose policy lets it push to `team-a/*` only: skopeo (the Docker token flow,
/// with the robot's access key as its login) pushes there and is refused elsewhere.
#[test]
fn a_robot_pushes_to_its_own_repositories_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(&data);
    let host = server.url.trim_start_matches("http://").to_string();
    let root = format!("ci:{}", server.token());
    let context = dir.path().join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("app.py"), "print('app')\n").unwrap();
    let ok = |output: std::process::Output| {
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    ok(cli(&data, &["build", context.to_str().unwrap(), "--repo", "base/app", "--tag", "v1", "--push"]));
    let layout = dir.path().join("layout");
    ok(skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &root,
        &format!("docker://{host}/base/app:v1"),
        &format!("oci:{}:v1", layout.display()),
    ]));
    ok(cli(&data, &["iam", "service-accounts", "create", "pusher"]));
    let policy = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
            "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"],
         "Resource": "arn:aws:ecr:local:000000000000:repository/team-a/*"}]}"#;
    ok(cli(&data, &["iam", "put-policy", "--service-account", "pusher", "--name", "push", "--document", policy]));
    let key: Value =
        serde_json::from_str(&ok(cli(&data, &["iam", "keys", "create", "--service-account", "pusher"]))).unwrap();
    let login = format!(
        "{}:{}",
        key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap()
    );
    assert!(login.contains(":tyr_"), "a robot's secret says it is a robot's");
    let push = |repository: &str| {
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &login,
            &format!("oci:{}:v1", layout.display()),
            &format!("docker://{host}/{repository}:v1"),
        ])
    };
    ok(push("team-a/app"));
    let refused = push("team-b/app");
    assert!(!refused.status.success(), "pushed outside its repositories");
    let pull_elsewhere =
        skopeo(&["inspect", "--tls-verify=false", "--creds", &login, &format!("docker://{host}/base/app:v1")]);
    assert!(!pull_elsewhere.status.success(), "pulled a repository it may not");
    let inspected =
        ok(skopeo(&["inspect", "--tls-verify=false", "--creds", &login, &format!("docker://{host}/team-a/app:v1")]));
    assert!(inspected.contains("Digest"));
    let repositories = ok(cli(&data, &["images", "repos", "list", "-o", "json"]));
    assert!(!repositories.contains("team-b/app"), "nothing was created in team-b: {repositories}");
    let denied = ok(cli(&data, &["audit", "list", "--denied", "-o", "json"]));
    assert!(
        denied.lines().any(|l| l.contains("repository/team-b/app") && l.contains("user/pusher")),
        "the refused push is in the audit trail: {denied}"
    );
    let writes = ok(cli(&data, &["audit", "list", "-o", "json"]));
    assert!(writes.lines().any(|l| l.contains("\"PutImage\"") && l.contains("team-a/app")), "{writes}");
}

const TRAIN_SCRIPT: &str = r#"import json, os, sys
from helpers import count_rows
channel = os.environ["SM_CHANNEL_TRAIN"]
rows = sum(count_rows(os.path.join(channel, f)) for f in sorted(os.listdir(channel)))
hps = json.loads(os.environ["SM_HPS"])
print("argv=" + json.dumps(sys.argv[1:]))
print("cwd=" + os.getcwd())
print("loss=%.3f" % (1.0 / rows))
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
    f.write("rows=%d epochs=%s" % (rows, hps["epochs"]))
"#;

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Rewrites a layout's image so its history says a Dockerfile made it (as images built
/// elsewhere say), keeping its layer.
fn as_foreign_image(layout: &std::path::Path) {
    let blob = |digest: &str| layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let mut index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap().to_string();
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(blob(&manifest_digest)).unwrap()).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_string();
    let mut config: Value = serde_json::from_slice(&std::fs::read(blob(&config_digest)).unwrap()).unwrap();
    config["history"] = serde_json::json!([{"created_by": "/bin/sh -c apt-get install -y python3"}]);
    let config_bytes = serde_json::to_vec(&config).unwrap();
    std::fs::write(blob(&sha256(&config_bytes)), &config_bytes).unwrap();
    manifest["config"]["digest"] = sha256(&config_bytes).into();
    manifest["config"]["size"] = config_bytes.len().into();
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    std::fs::write(blob(&sha256(&manifest_bytes)), &manifest_bytes).unwrap();
    index["manifests"][0]["digest"] = sha256(&manifest_bytes).into();
    index["manifests"][0]["size"] = manifest_bytes.len().into();
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

fn engine_available() -> bool {
    ["docker", "podman"]
        .iter()
        .any(|engine| Command::new(engine).arg("info").output().map(|o| o.status.success()).unwrap_or(false))
}

#[test]
fn a_pushed_image_runs_as_a_training_job_under_the_sagemaker_contract() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(&data);
    let host = server.url.trim_start_matches("http://").to_string();
    let context = dir.path().join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("train.py"), TRAIN_SCRIPT).unwrap();
    std::fs::write(context.join("helpers.py"), "def count_rows(path):\n    return sum(1 for _ in open(path))\n")
        .unwrap();
    let layout = dir.path().join("image");
    let pushed = cli(
        &data,
        &[
            "build",
            context.to_str().unwrap(),
            "--layout",
            layout.to_str().unwrap(),
            "--repo",
            "team/train",
            "--tag",
            "v1",
            "--push",
            "--entrypoint",
            "python3 /opt/program/train.py",
        ],
    );
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let train = dir.path().join("train");
    std::fs::create_dir_all(&train).unwrap();
    std::fs::write(train.join("a.csv"), "1,2\n3,4\n5,6\n").unwrap();
    std::fs::write(train.join("b.csv"), "7,8\n").unwrap();
    crate::jobs::run(&data, &["data", "mb", "s3://ml-data"]);
    crate::jobs::run(&data, &["data", "put", train.to_str().unwrap(), "s3://ml-data/train/"]);

    let image = format!("{host}/team/train:v1");
    let waited = cli(
        &data,
        &[
            "jobs",
            "create-training",
            "--name",
            "from-image",
            "--image",
            &image,
            "--channel",
            "train=s3://ml-data/train/",
            "--hyperparameter",
            "epochs=3",
            "--output-path",
            "s3://ml-data/models",
            "--metric",
            "loss=loss=([0-9.]+)",
            "--wait",
        ],
    );
    assert_eq!(waited.status.code(), Some(0), "{}{}", stdout(&waited), stderr(&waited));
    let job: Value =
        serde_json::from_str(&crate::jobs::run(&data, &["jobs", "describe", "from-image", "-o", "json"])).unwrap();
    assert_eq!(job["TrainingJobStatus"], "Completed", "{job:#}");
    assert_eq!(job["FinalMetricDataList"][0]["Value"].as_f64(), Some(0.25));
    let logs = crate::jobs::run(&data, &["jobs", "logs", "from-image"]);
    assert!(logs.contains("argv=[\"train\"]"), "SageMaker runs the entrypoint with `train`: {logs}");
    assert!(logs.contains("/image/opt/program"), "the working directory is the image's: {logs}");
    let tarball = dir.path().join("model.tar.gz");
    crate::jobs::run(
        &data,
        &["data", "get", "s3://ml-data/models/from-image/output/model.tar.gz", tarball.to_str().unwrap()],
    );
    let listing = Command::new("tar").arg("xzOf").arg(&tarball).arg("model.txt").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&listing.stdout), "rows=4 epochs=3");

    // An image that is not in the registry fails the job with a reason saying so.
    let missing = cli(
        &data,
        &[
            "jobs",
            "create-training",
            "--name",
            "no-image",
            "--image",
            "team/absent:v1",
            "--channel",
            "train=s3://ml-data/train/",
            "--output-path",
            "s3://ml-data/models",
            "--wait",
        ],
    );
    assert_eq!(missing.status.code(), Some(1));
    let job: Value =
        serde_json::from_str(&crate::jobs::run(&data, &["jobs", "describe", "no-image", "-o", "json"])).unwrap();
    assert!(job["FailureReason"].as_str().unwrap().contains("is not in the trainyard registry"), "{job:#}");

    // An image built elsewhere needs a container engine; without one the reason says so.
    as_foreign_image(&layout);
    let copied = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("ci:{}", server.token()),
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{host}/team/foreign:v1"),
    ]);
    assert!(copied.status.success(), "{}", stderr(&copied));
    if !engine_available() {
        let foreign = cli(
            &data,
            &[
                "jobs",
                "create-training",
                "--name",
                "foreign",
                "--image",
                "team/foreign:v1",
                "--channel",
                "train=s3://ml-data/train/",
                "--output-path",
                "s3://ml-data/models",
                "--wait",
            ],
        );
        assert_eq!(foreign.status.code(), Some(1));
        let job: Value =
            serde_json::from_str(&crate::jobs::run(&data, &["jobs", "describe", "foreign", "-o", "json"])).unwrap();
        let reason = job["FailureReason"].as_str().unwrap();
        assert!(reason.contains("needs a container engine"), "{reason}");
    }
}

#[test]
fn a_commit_on_a_followed_branch_is_built_pushed_and_trained() {
    use crate::sources::git;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = ServerProcess::start(&data);
    let repo = dir.path().join("repo");
    crate::sources::new_repository(&repo);
    crate::jobs::run(&data, &["sources", "add", "churn", "--git", repo.to_str().unwrap(), "--poll", "1h"]);

    std::fs::create_dir_all(repo.join("model")).unwrap();
    std::fs::write(repo.join("model/train.py"), TRAIN_SCRIPT).unwrap();
    std::fs::write(repo.join("model/helpers.py"), "def count_rows(path):\n    return sum(1 for _ in open(path))\n")
        .unwrap();
    std::fs::write(
        repo.join("trainyard.yaml"),
        "build:\n  context: model\n  entrypoint: [python3, train.py]\n  repository: team/churn\n",
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "a model"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    crate::jobs::run(&data, &["sources", "poll", "churn"]);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let build = loop {
        let listed: Value = serde_json::from_str(&crate::jobs::run(&data, &["builds", "list", "-o", "json"])).unwrap();
        let build = listed["Builds"][0].clone();
        if build["BuildStatus"] == "SUCCEEDED" || build["BuildStatus"] == "FAILED" {
            break build;
        }
        assert!(std::time::Instant::now() < deadline, "no build finished: {listed:#}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(build["BuildStatus"], "SUCCEEDED", "{build:#}");
    assert_eq!(build["SourceVersion"], head.as_str());
    let logs = crate::jobs::run(&data, &["builds", "logs", build["Id"].as_str().unwrap()]);
    assert!(logs.contains("pushed team/churn@"), "{logs}");
    let events = crate::jobs::run(&data, &["events", "list", "--source", "aws.codebuild", "-o", "json"]);
    assert!(events.contains("\"build-status\": \"SUCCEEDED\""), "{events}");

    let train = dir.path().join("train");
    std::fs::create_dir_all(&train).unwrap();
    std::fs::write(train.join("a.csv"), "1,2\n3,4\n").unwrap();
    crate::jobs::run(&data, &["data", "mb", "s3://ml-data"]);
    crate::jobs::run(&data, &["data", "put", train.to_str().unwrap(), "s3://ml-data/train/"]);
    let image = format!("team/churn:{head}");
    let waited = cli(
        &data,
        &[
            "jobs",
            "create-training",
            "--name",
            "from-commit",
            "--image",
            &image,
            "--channel",
            "train=s3://ml-data/train/",
            "--hyperparameter",
            "epochs=1",
            "--output-path",
            "s3://ml-data/models",
            "--wait",
        ],
    );
    assert_eq!(waited.status.code(), Some(0), "{}{}", stdout(&waited), stderr(&waited));
}
