//! The build loop: announced pushes without a build are built, one at a time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::watch;
use trainyard_build::ImageConfig;
use trainyard_bus::EventBus;
use trainyard_registry::Registry;
use trainyard_source::Sources;
use trainyard_store::{BuildRecord, Store};

use crate::{spec, Error};

const EVENT_SOURCE: &str = "aws.codebuild";
const DETAIL_TYPE: &str = "CodeBuild Build State Change";
const TICK: Duration = Duration::from_millis(250);
/// What a skipped build says when the commit has a Dockerfile.
const DOCKERFILE_ONLY: &str = "; its Dockerfile is for a container engine (docker build, or \
    docker/build-push-action in CI, pushing to this registry); add a build section to build it here without one";

pub struct BuildsConfig {
    /// Build logs (`<id>.log`) and scratch directories (`<id>/`).
    pub dir: PathBuf,
    pub account: String,
    pub region: String,
}

/// The build service. Cheap to clone.
#[derive(Clone)]
pub struct Builds {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    bus: EventBus,
    sources: Sources,
    registry: Registry,
    config: BuildsConfig,
    // Invariant: one build pass at a time, so a push is never picked up by two.
    pass: tokio::sync::Mutex<()>,
}

/// How a build ended.
enum Outcome {
    Succeeded { repository: String, digest: String, tags: Vec<String> },
    Skipped(String),
    Failed(String),
}

impl Builds {
    pub fn new(store: Store, bus: EventBus, sources: Sources, registry: Registry, config: BuildsConfig) -> Builds {
        let pass = tokio::sync::Mutex::new(());
        Builds { inner: Arc::new(Inner { store, bus, sources, registry, config, pass }) }
    }

    fn arn(&self, build: &BuildRecord) -> String {
        let c = &self.inner.config;
        format!("arn:aws:codebuild:{}:{}:build/{}:{}", c.region, c.account, build.source, build.id)
    }

    fn log_path(&self, id: &str) -> PathBuf {
        self.inner.config.dir.join(format!("{id}.log"))
    }

    /// Builds every announced push that has no build, and re-runs builds a previous
    /// process left `IN_PROGRESS` (a build is reproducible, so the image is the same).
    /// Returns how many builds ran.
    pub async fn build_pending(&self) -> Result<usize, Error> {
        let _one_pass = self.inner.pass.lock().await;
        let mut count = 0;
        for build in self.inner.store.list_builds(None, Some("IN_PROGRESS"), 1000).await? {
            self.run_build(build).await?;
            count += 1;
        }
        for push in self.inner.store.unbuilt_pushes().await? {
            let build = BuildRecord {
                id: uuid::Uuid::new_v4().to_string(),
                push_id: Some(push.id),
                source: push.source,
                branch: push.branch,
                commit: push.commit,
                status: "IN_PROGRESS".into(),
                reason: None,
                repository: None,
                image_digest: None,
                tags: Vec::new(),
                started_at: Utc::now(),
                ended_at: None,
            };
            match self.inner.store.create_build(&build).await {
                Ok(()) => {}
                Err(trainyard_store::Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
            self.run_build(build).await?;
            count += 1;
        }
        Ok(count)
    }

    /// Runs the build loop until `stopped`.
    pub async fn run(&self, mut stopped: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stopped.changed() => return,
            }
            if *stopped.borrow() {
                return;
            }
            if let Err(e) = self.build_pending().await {
                tracing::warn!(error = %e, "build pass failed");
            }
        }
    }

