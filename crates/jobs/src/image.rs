//! `TrainingImage`: an image from the platform's registry. Images made by `trainyard
//! build` (one layer of source under a working directory) are unpacked safely into the
//! job's directory and run on the local executor; any other image (a Dockerfile build
//! with an OS in it) needs a container engine, `docker` or `podman`, which runs it with
//! the job's directory mounted at `/opt/ml`.
//!
//! Either way the process is started as SageMaker starts a container: the image's
//! entrypoint with the single argument `train` (or, without an entrypoint, the
//! program `train` on the image's `PATH`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use serde_json::Value;
use trainyard_registry::{ImageName, Reference, Registry};

use crate::contract::Layout;
use crate::executor::ProcessSpec;
use crate::instances::Limits;
use crate::runner::Fault;

/// The history entry `trainyard build` writes; an image made only of such layers needs
/// no container engine.
const BUILT_BY_TRAINYARD: &str = "trainyard build";
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An image resolved in the registry, with its runtime config.
pub(crate) struct ResolvedImage {
    pub name: ImageName,
    pub digest: String,
    layers: Vec<trainyard_registry::Digest>,
    entrypoint: Vec<String>,
    env: Vec<String>,
    working_dir: String,
    /// Made by `trainyard build`: runs on the local executor.
    pub portable: bool,
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect()
}

/// Finds `uri` in the registry (any registry host in it is the platform's own), choosing
/// the linux/amd64 image of an index.
pub(crate) async fn resolve(registry: &Registry, uri: &str) -> Result<ResolvedImage, Fault> {
    let name = ImageName::parse(uri).map_err(|e| Fault::Client(format!("TrainingImage {uri:?}: {e}")))?;
    let not_found = |e: trainyard_registry::Error| match e {
        trainyard_registry::Error::ManifestUnknown { .. } | trainyard_registry::Error::NameUnknown { .. } => {
            Fault::Client(format!(
                "TrainingImage {uri} is not in the trainyard registry: push it first (trainyard build --push, \
                 docker push or skopeo copy)"
            ))
        }
        other => Fault::Platform(format!("TrainingImage {uri}: {other}")),
    };
    let mut image = registry.image(&name.repository, &name.reference).await.map_err(not_found)?;
    if image.manifest.is_index() {
        let index: Value = serde_json::from_slice(&image.record.content).unwrap_or(Value::Null);
        let entries = index["manifests"].as_array().cloned().unwrap_or_default();
        let linux_amd64 = |m: &Value| {
            m["platform"]["os"].as_str() == Some("linux") && m["platform"]["architecture"].as_str() == Some("amd64")
        };
        let position = match entries.iter().position(linux_amd64) {
            Some(position) => position,
            // An index that names no platforms at all: its first image.
            None if entries.iter().all(|m| m.get("platform").is_none()) && !entries.is_empty() => 0,
            None => return Err(Fault::Client(format!("TrainingImage {uri} has no linux/amd64 image"))),
        };
        let chosen = &image.manifest.manifests[position];
        let reference = Reference::Digest(chosen.digest.clone());
        image = registry.image(&name.repository, &reference).await.map_err(not_found)?;
        if image.manifest.is_index() {
            return Err(Fault::Client(format!("TrainingImage {uri} is an index of indexes")));
        }
    }
    let config = image.config.unwrap_or(Value::Null);
    let runtime = &config["config"];
    let history = config["history"].as_array().cloned().unwrap_or_default();
    let portable = !history.is_empty()
        && history.iter().all(|h| h["created_by"].as_str() == Some(BUILT_BY_TRAINYARD))
        && image.manifest.layers.len() == 1;
    Ok(ResolvedImage {
        name,
        digest: image.record.digest,
        layers: image.manifest.layers.iter().map(|l| l.digest.clone()).collect(),
        entrypoint: strings(&runtime["Entrypoint"]),
        env: strings(&runtime["Env"]),
        working_dir: runtime["WorkingDir"].as_str().filter(|w| !w.is_empty()).unwrap_or("/").to_string(),
        portable,
    })
}

