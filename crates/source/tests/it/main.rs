//! Sources against real git repositories made in the test: polling, signed webhooks,
//! duplicates, one announcement per commit across restarts.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use trainyard_bus::{BusConfig, EventBus};
use trainyard_source::{signature, AddSource, Sources, SourcesConfig, Webhook};
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

fn commit(repo: &Path, file: &str, message: &str) -> String {
    std::fs::write(repo.join(file), message).unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "--quiet", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

struct Harness {
    store: Store,
    bus: EventBus,
    dir: tempfile::TempDir,
    repo: std::path::PathBuf,
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        let bus = EventBus::open(store.clone(), BusConfig::default()).await.unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "--quiet", "--initial-branch", "main"]);
        commit(&repo, "train.py", "first");
        Harness { store, bus, dir, repo }
    }

    fn sources(&self) -> Sources {
        let config = SourcesConfig {
            mirrors: self.dir.path().join("mirrors"),
            account: "000000000000".into(),
            region: "local".into(),
            sealer: trainyard_auth::Sealer::from_key(&[3; 32]),
        };
        Sources::new(self.store.clone(), self.bus.clone(), config)
    }

    async fn pushes(&self) -> Vec<Value> {
        let filter = EventFilter { detail_type: Some("Git Push".into()), limit: 1000, ..Default::default() };
        let mut events: Vec<Value> =
            self.store.list_events(&filter).await.unwrap().into_iter().map(|e| e.event).collect();
        events.reverse();
        events
    }
}

fn add(name: &str, url: &str, poll: Option<u64>, secret: Option<&str>) -> AddSource {
    serde_json::from_value(json!({"Name": name, "Url": url, "Branch": "main", "PollIntervalSeconds": poll,
                                  "WebhookSecret": secret}))
    .unwrap()
}

#[tokio::test]
async fn polling_announces_each_commit_once_even_across_restarts() {
    let h = Harness::start().await;
    let sources = h.sources();
    let url = h.repo.display().to_string();
    let added = sources.add(add("churn", &url, Some(30), None)).await.unwrap();
    let first = git(&h.repo, &["rev-parse", "HEAD"]);
    assert_eq!(added["Head"], first.as_str(), "following starts at the current head");
    assert_eq!(sources.poll("churn").await.unwrap()["Moved"], false);
    assert!(h.pushes().await.is_empty());

    let second = commit(&h.repo, "train.py", "second: more trees");
    let third = commit(&h.repo, "eval.py", "third");
    let polled = sources.poll("churn").await.unwrap();
    assert_eq!((polled["Moved"].clone(), polled["Commits"].clone()), (json!(true), json!(2)));
    let pushes = h.pushes().await;
    assert_eq!(pushes.len(), 1);
    let event = &pushes[0];
    assert_eq!((event["source"].as_str(), event["detail-type"].as_str()), (Some("trainyard.source"), Some("Git Push")));
    let detail = &event["detail"];
    assert_eq!((detail["before"].as_str(), detail["after"].as_str()), (Some(first.as_str()), Some(third.as_str())));
    assert_eq!(detail["ref"], "refs/heads/main");
    let ids: Vec<&str> = detail["commits"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [second.as_str(), third.as_str()]);
    assert_eq!(detail["commits"][0]["message"], "second: more trees");
    assert_eq!(detail["commits"][0]["author"]["email"], "ada@example.com");
    assert_eq!(event["resources"][0], "arn:aws:trainyard:local:000000000000:source/churn");

    // A restarted service (new process, same store) announces nothing twice.
    let restarted = h.sources();
    restarted.announce().await.unwrap();
    assert_eq!(restarted.poll("churn").await.unwrap()["Moved"], false);
    assert_eq!(h.pushes().await.len(), 1);

    // A push recorded but not announced before a crash is announced after it, once.
    let fourth = commit(&h.repo, "train.py", "fourth");
    let detail = json!({"source": "churn", "after": fourth, "commits": []});
    assert!(h.store.record_push("churn", Some(third.as_str()), &fourth, &detail, chrono::Utc::now()).await.unwrap());
    let after_crash = h.sources();
    after_crash.announce().await.unwrap();
    after_crash.announce().await.unwrap();
    let pushes = h.pushes().await;
    assert_eq!(pushes.len(), 2);
    assert_eq!(pushes[1]["detail"]["after"], fourth.as_str());
    assert_eq!(after_crash.poll("churn").await.unwrap()["Moved"], false);

    // A force push back to an earlier commit is a move too.
    git(&h.repo, &["reset", "--quiet", "--hard", &third]);
    assert_eq!(after_crash.poll("churn").await.unwrap()["Moved"], true);
    let pushes = h.pushes().await;
    assert_eq!(pushes.len(), 3);
    assert_eq!(
        (pushes[2]["detail"]["before"].as_str(), pushes[2]["detail"]["after"].as_str()),
        (Some(fourth.as_str()), Some(third.as_str()))
    );
}