    async fn run_build(&self, mut build: BuildRecord) -> Result<(), Error> {
        let log_path = self.log_path(&build.id);
        std::fs::create_dir_all(&self.inner.config.dir)
            .map_err(|source| Error::Log { path: log_path.display().to_string(), source })?;
        let mut log = Log::open(&log_path)?;
        log.line(&format!("build {} of {} at {} ({})", build.id, build.source, build.commit, build.branch));
        let scratch = self.inner.config.dir.join(&build.id);
        let outcome = self.build_commit(&build, &scratch, &mut log).await;
        let _ = std::fs::remove_dir_all(&scratch);
        build.ended_at = Some(Utc::now());
        match outcome {
            Outcome::Succeeded { repository, digest, tags } => {
                log.line(&format!("pushed {repository}@{digest} as {}", tags.join(", ")));
                build.status = "SUCCEEDED".into();
                build.repository = Some(repository);
                build.image_digest = Some(digest);
                build.tags = tags;
            }
            Outcome::Skipped(reason) => {
                log.line(&format!("skipped: {reason}"));
                build.status = "SKIPPED".into();
                build.reason = Some(reason);
            }
            Outcome::Failed(reason) => {
                log.line(&format!("failed: {reason}"));
                build.status = "FAILED".into();
                build.reason = Some(reason);
            }
        }
        self.inner.store.finish_build(&build).await?;
        if build.status != "SKIPPED" {
            self.emit(&build).await;
        }
        Ok(())
    }