impl ResolvedImage {
    /// The argument vector SageMaker's `docker run IMAGE train` gives (`train` replaces
    /// the image's `Cmd`).
    fn argv(&self) -> Vec<String> {
        let mut argv = self.entrypoint.clone();
        argv.push("train".into());
        argv
    }

    fn image_path(&self) -> String {
        self.env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH).to_string()
    }

    /// Unpacks the layers into `root` (every escape refused by `unpack_layer`).
    pub async fn unpack(&self, registry: &Registry, root: &Path) -> Result<(), Fault> {
        std::fs::create_dir_all(root).map_err(|e| Fault::Platform(format!("create {}: {e}", root.display())))?;
        for layer in &self.layers {
            let stream = registry
                .open_blob(&self.name.repository, layer)
                .await
                .map_err(|e| Fault::Platform(format!("read layer {layer}: {e}")))?;
            let reader = tokio_util::io::StreamReader::new(stream.map_err(std::io::Error::other));
            let root = root.to_path_buf();
            let unpacked = tokio::task::spawn_blocking(move || {
                trainyard_build::unpack_layer(tokio_util::io::SyncIoBridge::new(reader), &root)
            })
            .await
            .map_err(|e| Fault::Platform(e.to_string()))?;
            unpacked.map_err(|e| Fault::Client(format!("TrainingImage {} layer {layer}: {e}", self.name)))?;
        }
        Ok(())
    }

    /// The process for the local executor: the image unpacked under `root`, absolute paths
    /// the image holds mapped into it, `python`/`python3` the platform's interpreter. A
    /// path of the image's config with a `..` in it is refused.
    pub fn local_process(
        &self,
        root: &Path,
        python: &str,
        trainyard: &str,
        contract: BTreeMap<String, String>,
    ) -> Result<ProcessSpec, Fault> {
        let climbs = |path: &str| path.split('/').any(|part| part == "..");
        let mut named =
            self.entrypoint.iter().chain([&self.working_dir]).map(String::as_str).chain(self.image_path_entries());
        if let Some(bad) = named.find(|path| climbs(path)) {
            return Err(Fault::Client(format!("TrainingImage {}: {bad:?} leaves the image's file system", self.name)));
        }
        let inside = |path: &str| -> Option<PathBuf> {
            let relative = path.strip_prefix('/')?;
            let mapped = root.join(relative);
            (mapped.exists() || mapped.symlink_metadata().is_ok()).then_some(mapped)
        };
        let image_path: Vec<PathBuf> =
            self.image_path().split(':').filter(|d| !d.is_empty()).filter_map(inside).collect();
        let mut argv = self.argv();
        let program = argv.remove(0);
        let program = match program.as_str() {
            "python" | "python3" => PathBuf::from(python),
            // An image may call the built-in algorithms: `trainyard algorithm gbdt`.
            "trainyard" => PathBuf::from(trainyard),
            absolute if absolute.starts_with('/') => inside(absolute).unwrap_or_else(|| PathBuf::from(absolute)),
            name if !name.contains('/') => image_path
                .iter()
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
                .unwrap_or_else(|| PathBuf::from(name)),
            relative => PathBuf::from(relative),
        };
        let arguments = argv.into_iter().map(|a| inside(&a).map_or(a, |p| p.display().to_string())).collect();
        let mut environment: BTreeMap<String, String> =
            self.env.iter().filter_map(|e| e.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect();
        let host_path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.into());
        let mut path: Vec<String> = image_path.iter().map(|p| p.display().to_string()).collect();
        path.push(host_path);
        environment.insert("PATH".into(), path.join(":"));
        environment.extend(contract);
        let working_dir = root.join(self.working_dir.trim_start_matches('/'));
        Ok(ProcessSpec { program, arguments, working_dir, environment, limits: Limits::default() })
    }

    /// The image's working directory under `root`.
    pub fn working_dir_in(&self, root: &Path) -> PathBuf {
        root.join(self.working_dir.trim_start_matches('/'))
    }

    fn image_path_entries(&self) -> impl Iterator<Item = &str> {
        self.env.iter().filter_map(|e| e.strip_prefix("PATH=")).flat_map(|p| p.split(':'))
    }

    /// The process for a container engine: `ENGINE run` of the image pulled by digest from
    /// this server's registry at `registry_host` (the engine must be logged in to it), with
    /// the job's directory at `/opt/ml` and the contract's variables as the container sees
    /// them.
    pub fn container_process(
        &self,
        engine: &Path,
        registry_host: &str,
        layout: &Layout,
        name: &str,
        contract: BTreeMap<String, String>,
        limits: &Limits,
    ) -> ProcessSpec {
        let mut arguments = vec![
            "run".to_string(),
            "--rm".into(),
            "--name".into(),
            format!("trainyard-{name}"),
            "--network".into(),
            "none".into(),
            "-v".into(),
            format!("{}:/opt/ml", layout.root.display()),
        ];
        if let Some(cpus) = limits.cpus {
            arguments.extend(["--cpus".into(), cpus.to_string()]);
        }
        if let Some(bytes) = limits.memory_bytes {
            arguments.extend(["--memory".into(), format!("{bytes}b")]);
        }
        for (key, value) in contract {
            arguments.push("-e".into());
            arguments.push(format!("{key}={value}"));
        }
        arguments.push(format!("{registry_host}/{}@{}", self.name.repository, self.digest));
        arguments.push("train".into());
        ProcessSpec {
            program: engine.to_path_buf(),
            arguments,
            working_dir: layout.root.clone(),
            environment: BTreeMap::new(),
            limits: Limits::default(),
        }
    }
}

