//! The README's server commands as a newcomer types them: from a fresh working directory,
//! the server with no `--data-dir`, the CLI finding it through a relative
//! `TRAINYARD_DATA_DIR`, and relative repository and file paths everywhere.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::process::{binary, stderr, stdout, ServerProcess};
use crate::sources::git;

/// The CLI run in `cwd` as the README has it (`export TRAINYARD_DATA_DIR=.trainyard`).
fn cli_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(cwd)
        .env("TRAINYARD_DATA_DIR", ".trainyard")
        .env_remove("TRAINYARD_ENDPOINT")
        .env_remove("TRAINYARD_TOKEN")
        .output()
        .unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "{}{}", stdout(output), stderr(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_server_and_cli_work_from_a_fresh_directory_with_relative_paths() {
    let cwd = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_in(cwd.path());
    // The default data directory is in the working directory, private to its owner.
    let data = server.data_dir.clone();
    assert_eq!(data, cwd.path().join(".trainyard"));
    assert!(data.join("admin.token").is_file() && data.join("server.url").is_file());
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for file in ["trainyard.db", "trainyard.db-wal", "admin.token", "server.url"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }

    // A repository given relative to the working directory.
    let repo = cwd.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "--quiet", "--initial-branch", "main"]);
    std::fs::write(repo.join("README.md"), "hello\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "first"]);
    let added =
        json_of(&cli_in(cwd.path(), &["-o", "json", "sources", "add", "app", "--git", "./repo", "--poll", "1h"]));
    assert_eq!(added["Url"], repo.display().to_string());
    let polled = cli_in(cwd.path(), &["sources", "poll", "app"]);
    assert!(polled.status.success(), "{}{}", stdout(&polled), stderr(&polled));

    // A trainyard.yaml whose repository is relative to the file's own directory.
    let spec = crate::pipelines::PIPELINE.replacen("name: fraud\n", "name: fraud\nsource:\n  git: .\n", 1);
    std::fs::write(repo.join("trainyard.yaml"), spec).unwrap();
    let applied = cli_in(cwd.path(), &["apply", "-f", "repo/trainyard.yaml"]);
    assert!(applied.status.success(), "{}{}", stdout(&applied), stderr(&applied));
    let source = json_of(&cli_in(cwd.path(), &["-o", "json", "sources", "describe", "fraud"]));
    assert_eq!(source["Url"], repo.display().to_string());

    // Files given relative to the working directory, both ways.
    std::fs::write(cwd.path().join("rows.csv"), "1,2\n").unwrap();
    for args in [
        &["data", "mb", "s3://newcomer"][..],
        &["data", "put", "rows.csv", "s3://newcomer/in/rows.csv"],
        &["data", "get", "s3://newcomer/in/rows.csv", "copy.csv"],
    ] {
        let output = cli_in(cwd.path(), args);
        assert!(output.status.success(), "{args:?}: {}{}", stdout(&output), stderr(&output));
    }
    assert_eq!(std::fs::read_to_string(cwd.path().join("copy.csv")).unwrap(), "1,2\n");
}
