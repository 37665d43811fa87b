//! Builds against a real git repository, a real SQLite store and the real registry: a
//! followed commit becomes an image tagged with its id and branch, the same tree gives the
//! same digest, CodeBuild and ECR events mark the way, mistakes fail the build with the
//! line at fault, and commits without a build section are skipped.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use trainyard_builder::{Builds, BuildsConfig};
use trainyard_bus::{BusConfig, EventBus};
use trainyard_registry::{Backend, Reference, Registry};
use trainyard_source::{AddSource, Sources, SourcesConfig};
use trainyard_store::{EventFilter, Store};

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commit(repo: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (name, content) in files {
        let path = repo.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    git(repo, &["add", "."]);
    git(repo, &["commit", "--quiet", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

struct Harness {
    store: Store,
    sources: Sources,
    registry: Registry,
    builds: Builds,
    repo: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).await.unwrap();
    let bus = EventBus::open(store.clone(), BusConfig::default()).await.unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet", "--initial-branch", "main"]);
    commit(&repo, &[("README", "churn model")], "first");
    let config = SourcesConfig {
        mirrors: dir.path().join("mirrors"),
        account: "000000000000".into(),
        region: "local".into(),
        sealer: trainyard_auth::Sealer::from_key(&[3; 32]),
    };
    let sources = Sources::new(store.clone(), bus.clone(), config);
    let backend = Backend::Files { root: dir.path().join("blobs") };
    let registry = Registry::new(store.clone(), bus.clone(), backend, dir.path().join("uploads")).unwrap();
    let config =
        BuildsConfig { dir: dir.path().join("builds"), account: "000000000000".into(), region: "local".into() };
    let builds = Builds::new(store.clone(), bus, sources.clone(), registry.clone(), config);
    Harness { store, sources, registry, builds, repo, _dir: dir }
}

fn add(name: &str, url: &str) -> AddSource {
    serde_json::from_value(json!({"Name": name, "Url": url, "Branch": "main", "PollIntervalSeconds": 3600})).unwrap()
}

async fn events(store: &Store, detail_type: &str) -> Vec<Value> {
    let filter = EventFilter { detail_type: Some(detail_type.into()), limit: 1000, ..Default::default() };
    let mut events: Vec<Value> =
        store.list_events(&filter).await.unwrap().into_iter().map(|e| e.event["detail"].clone()).collect();
    events.reverse();
    events
}

const PIPELINE: &str = "name: churn\nbuild:\n  context: src\n  entrypoint: python3 train.py\n  env:\n    EPOCHS: 3\n  labels:\n    team: ml\n";

#[tokio::test]
async fn a_followed_commit_becomes_an_image_tagged_with_its_id_and_branch() {
    let h = harness().await;
    let url = h.repo.display().to_string();
    h.sources.add(add("churn", &url)).await.unwrap();
    let head = commit(
        &h.repo,
        &[("trainyard.yaml", PIPELINE), ("src/train.py", "print('hi')\n"), ("notes.txt", "x")],
        "add a model",
    );
    h.sources.poll("churn").await.unwrap();
    assert_eq!(h.builds.build_pending().await.unwrap(), 1);
    assert_eq!(h.builds.build_pending().await.unwrap(), 0, "a push is built once");

    let listed = h.builds.list(Some("churn")).await.unwrap();
    let build = &listed["Builds"][0];
    assert_eq!(build["BuildStatus"], "SUCCEEDED", "{build:#}");
    assert_eq!(build["SourceVersion"], head.as_str());
    assert_eq!(build["ImageTags"], json!([head, "main"]));
    let digest = build["ImageDigest"].as_str().unwrap().to_string();
    let image = h.registry.image("churn", &Reference::Tag("main".into())).await.unwrap();
    assert_eq!(image.record.digest, digest);
    let config = &image.config.unwrap()["config"];
    assert_eq!(config["Entrypoint"], json!(["python3", "train.py"]));
    assert_eq!(config["Env"], json!(["EPOCHS=3"]));
    assert_eq!(config["Labels"]["team"], "ml");
    assert_eq!(config["Labels"]["org.opencontainers.image.revision"], head.as_str());
    let log = h.builds.logs(build["Id"].as_str().unwrap()).await.unwrap();
    assert!(log.contains("exported") && log.contains("pushed churn@"), "{log}");

    let states: Vec<String> = events(&h.store, "CodeBuild Build State Change")
        .await
        .iter()
        .map(|e| e["build-status"].as_str().unwrap().into())
        .collect();
    assert_eq!(states, ["IN_PROGRESS", "SUCCEEDED"]);
    let done = events(&h.store, "CodeBuild Build State Change").await.pop().unwrap();
    assert_eq!(done["additional-information"]["image"]["digest"], digest.as_str());
    assert_eq!(done["project-name"], "churn");
    let pushes: Vec<String> =
        events(&h.store, "ECR Image Action").await.iter().map(|e| e["image-tag"].as_str().unwrap().into()).collect();
    assert_eq!(pushes, [head.as_str(), "main"]);

    // The same commit built twice (by two sources following it) gives one digest; files
    // outside the context leave the layer as it was.
    h.sources.add(add("churn-copy", &url)).await.unwrap();
    let notes = commit(&h.repo, &[("notes.txt", "outside the context")], "notes only");
    h.sources.poll("churn").await.unwrap();
    h.sources.poll("churn-copy").await.unwrap();
    assert_eq!(h.builds.build_pending().await.unwrap(), 2);
    let first = &h.builds.list(Some("churn")).await.unwrap()["Builds"][0];
    let second = &h.builds.list(Some("churn-copy")).await.unwrap()["Builds"][0];
    assert_eq!(first["SourceVersion"], notes.as_str());
    assert_eq!(first["ImageDigest"], second["ImageDigest"], "reproducible");
    assert_ne!(first["ImageDigest"], digest.as_str(), "the revision label names the commit");
    let layers = |image: trainyard_registry::Image| image.manifest.layers[0].digest.clone();
    let before = layers(h.registry.image("churn", &Reference::Tag(head.clone())).await.unwrap());
    let after = layers(h.registry.image("churn", &Reference::Tag(notes.clone())).await.unwrap());
    assert_eq!(before, after, "files outside the context change nothing");
}

#[tokio::test]
async fn mistakes_fail_the_build_and_commits_without_a_build_section_are_skipped() {
    let h = harness().await;
    h.sources.add(add("churn", &h.repo.display().to_string())).await.unwrap();
    commit(&h.repo, &[("trainyard.yaml", "name: churn\n"), ("Dockerfile", "FROM python:3.11\n")], "no build section");
    h.sources.poll("churn").await.unwrap();
    h.builds.build_pending().await.unwrap();
    let skipped = &h.builds.list(None).await.unwrap()["Builds"][0];
    assert_eq!(skipped["BuildStatus"], "SKIPPED");
    assert!(skipped["Reason"].as_str().unwrap().contains("Dockerfile is for a container engine"), "{skipped:#}");
    assert!(events(&h.store, "CodeBuild Build State Change").await.is_empty(), "a skipped build is no news");

    commit(&h.repo, &[("trainyard.yaml", "build:\n  context: .\n  entrypont: python3 train.py\n")], "typo");
    h.sources.poll("churn").await.unwrap();
    h.builds.build_pending().await.unwrap();
    let failed = &h.builds.list(None).await.unwrap()["Builds"][0];
    assert_eq!(failed["BuildStatus"], "FAILED");
    let reason = failed["Reason"].as_str().unwrap();
    assert!(reason.contains("line 3") && reason.contains("entrypont"), "{reason}");
    let states: Vec<String> = events(&h.store, "CodeBuild Build State Change")
        .await
        .iter()
        .map(|e| e["build-status"].as_str().unwrap().into())
        .collect();
    assert_eq!(states, ["IN_PROGRESS", "FAILED"]);

    commit(&h.repo, &[("trainyard.yaml", "build:\n  context: missing\n")], "no such context");
    h.sources.poll("churn").await.unwrap();
    h.builds.build_pending().await.unwrap();
    let failed = &h.builds.list(None).await.unwrap()["Builds"][0];
    assert!(failed["Reason"].as_str().unwrap().contains("is not a directory"), "{failed:#}");
}