/// A container engine that answers: `docker` or `podman` on `PATH` whose `info` succeeds.
pub(crate) async fn container_engine() -> Option<PathBuf> {
    for engine in ["docker", "podman"] {
        let found = std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .map(|dir| Path::new(dir).join(engine))
            .find(|candidate| candidate.is_file());
        let Some(path) = found else { continue };
        let info = tokio::process::Command::new(&path)
            .arg("info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if let Ok(Ok(status)) = tokio::time::timeout(std::time::Duration::from_secs(10), info).await {
            if status.success() {
                return Some(path);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(entrypoint: &[&str], env: &[&str], working_dir: &str) -> ResolvedImage {
        ResolvedImage {
            name: ImageName::parse("team/train:v1").unwrap(),
            digest: "sha256:00".into(),
            layers: Vec::new(),
            entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|s| s.to_string()).collect(),
            working_dir: working_dir.into(),
            portable: true,
        }
    }

    #[test]
    fn paths_map_into_the_image_and_never_out_of_it() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("opt/program")).unwrap();
        std::fs::write(root.path().join("opt/program/train.py"), "").unwrap();
        let contract = BTreeMap::from([("SM_MODEL_DIR".to_string(), "/jobs/x/model".to_string())]);
        let spec = image(&["python3", "/opt/program/train.py"], &["A=1"], "/opt/program")
            .local_process(root.path(), "/venv/bin/python", "/bin/trainyard", contract.clone())
            .unwrap();
        assert_eq!(spec.program, PathBuf::from("/venv/bin/python"));
        assert_eq!(spec.arguments, [root.path().join("opt/program/train.py").display().to_string(), "train".into()]);
        assert_eq!(spec.working_dir, root.path().join("opt/program"));
        assert_eq!(spec.environment["A"], "1");
        assert_eq!(spec.environment["SM_MODEL_DIR"], "/jobs/x/model");
        for escaping in [
            image(&["/../../bin/sh"], &[], "/"),
            image(&["python3"], &[], "/opt/../../.."),
            image(&["train"], &["PATH=/../../usr/bin"], "/"),
        ] {
            let refused = escaping.local_process(root.path(), "python3", "trainyard", contract.clone());
            assert!(
                matches!(refused, Err(Fault::Client(ref m)) if m.contains("leaves the image")),
                "{:?}",
                refused.err()
            );
        }
    }
}
