//! Sources through the real binary: a git repository followed by polling and by a signed
//! GitHub webhook, one Git Push event per move, none repeated after a restart.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::jobs::run;
use crate::process::ServerProcess;

pub fn git(repo: &Path, args: &[&str]) -> String {
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

/// A new repository at `repo` on branch `main`, with one commit of a README.
pub fn new_repository(repo: &Path) {
    std::fs::create_dir_all(repo).unwrap();
    git(repo, &["init", "--quiet", "--initial-branch", "main"]);
    std::fs::write(repo.join("README"), "a model\n").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "--quiet", "-m", "first"]);
}

fn commit(repo: &Path, message: &str) -> String {
    std::fs::write(repo.join("train.py"), message).unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "--quiet", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

/// The `after` of every Git Push event, oldest first.
fn pushes(data_dir: &Path) -> Vec<String> {
    let listed: Value =
        serde_json::from_str(&run(data_dir, &["events", "list", "--detail-type", "Git Push", "-o", "json"])).unwrap();
    let mut afters: Vec<String> = listed["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"]["after"].as_str().or(e["Event"]["detail"]["after"].as_str()).unwrap().to_string())
        .collect();
    afters.reverse();
    afters
}

fn wait_for_pushes(data_dir: &Path, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = pushes(data_dir);
        if seen.len() >= count {
            return seen;
        }
        assert!(Instant::now() < deadline, "{count} pushes never arrived: {seen:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_followed_branch_announces_commits_from_polls_and_signed_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let (data_dir, repo) = (dir.path().join("data"), dir.path().join("repo"));
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet", "--initial-branch", "main"]);
    commit(&repo, "first");
    let mut server = ServerProcess::start(&data_dir);
    let repo_url = repo.display().to_string();
    run(&data_dir, &["sources", "add", "churn", "--git", &repo_url, "--poll", "1s", "--webhook-secret", "s3cret"]);

    let second = commit(&repo, "second");
    assert_eq!(wait_for_pushes(&data_dir, 1), std::slice::from_ref(&second));

    // GitHub's webhook: refused unsigned (401, no event), acted on once when signed.
    let client = reqwest::blocking::Client::new();
    let after = "c".repeat(40);
    let body = json!({"ref": "refs/heads/main", "before": second, "after": after,
                      "repository": {"clone_url": repo_url}, "commits": []})
    .to_string();
    let deliver = |signature: Option<String>, delivery: &str| {
        let mut request = client
            .post(format!("{}/hooks/github", server.url.trim_end_matches('/')))
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", delivery)
            .header("Content-Type", "application/json")
            .body(body.clone());
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        request.send().unwrap()
    };
    let refused = deliver(None, "d-1");
    assert_eq!(refused.status(), 401);
    let wrong = deliver(Some(trainyard_source::signature::sign("not the secret", body.as_bytes())), "d-1");
    assert_eq!(wrong.status(), 401);
    let signed = trainyard_source::signature::sign("s3cret", body.as_bytes());
    let accepted = deliver(Some(signed.clone()), "d-2");
    assert_eq!(accepted.status(), 200);
    let duplicate: Value = deliver(Some(signed), "d-2").json().unwrap();
    assert_eq!(duplicate["Duplicate"], true);
    assert_eq!(wait_for_pushes(&data_dir, 2), [second.clone(), after.clone()]);

    // A restart repeats nothing; the next commit is announced once.
    assert!(server.terminate().success());
    let _server = ServerProcess::start(&data_dir);
    let third = commit(&repo, "third");
    let seen = wait_for_pushes(&data_dir, 3);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(pushes(&data_dir), seen);
    assert_eq!(seen, [second, after, third]);
    let described: Value = serde_json::from_str(&run(&data_dir, &["sources", "describe", "churn"])).unwrap();
    assert_eq!(described["Webhook"], true);
    assert!(described.get("WebhookSecret").is_none(), "the secret is never shown");
}