    async fn build_commit(&self, build: &BuildRecord, scratch: &Path, log: &mut Log) -> Outcome {
        let _ = std::fs::remove_dir_all(scratch);
        if let Err(e) = std::fs::create_dir_all(scratch) {
            return Outcome::Failed(format!("scratch directory: {e}"));
        }
        let tarball = scratch.join("source.tar");
        if let Err(e) = self.inner.sources.archive(&build.source, &build.commit, &tarball).await {
            return Outcome::Failed(format!("export of {}: {e}", build.commit));
        }
        let tree = scratch.join("tree");
        let unpacked = tokio::task::spawn_blocking({
            let (tarball, tree) = (tarball.clone(), tree.clone());
            move || {
                std::fs::File::open(&tarball)
                    .map_err(|e| e.to_string())
                    .and_then(|file| trainyard_build::unpack_layer(file, &tree).map_err(|e| e.to_string()))
            }
        })
        .await;
        match unpacked {
            Ok(Ok(files)) => log.line(&format!("exported {files} entries of {}", build.commit)),
            Ok(Err(e)) => return Outcome::Failed(format!("unpacking the commit: {e}")),
            Err(e) => return Outcome::Failed(format!("unpacking the commit: {e}")),
        }
        let dockerfile = if tree.join("Dockerfile").is_file() { DOCKERFILE_ONLY } else { "" };
        let text = match std::fs::read_to_string(tree.join("trainyard.yaml")) {
            Ok(text) => text,
            Err(_) => return Outcome::Skipped(format!("the commit has no trainyard.yaml{dockerfile}")),
        };
        let spec = match spec::parse(&text) {
            Ok(Some(spec)) => spec,
            Ok(None) => return Outcome::Skipped(format!("trainyard.yaml has no build section{dockerfile}")),
            Err(e) => {
                self.emit(build).await;
                return Outcome::Failed(format!("trainyard.yaml: {e}"));
            }
        };
        self.emit(build).await;
        let repository = spec.repository.clone().unwrap_or_else(|| build.source.to_lowercase());
        if let Err(e) = trainyard_registry::validate_repository(&repository) {
            return Outcome::Failed(format!("build.repository: {e}"));
        }
        let context = tree.join(&spec.context);
        if !context.is_dir() {
            return Outcome::Failed(format!("build.context {:?} is not a directory of the commit", spec.context));
        }
        let config = ImageConfig {
            entrypoint: spec.entrypoint.as_ref().map(spec::Command::words).unwrap_or_default(),
            cmd: spec.cmd.as_ref().map(spec::Command::words).unwrap_or_default(),
            env: spec.env.iter().map(|(k, v)| format!("{k}={}", v.text())).collect(),
            working_dir: spec.working_dir.clone(),
            labels: spec
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.text()))
                .chain([("org.opencontainers.image.revision".to_string(), build.commit.clone())])
                .collect(),
            ..ImageConfig::default()
        };
        let layout = scratch.join("image");
        let built = tokio::task::spawn_blocking({
            let (context, layout, tag) = (context.clone(), layout.clone(), build.commit.clone());
            move || trainyard_build::build(&context, &config, &layout, &tag)
        })
        .await;
        let built = match built {
            Ok(Ok(built)) => built,
            Ok(Err(e)) => return Outcome::Failed(format!("image build: {e}")),
            Err(e) => return Outcome::Failed(format!("image build: {e}")),
        };
        log.line(&format!("built {} ({} files, layer {} bytes)", built.manifest_digest, built.files, built.layer_size));
        let tags = vec![build.commit.clone(), branch_tag(&build.branch)];
        match self.inner.registry.import_layout(&layout, &build.commit, &repository, &tags).await {
            Ok(digest) => Outcome::Succeeded { repository, digest: digest.to_string(), tags },
            Err(e) => Outcome::Failed(format!("push to {repository}: {e}")),
        }
    }

    async fn emit(&self, build: &BuildRecord) {
        let url = self.inner.store.get_source(&build.source).await.map(|s| s.url).unwrap_or_default();
        let complete = build.status != "IN_PROGRESS";
        let mut information = json!({
            "build-complete": complete,
            "source-version": build.commit,
            "source": {"type": "GIT", "location": url, "branch": build.branch},
            "build-start-time": build.started_at,
            "logs": {"deep-link": format!("/api/v1/builds/{}/logs", build.id)},
        });
        if let (Some(repository), Some(digest)) = (&build.repository, &build.image_digest) {
            information["image"] = json!({"repository": repository, "digest": digest, "tags": build.tags});
        }
        if let Some(reason) = &build.reason {
            information["reason"] = json!(reason);
        }
        let detail = json!({
            "build-status": build.status,
            "project-name": build.source,
            "build-id": self.arn(build),
            "current-phase": if complete { "COMPLETED" } else { "BUILD" },
            "additional-information": information,
            "version": "1",
        });
        if let Err(e) = self.inner.bus.emit(EVENT_SOURCE, DETAIL_TYPE, detail, vec![self.arn(build)]).await {
            tracing::error!(build = %build.id, error = %e, "could not put the CodeBuild event");
        }
    }

    fn describe_record(&self, build: &BuildRecord) -> Value {
        json!({
            "Id": build.id,
            "Arn": self.arn(build),
            "Source": build.source,
            "Branch": build.branch,
            "SourceVersion": build.commit,
            "BuildStatus": build.status,
            "Reason": build.reason,
            "Repository": build.repository,
            "ImageDigest": build.image_digest,
            "ImageTags": build.tags,
            "StartTime": build.started_at,
            "EndTime": build.ended_at,
        })
    }

    pub async fn list(&self, source: Option<&str>) -> Result<Value, Error> {
        let builds = self.inner.store.list_builds(source, None, 1000).await?;
        Ok(json!({"Builds": builds.iter().map(|b| self.describe_record(b)).collect::<Vec<_>>()}))
    }

    pub async fn describe(&self, id: &str) -> Result<Value, Error> {
        Ok(self.describe_record(&self.inner.store.get_build(id).await?))
    }

    /// The build's log so far.
    pub async fn logs(&self, id: &str) -> Result<String, Error> {
        self.inner.store.get_build(id).await?;
        let path = self.log_path(id);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(source) => Err(Error::Log { path: path.display().to_string(), source }),
        }
    }
}

/// A branch as a tag: characters a tag cannot hold become `-`.
fn branch_tag(branch: &str) -> String {
    let tag: String = branch
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '-' })
        .take(128)
        .collect();
    if tag.starts_with(['.', '-']) {
        format!("_{}", &tag[..tag.len().min(127)])
    } else {
        tag
    }
}

/// A build's log file, appended line by line with timestamps.
struct Log {
    file: std::fs::File,
}

impl Log {
    fn open(path: &Path) -> Result<Log, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Log { path: path.display().to_string(), source })?;
        Ok(Log { file })
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(self.file, "{} {text}", Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"));
    }
}

#[cfg(test)]
mod tests {
    use super::branch_tag;

    #[test]
    fn branches_become_valid_tags() {
        assert_eq!(branch_tag("main"), "main");
        assert_eq!(branch_tag("feature/new-model"), "feature-new-model");
        assert_eq!(branch_tag("-x"), "_-x");
        assert!(trainyard_registry::validate_tag(&branch_tag(&"a/".repeat(100))).is_ok());
    }
}
