//! Builds of real directories: reproducible digests, ignore files, what the layer holds,
//! and `skopeo` reading the layout.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use trainyard_build::{build, ImageConfig};

mod unpack;

fn context(dir: &Path) {
    std::fs::create_dir_all(dir.join("src/__pycache__")).unwrap();
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    std::fs::write(dir.join("train.py"), "print('training')\n").unwrap();
    std::fs::write(dir.join("src/model.py"), "x = 1\n").unwrap();
    std::fs::write(dir.join("src/__pycache__/model.pyc"), "junk").unwrap();
    std::fs::write(dir.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(dir.join("secret.env"), "TOKEN=1\n").unwrap();
    std::fs::write(dir.join(".trainyardignore"), "**/__pycache__\nsecret.env\n").unwrap();
    std::fs::write(dir.join("run.sh"), "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("run.sh"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).unwrap();
}

fn config() -> ImageConfig {
    ImageConfig {
        entrypoint: vec!["python3".into(), "train.py".into()],
        cmd: vec![],
        env: vec!["PYTHONUNBUFFERED=1".into()],
        working_dir: "/opt/program".into(),
        labels: [("org.opencontainers.image.revision".to_string(), "abc123".to_string())].into(),
        ..ImageConfig::default()
    }
}

/// The layer's entries: (path, mode, uid, mtime, kind).
fn layer_entries(layout: &Path, digest: &str) -> Vec<(String, u32, u64, u64, u8)> {
    let file = std::fs::File::open(layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let header = e.header().clone();
            let mut sink = Vec::new();
            e.read_to_end(&mut sink).unwrap();
            (
                e.path().unwrap().display().to_string(),
                header.mode().unwrap(),
                header.uid().unwrap(),
                header.mtime().unwrap(),
                header.entry_type().as_byte(),
            )
        })
        .collect()
}

#[test]
fn the_same_context_gives_the_same_digest_and_the_layer_holds_what_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let (source, layout) = (dir.path().join("ctx"), dir.path().join("layout"));
    context(&source);
    let first = build(&source, &config(), &layout, "v1").unwrap();
    // Touch every file: timestamps must not matter.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(source.join("train.py"), "print('training')\n").unwrap();
    let second = build(&source, &config(), &dir.path().join("layout2"), "v1").unwrap();
    assert_eq!(first, second, "reproducible");
    std::fs::write(source.join("train.py"), "print('more training')\n").unwrap();
    let changed = build(&source, &config(), &layout, "v2").unwrap();
    assert_ne!(changed.manifest_digest, first.manifest_digest);

    let entries = layer_entries(&layout, &first.layer_digest);
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "opt/",
            "opt/program/",
            "opt/program/.trainyardignore",
            "opt/program/link",
            "opt/program/run.sh",
            "opt/program/src/",
            "opt/program/src/model.py",
            "opt/program/train.py"
        ]
    );
    assert!(entries.iter().all(|e| e.2 == 0 && e.3 == 0), "owner and time are zero: {entries:?}");
    let mode = |name: &str| entries.iter().find(|e| e.0 == name).unwrap().1;
    assert_eq!((mode("opt/program/run.sh"), mode("opt/program/train.py")), (0o755, 0o644));
    assert_eq!(entries.iter().find(|e| e.0 == "opt/program/link").unwrap().4, b'2', "a link stays a link");

    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["v1", "v2"]);
    assert!(build(&source, &ImageConfig { working_dir: "relative".into(), ..config() }, &layout, "x").is_err());
}

#[test]
fn skopeo_reads_the_layout() {
    if Command::new("skopeo").arg("--version").output().is_err() {
        println!("skipped: skopeo is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (source, layout) = (dir.path().join("ctx"), dir.path().join("layout"));
    context(&source);
    let built = build(&source, &config(), &layout, "latest").unwrap();
    let out = Command::new("skopeo").args(["inspect", &format!("oci:{}:latest", layout.display())]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inspected["Digest"], built.manifest_digest.as_str());
    assert_eq!(inspected["Layers"][0], built.layer_digest.as_str());
    assert_eq!(inspected["Labels"]["org.opencontainers.image.revision"], "abc123");
    // A copy verifies every digest on the way.
    let copy = dir.path().join("copy");
    let out = Command::new("skopeo")
        .args(["copy", &format!("oci:{}:latest", layout.display()), &format!("dir:{}", copy.display())])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
