//! What a user installing trainyard relies on: the binary tells its version and commit,
//! completes in shells, checks a server's health; the server image built by trainyard
//! itself; data directories kept across upgrades and refused by older binaries.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::process::{binary, cli, stderr, stdout, ServerProcess};

fn repository_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn the_binary_tells_its_version_and_commit() {
    let output = Command::new(binary()).arg("--version").output().unwrap();
    let line = stdout(&output);
    assert!(line.starts_with(&format!("trainyard {} (commit ", env!("CARGO_PKG_VERSION"))), "{line}");
    let head = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(repository_root()).output();
    if let Some(head) = head.ok().filter(|h| h.status.success()) {
        assert!(line.contains(stdout(&head).trim()), "the commit built from: {line}");
    }
    assert!(line.contains(", built 20"), "{line}");
}

#[test]
fn bash_completes_commands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("trainyard.bash");
    std::fs::write(&script, Command::new(binary()).args(["completions", "bash"]).output().unwrap().stdout).unwrap();
    let complete = |words: &str, current: usize| {
        let program = format!(
            "source '{}'; COMP_WORDS=({words}); COMP_CWORD={current}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; \
             _trainyard trainyard; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        stdout(&Command::new("bash").args(["-c", &program]).output().unwrap())
    };
    let commands = complete("trainyard jo", 1);
    assert!(commands.lines().any(|l| l == "jobs"), "{commands}");
    let flags = complete("trainyard build --ex", 2);
    assert!(flags.lines().any(|l| l == "--expose"), "{flags}");
    for shell in ["zsh", "fish"] {
        let output = Command::new(binary()).args(["completions", shell]).output().unwrap();
        assert!(output.status.success() && stdout(&output).contains("jobs"), "{shell}");
    }
    let bad = Command::new(binary()).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn health_answers_zero_while_the_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path());
    let healthy = cli(dir.path(), &["health"]);
    assert_eq!((healthy.status.code(), stdout(&healthy).trim()), (Some(0), "ok"), "{}", stderr(&healthy));
    drop(server);
    let down = cli(dir.path(), &["health", "--timeout", "2s"]);
    assert_eq!(down.status.code(), Some(1), "{}", stderr(&down));
    assert!(stderr(&down).contains("unhealthy"), "{}", stderr(&down));
}

/// A data directory written by release 0.1.0 (`tests/fixtures`: the quickstart's) opens
/// in this binary with everything in it: migrations only ever move forward.
#[test]
fn a_data_directory_from_an_earlier_release_keeps_everything() {
    let work = tempfile::tempdir().unwrap();
    let fixture = repository_root().join("tests/fixtures/data-dir-0.1.0.tar.gz");
    let unpacked = Command::new("tar").arg("-xzf").arg(&fixture).arg("-C").arg(work.path()).status().unwrap();
    assert!(unpacked.success());
    let dir = work.path().join(".trainyard-quickstart");
    let _server = ServerProcess::start_on_sqlite(&dir);
    let json = |args: &[&str]| -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let output = cli(&dir, &all);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", stderr(&output));
        serde_json::from_str(&stdout(&output)).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    };
    let text = |args: &[&str]| json(args).to_string();
    assert!(text(&["pipelines", "list"]).contains("churn"), "the pipeline");
    assert!(text(&["pipelines", "runs", "churn"]).contains("Succeeded"), "its runs");
    assert!(text(&["jobs", "list"]).matches("Completed").count() >= 2, "both training jobs");
    assert!(text(&["models", "list", "churn"]).matches("Approved").count() >= 2, "both model versions");
    assert!(text(&["images", "list"]).contains("churn"), "the training image");
    assert!(text(&["iam", "roles", "list"]).contains("churn-deploy-sagemaker-model"), "the pipeline's roles");
    assert!(text(&["rules", "list"]).contains("churn"), "the pipeline's rules");
    assert!(text(&["endpoints", "list"]).contains("InService"), "the endpoint");
    let answer = cli(&dir, &["endpoints", "invoke", "churn", "--body", "0.37,0.79,0.89", "--content-type", "text/csv"]);
    assert!(stdout(&answer).contains("predictions"), "it still serves: {}{}", stdout(&answer), stderr(&answer));
}