#[tokio::test]
async fn signed_webhooks_act_once_and_unsigned_ones_not_at_all() {
    let h = Harness::start().await;
    let sources = h.sources();
    let url = "https://github.com/acme/churn.git";
    // A webhook-only source still needs a readable repository: use the local one's URL in
    // the store, and the GitHub URL the payloads carry.
    sources.add(add("hooked", &h.repo.display().to_string(), None, Some("It's a Secret to Everybody"))).await.unwrap();
    let mut record = h.store.get_source("hooked").await.unwrap();
    let stored = record.webhook_secret.clone().unwrap();
    assert!(stored.starts_with("sealed:v1:") && !stored.contains("Secret"), "stored in clear: {stored}");
    record.url = url.into();
    h.store.delete_source("hooked").await.unwrap();
    h.store.create_source(&record).await.unwrap();

    let head = record.head.clone().unwrap();
    let payload = json!({
        "ref": "refs/heads/main", "before": head, "after": "b".repeat(40),
        "repository": {"clone_url": url, "html_url": "https://github.com/acme/churn", "full_name": "acme/churn"},
        "commits": [{"id": "b".repeat(40), "message": "from GitHub", "timestamp": "2026-11-27T10:00:00Z",
                     "author": {"name": "Ada", "email": "ada@example.com"}}]
    })
    .to_string();
    let good = signature::sign("It's a Secret to Everybody", payload.as_bytes());
    let hook = |delivery: &'static str, signature: Option<&'static str>| Webhook {
        event: Some("push"),
        delivery: Some(delivery),
        signature,
        body: payload.as_bytes(),
    };
    let bad = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert!(matches!(sources.github(hook("d-0", None)).await, Err(trainyard_source::Error::BadSignature)));
    assert!(matches!(sources.github(hook("d-0", Some(bad))).await, Err(trainyard_source::Error::BadSignature)));
    assert!(h.pushes().await.is_empty(), "nothing from an unsigned delivery");

    let good: &'static str = Box::leak(good.into_boxed_str());
    let answer = sources.github(hook("d-1", Some(good))).await.unwrap();
    assert_eq!(answer["Sources"], json!(["hooked"]));
    let again = sources.github(hook("d-1", Some(good))).await.unwrap();
    assert_eq!(again["Duplicate"], true);
    let redelivered = sources.github(hook("d-2", Some(good))).await.unwrap();
    assert_eq!(redelivered["Sources"], json!([]), "the same push under a new delivery id moves nothing");
    let pushes = h.pushes().await;
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0]["detail"]["after"], "b".repeat(40));
    assert_eq!(pushes[0]["detail"]["trigger"], "webhook");
    assert_eq!(pushes[0]["detail"]["commits"][0]["message"], "from GitHub");
}

#[tokio::test]
async fn secrets_an_older_version_stored_in_clear_are_sealed_and_still_verify() {
    let h = Harness::start().await;
    let sources = h.sources();
    sources.add(add("legacy", &h.repo.display().to_string(), Some(60), Some("plain-secret"))).await.unwrap();
    let mut record = h.store.get_source("legacy").await.unwrap();
    record.webhook_secret = Some("plain-secret".into());
    h.store.update_source(&record, None).await.unwrap();
    assert!(sources.has_webhook_secret(&record, Some("plain-secret")));
    assert_eq!(sources.seal_stored_secrets().await.unwrap(), 1);
    assert_eq!(sources.seal_stored_secrets().await.unwrap(), 0, "sealed once");
    let record = h.store.get_source("legacy").await.unwrap();
    assert!(record.webhook_secret.as_deref().unwrap().starts_with("sealed:v1:"));
    assert!(sources.has_webhook_secret(&record, Some("plain-secret")));
    assert!(!sources.has_webhook_secret(&record, Some("other")));
}

#[tokio::test]
async fn bad_sources_are_refused() {
    let h = Harness::start().await;
    let sources = h.sources();
    let url = h.repo.display().to_string();
    for (request, words) in [
        (add("x", "-uhack", Some(30), None), "absolute path"),
        (add("x", "relative", Some(30), None), "absolute path"),
        (add("x", &url, None, None), "poll interval, a webhook secret"),
        (add("x", &url, Some(0), None), "1-86400"),
        (add("x", "/nonexistent/repo", Some(30), None), "cannot read branch"),
    ] {
        let error = sources.add(request).await.unwrap_err().to_string();
        assert!(error.contains(words), "{error}");
    }
    let mut wrong_branch = add("x", &url, Some(30), None);
    wrong_branch.branch = "nope".into();
    assert!(sources.add(wrong_branch).await.unwrap_err().to_string().contains("cannot read branch nope"));
    sources.add(add("x", &url, Some(30), None)).await.unwrap();
    assert!(sources.add(add("x", &url, Some(30), None)).await.is_err(), "names are unique");
    sources.delete("x").await.unwrap();
    assert!(sources.describe("x").await.is_err());
}
