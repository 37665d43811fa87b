//! `trainyard build` through the real binary: the same directory, the same digest.

use std::process::Command;

use crate::process::{binary, stderr, stdout};

fn build(args: &[&str]) -> std::process::Output {
    Command::new(binary()).arg("build").args(args).output().unwrap()
}

#[test]
fn a_directory_builds_into_the_same_image_twice() {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("train.py"), "print('hi')\n").unwrap();
    let (context, layout) = (context.to_str().unwrap(), dir.path().join("image"));
    let layout = layout.to_str().unwrap();
    let flags = ["--layout", layout, "--entrypoint", "python3 train.py", "--env", "A=1", "--label", "commit=abc"];
    let first = build(&[&[context], &flags[..], &["--tag", "a"]].concat());
    assert!(first.status.success(), "{}", stderr(&first));
    let digest = stdout(&first).trim().to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    let second = build(&[&[context], &flags[..], &["--tag", "b"]].concat());
    assert_eq!(stdout(&second).trim(), digest, "reproducible");
    let bad = build(&[context, "--layout", layout, "--env", "NOEQUALS"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("expected NAME=VALUE"), "{}", stderr(&bad));
    let relative = build(&[context, "--layout", layout, "--workdir", "app"]);
    assert_eq!(relative.status.code(), Some(2), "{}", stderr(&relative));
}