/// A data directory a newer trainyard migrated is refused, with the reason, and left as it was.
#[test]
fn an_older_binary_refuses_a_newer_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    drop(ServerProcess::start_on_sqlite(dir.path()));
    let database = dir.path().join("trainyard.db");
    let python = std::env::var("TRAINYARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let newer = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO _sqlx_migrations \
                 (version, description, success, checksum, execution_time) VALUES (99999, 'from the future', 1, \
                 x'00', 1)\"); c.commit()";
    assert!(Command::new(&python).args(["-c", newer]).arg(&database).status().unwrap().success());
    let before = std::fs::read(&database).unwrap();
    let output = Command::new(binary())
        .args(["server", "--listen", "127.0.0.1:0", "--aws-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("was written by a newer trainyard (schema version 99999"), "{}", stderr(&output));
    assert_eq!(std::fs::read(&database).unwrap(), before, "the data directory is left as it was");
}

/// `scripts/server-image.sh`: trainyard builds its own server image, reproducibly, with
/// a non-root user, /data, the ports and a health check; it pushes to trainyard's
/// registry, and its root filesystem runs the binary.
#[test]
fn trainyard_builds_its_own_server_image() {
    if Command::new("skopeo").arg("--version").output().is_err() {
        println!("skipped: skopeo is not installed");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let script = repository_root().join("scripts/server-image.sh");
    let build = |layout: &Path, extra: &[&str], data_dir: &Path| {
        let output = Command::new(&script)
            .args(["--binary", binary(), "--layout"])
            .arg(layout)
            .args(extra)
            .env("TRAINYARD_DATA_DIR", data_dir)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        stdout(&output).trim().to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let _server = ServerProcess::start(dir.path());
    let first = build(&work.path().join("one"), &[], dir.path());
    let second = build(&work.path().join("two"), &["--push", "--repo", "trainyard/server"], dir.path());
    assert!(first.starts_with("sha256:"), "{first}");
    assert_eq!(first, second, "the same binary gives the same image");
    let listed = stdout(&cli(dir.path(), &["images", "list", "trainyard/server", "-o", "json"]));
    assert!(listed.contains(&first), "pushed to trainyard's registry: {listed}");

    let layout = format!("oci:{}:latest", work.path().join("one").display());
    // (--raw: the config as written; skopeo's parsed form drops Docker's Healthcheck.)
    let inspect = Command::new("skopeo").args(["inspect", "--config", "--raw", &layout]).output().unwrap();
    let config: Value = serde_json::from_slice(&inspect.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&inspect)));
    let runtime = &config["config"];
    assert_eq!(runtime["User"], "10001:10001");
    assert_eq!(runtime["Entrypoint"], serde_json::json!(["/usr/local/bin/trainyard"]));
    assert!(runtime["ExposedPorts"].get("7420/tcp").is_some() && runtime["ExposedPorts"].get("4566/tcp").is_some());
    assert!(runtime["Volumes"].get("/data").is_some(), "{runtime}");
    assert_eq!(runtime["Healthcheck"]["Test"][1], "/usr/local/bin/trainyard", "{runtime}");
    assert!(runtime["Env"].as_array().unwrap().iter().any(|e| e == "TRAINYARD_DATA_DIR=/data"), "{runtime}");

    // The root filesystem is complete: the binary runs in it, alone, as the image's user.
    let manifest: Value =
        serde_json::from_slice(&Command::new("skopeo").args(["inspect", "--raw", &layout]).output().unwrap().stdout)
            .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let rootfs = work.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let blob = work.path().join("one/blobs/sha256").join(layer);
    let listing = stdout(&Command::new("tar").args(["-tvzf"]).arg(&blob).output().unwrap());
    assert!(listing.lines().any(|l| l.contains("10001/10001") && l.trim_end().ends_with(" data/")), "{listing}");
    let is_root = Command::new("id").arg("-u").output().map(|o| stdout(&o).trim() == "0").unwrap_or(false);
    if !is_root {
        println!("not root: the image's root filesystem was not run");
        return;
    }
    assert!(Command::new("tar").arg("-xzf").arg(&blob).arg("-C").arg(&rootfs).status().unwrap().success());
    let ran = Command::new("chroot")
        .arg("--userspec=10001:10001")
        .arg(&rootfs)
        .args(["/usr/local/bin/trainyard", "--version"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap();
    assert!(stdout(&ran).starts_with("trainyard "), "{}{}", stdout(&ran), stderr(&ran));
}
