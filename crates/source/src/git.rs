//! The git command line, run as a child process against a bare mirror per source.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use tokio::process::Command;

use crate::Error;

/// One commit, as a `Git Push` event lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commit {
    pub id: String,
    pub message: String,
    pub timestamp: String,
    pub author: Author,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// The most commits one push event lists (as GitHub: the newest ones).
pub const MAX_COMMITS: usize = 100;

/// Checks a repository location: an absolute local path, `file://`, `http://` or
/// `https://`. Nothing that git could read as an option or a transport helper.
pub fn check_url(url: &str) -> Result<(), String> {
    let ok =
        url.starts_with('/') || url.starts_with("file://") || url.starts_with("http://") || url.starts_with("https://");
    if !ok || url.contains("::") || url.chars().any(char::is_whitespace) {
        return Err(format!("{url:?}: expected an absolute path, file://, http:// or https:// URL"));
    }
    Ok(())
}

/// `location` joined to `base` when it is a relative local path (not absolute, not a URL,
/// not git's `host:path`), with `.` and `..` taken out; `None` otherwise, or when `base` is
/// not absolute.
pub fn resolve_local(location: &str, base: &Path) -> Option<String> {
    let first = location.split('/').next().unwrap_or_default();
    if location.is_empty() || location.starts_with('/') || first.contains(':') || !base.is_absolute() {
        return None;
    }
    let mut path = PathBuf::new();
    for part in base.join(location).components() {
        match part {
            Component::ParentDir => {
                path.pop();
            }
            Component::CurDir => {}
            other => path.push(other),
        }
    }
    Some(path.to_string_lossy().into_owned())
}

/// Checks a branch name (git's rules, simplified to what is safe on a command line).
pub fn check_branch(branch: &str) -> Result<(), String> {
    let ok = !branch.is_empty()
        && !branch.starts_with(['-', '/', '.'])
        && !branch.ends_with(['/', '.'])
        && !branch.contains("..")
        && !branch.contains("//")
        && branch.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("{branch:?} is not a usable branch name"))
    }
}

/// The longest a git command may take; a remote that stalls fails the poll, not the loop.
const GIT_TIMEOUT: Duration = Duration::from_secs(300);

async fn git(mirror: &Path, args: &[&str]) -> Result<String, Error> {
    let run = Command::new("git")
        .arg("--git-dir")
        .arg(mirror)
        // A transfer slower than 1 KiB/s for 30 s is abandoned.
        .args(["-c", "http.lowSpeedLimit=1024", "-c", "http.lowSpeedTime=30"])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(GIT_TIMEOUT, run)
        .await
        .map_err(|_| Error::Git { command: args.join(" "), message: format!("no answer in {GIT_TIMEOUT:?}") })?
        .map_err(|e| Error::Git { command: args.join(" "), message: e.to_string() })?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(Error::Git { command: args.join(" "), message });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Fetches `branch` of `url` into the bare mirror (created on first use); returns the
/// branch's head.
pub async fn fetch(mirror: &Path, url: &str, branch: &str) -> Result<String, Error> {
    if !mirror.join("HEAD").exists() {
        tokio::fs::create_dir_all(mirror)
            .await
            .map_err(|e| Error::Git { command: "init".into(), message: e.to_string() })?;
        git(mirror, &["init", "--bare", "--quiet"]).await?;
    }
    let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
    git(mirror, &["fetch", "--quiet", "--no-tags", "--", url, &refspec]).await?;
    Ok(git(mirror, &["rev-parse", &format!("refs/heads/{branch}")]).await?.trim().to_string())
}

/// Writes the tree of `commit` as a tar file at `target` (`git archive`).
pub async fn archive(mirror: &Path, commit: &str, target: &Path) -> Result<(), Error> {
    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Git { command: "archive".into(), message: format!("{commit:?} is not a commit id") });
    }
    let output = format!("--output={}", target.display());
    git(mirror, &["archive", "--format=tar", &output, commit]).await.map(|_| ())
}

/// The commits after `before` up to `after`, oldest first (the newest `MAX_COMMITS`).
/// With no `before` (or one the history no longer has), just `after`.
pub async fn commits(mirror: &Path, before: Option<&str>, after: &str) -> Result<Vec<Commit>, Error> {
    let format = "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%B%x1e";
    let limit = format!("--max-count={MAX_COMMITS}");
    let known = match before {
        Some(b) => git(mirror, &["cat-file", "-e", &format!("{b}^{{commit}}")]).await.is_ok(),
        None => false,
    };
    let text = match before {
        Some(b) if known => git(mirror, &["log", format, &limit, &format!("{b}..{after}")]).await?,
        _ => git(mirror, &["log", format, "--max-count=1", after]).await?,
    };
    let mut commits: Vec<Commit> = text
        .split('\x1e')
        .filter_map(|record| {
            let fields: Vec<&str> = record.trim_matches(['\n', '\r']).splitn(5, '\x1f').collect();
            let [id, name, email, timestamp, message] = fields.as_slice() else { return None };
            Some(Commit {
                id: id.to_string(),
                message: message.trim().to_string(),
                timestamp: timestamp.to_string(),
                author: Author { name: name.to_string(), email: email.to_string() },
            })
        })
        .collect();
    commits.reverse();
    Ok(commits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_branches() {
        for good in ["/srv/repo", "file:///srv/repo.git", "https://github.com/acme/churn.git"] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in ["-uhack", "ext::sh -c touch% /tmp/x", "relative/path", "ssh://host/repo", "git@host:repo"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        for good in ["main", "release/1.2", "feature_x-y"] {
            assert!(check_branch(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "a..b", "a b", "a/", "/a"] {
            assert!(check_branch(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_base() {
        let base = Path::new("/home/ana/work");
        let resolved = |l: &str| resolve_local(l, base);
        assert_eq!(resolved("repo").as_deref(), Some("/home/ana/work/repo"));
        assert_eq!(resolved("./repo/").as_deref(), Some("/home/ana/work/repo"));
        assert_eq!(resolved("../other/./repo").as_deref(), Some("/home/ana/other/repo"));
        assert_eq!(resolved(".").as_deref(), Some("/home/ana/work"));
        assert_eq!(resolved("-uhack").as_deref(), Some("/home/ana/work/-uhack"));
        for kept in ["/srv/repo", "file:///srv/repo", "https://h/r.git", "git@host:repo", "ext::sh", ""] {
            assert_eq!(resolved(kept), None, "{kept}");
        }
        assert_eq!(resolve_local("repo", Path::new("relative")), None);
        assert!(check_url(&resolved("../r").unwrap()).is_ok());
    }
}
