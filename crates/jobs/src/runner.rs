//! One job's lifecycle: wait for a slot, download, train, upload, finish — with
//! platform-fault retries, stops and `MaxRuntimeInSeconds`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};
use trainyard_objects::S3Uri;
use trainyard_store::{MetricPoint, TrainingJobRecord};

use crate::contract::{self, Layout};
use crate::executor::{self, ProcessSpec, StopReason};
use crate::instances::Limits;
use crate::metrics::{final_metrics, MetricParser};
use crate::request::{CreateTrainingJob, MetricDefinition, Program};
use crate::status::Secondary;
use crate::{Error, Jobs};

/// Why an attempt failed: the user's fault (no retry) or the platform's (retried
/// under `RetryStrategy`).
#[derive(Debug)]
pub(crate) enum Fault {
    Client(String),
    Platform(String),
}

impl From<Error> for Fault {
    fn from(e: Error) -> Fault {
        Fault::Platform(e.to_string())
    }
}

pub(crate) fn object_fault(context: &str, error: trainyard_objects::Error) -> Fault {
    match error {
        trainyard_objects::Error::Store(trainyard_store::Error::NotFound { .. })
        | trainyard_objects::Error::InvalidKey { .. }
        | trainyard_objects::Error::InvalidBucket { .. }
        | trainyard_objects::Error::InvalidUri { .. } => Fault::Client(format!("{context}: {error}")),
        other => Fault::Platform(format!("{context}: {other}")),
    }
}

pub(crate) fn io_fault(context: &Path) -> impl FnOnce(std::io::Error) -> Fault + '_ {
    move |e| Fault::Platform(format!("{}: {e}", context.display()))
}

pub(crate) async fn stop_requested(stop: &mut watch::Receiver<Option<StopReason>>) {
    loop {
        if stop.borrow_and_update().is_some() {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// `s3://bucket/prefix` + `job/output/name` as (bucket, key).
fn output_key(output_path: &str, job: &str, name: &str) -> Option<(String, String)> {
    let uri = S3Uri::parse(output_path).ok()?;
    let prefix = uri.key.trim_end_matches('/');
    let key = if prefix.is_empty() { format!("{job}/output/{name}") } else { format!("{prefix}/{job}/output/{name}") };
    Some((uri.bucket, key))
}

impl Jobs {
    pub(crate) async fn run(&self, name: &str, mut stop: watch::Receiver<Option<StopReason>>) {
        if let Err(e) = self.run_job(name, &mut stop).await {
            tracing::error!(job = name, error = %e, "training job runner failed");
            if let Ok(mut job) = self.inner.store.get_training_job(name).await {
                if !Secondary::parse(&job.secondary_status).is_some_and(Secondary::is_terminal) {
                    job.failure_reason = Some(format!("InternalServerError: {e}"));
                    let _ = self.transition(&mut job, Secondary::Failed, "Training job failed").await;
                }
            }
        }
    }

    async fn run_job(&self, name: &str, stop: &mut watch::Receiver<Option<StopReason>>) -> Result<(), Error> {
        let mut job = self.inner.store.get_training_job(name).await?;
        let _slot = tokio::select! {
            slot = self.inner.slots.acquire() => slot.ok(),
            _ = stop_requested(stop) => {
                return self.transition(&mut job, Secondary::Stopped, "Stopped before it started").await;
            }
        };
        let request: CreateTrainingJob = serde_json::from_value(job.request.clone())
            .map_err(|e| Error::InvalidRequest { problems: vec![format!("stored request: {e}")] })?;
        let built_ins: Vec<&str> = self.inner.config.built_in_algorithms.iter().map(String::as_str).collect();
        let program = request.validate(&built_ins)?;
        let attempts_allowed = 1 + request.retry_strategy.as_ref().map_or(0, |r| i64::from(r.maximum_retry_attempts));
        loop {
            job.attempts += 1;
            match self.attempt(&mut job, &request, &program, stop).await {
                Ok(()) => return Ok(()),
                Err(Fault::Platform(message)) if job.attempts < attempts_allowed => {
                    tracing::warn!(job = name, attempt = job.attempts, %message, "platform fault; retrying");
                    self.transition(
                        &mut job,
                        Secondary::Starting,
                        &format!("Retrying after a platform fault: {message}"),
                    )
                    .await?;
                }
                Err(fault) => {
                    let reason = match fault {
                        Fault::Client(message) => format!("ClientError: {message}"),
                        Fault::Platform(message) => format!("InternalServerError: {message}"),
                    };
                    job.failure_reason = Some(truncate(&reason, 1024));
                    return self.transition(&mut job, Secondary::Failed, "Training job failed").await;
                }
            }
        }
    }

    async fn attempt(
        &self,
        job: &mut TrainingJobRecord,
        request: &CreateTrainingJob,
        program: &Program,
        stop: &mut watch::Receiver<Option<StopReason>>,
    ) -> Result<(), Fault> {
        self.transition(job, Secondary::Downloading, "Downloading input data").await?;
        job.training_start.get_or_insert_with(Utc::now);
        let layout = self.layout(&job.name);
        layout.prepare(request).map_err(io_fault(&layout.root))?;
        let mut dataset = Vec::new();
        for channel in &request.input_data_config {
            let uri = &channel.data_source.s3_data_source.s3_uri;
            dataset.extend(self.download_channel(uri, &layout.channel(&channel.channel_name)).await?);
        }
        job.dataset = json!(dataset);
        // Checked at create; a job queued before a type was refused runs without limits.
        let limits = Limits::of(request.instance_type()).unwrap_or_default();
        let mut spec = self.process_spec(&layout, request, program, &job.arn, &limits).await?;
        spec.limits = limits;
        if stop.borrow().is_some() {
            self.transition(job, Secondary::Stopping, "Stopping the training job").await?;
            return Ok(self.transition(job, Secondary::Stopped, "Training job stopped").await?);
        }
        self.transition(job, Secondary::Training, "Training in progress").await?;
        // A job with a role runs with a fresh session of it, ended when the job ends.
        let session = self.start_session(request.role_arn.as_deref(), &job.name, request.max_runtime_seconds()).await?;
        if let Some(session) = &session {
            spec.environment.extend(session.environment.clone());
        }
        let outcome = self.train(job, request, program, &layout, spec, stop).await;
        self.end_session(session).await;
        let outcome = outcome?;
        let failure = self.read_failure(&layout, &outcome);
        match outcome.stopped {
            Some(reason) => {
                if reason == StopReason::MaxRuntime {
                    self.transition(
                        job,
                        Secondary::MaxRuntimeExceeded,
                        "Training job runtime exceeded MaxRuntimeInSeconds",
                    )
                    .await?;
                } else if job.secondary_status != Secondary::Stopping.as_str() {
                    self.transition(job, Secondary::Stopping, "Stopping the training job").await?;
                }
                // SageMaker keeps what the job saved before it was stopped.
                self.upload_outputs(job, &layout, request).await?;
                self.transition(job, Secondary::Stopped, "Training job stopped").await?;
            }
            None if outcome.exit_code == Some(0) => {
                self.transition(job, Secondary::Uploading, "Uploading generated training model").await?;
                self.upload_outputs(job, &layout, request).await?;
                self.transition(job, Secondary::Completed, "Training job completed").await?;
            }
            None => {
                let _ = self.upload_outputs(job, &layout, request).await;
                job.failure_reason = Some(failure);
                self.transition(job, Secondary::Failed, "Training job failed").await?;
            }
        }
        Ok(())
    }

    /// A session of `role` for a job named `name` (none without a role).
    pub(crate) async fn start_session(
        &self,
        role: Option<&str>,
        name: &str,
        max_runtime: Option<u64>,
    ) -> Result<Option<trainyard_bus::RunSession>, Fault> {
        let Some(role) = role else { return Ok(None) };
        let sessions = self.inner.bus.sessions().ok_or_else(|| {
            Fault::Platform(format!("the job runs as {role}, but this server starts no role sessions"))
        })?;
        let seconds = max_runtime.unwrap_or(3600).max(900);
        sessions
            .start(role, "sagemaker.amazonaws.com", name, seconds)
            .await
            .map(Some)
            .map_err(|e| Fault::Client(format!("cannot assume role {role}: {e}")))
    }

    /// Ends a job's session (its credentials stop working at once).
    pub(crate) async fn end_session(&self, session: Option<trainyard_bus::RunSession>) {
        if let (Some(session), Some(sessions)) = (session, self.inner.bus.sessions()) {
            sessions.end(session).await;
        }
    }

    /// Runs the process, streaming metrics into the store and marking `Stopping` as
    /// soon as a stop is asked for.
    async fn train(
        &self,
        job: &mut TrainingJobRecord,
        request: &CreateTrainingJob,
        program: &Program,
        layout: &Layout,
        spec: ProcessSpec,
        stop: &mut watch::Receiver<Option<StopReason>>,
    ) -> Result<executor::ProcessOutcome, Fault> {
        let mut definitions = request.algorithm_specification.metric_definitions.clone();
        if let (Program::BuiltIn { algorithm }, true) = (program, definitions.is_empty()) {
            definitions = self
                .inner
                .config
                .built_in_metrics
                .iter()
                .filter(|(a, _, _)| a == algorithm)
                .map(|(_, name, regex)| MetricDefinition { name: name.clone(), regex: regex.clone() })
                .collect();
        }
        let parser = Arc::new(MetricParser::new(&definitions));
        let (metrics, mut received) = mpsc::unbounded_channel::<MetricPoint>();
        let store = self.inner.store.clone();
        let job_name = job.name.clone();
        let recorder = tokio::spawn(async move {
            let mut all: Vec<MetricPoint> = Vec::new();
            let mut batch = Vec::new();
            while received.recv_many(&mut batch, 1000).await > 0 {
                let _ = store.add_training_metrics(&job_name, all.len() as i64, &batch).await;
                all.append(&mut batch);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            all
        });
        let store = self.inner.store.clone();
        let pid_job = job.name.clone();
        let on_spawn = move |pid: u32| {
            tokio::spawn(async move {
                let _ = store.set_training_pid(&pid_job, Some(i64::from(pid))).await;
            });
        };
        let max_runtime = request.max_runtime_seconds().map(Duration::from_secs);
        let log = layout.log();
        let run = executor::run(
            &spec,
            &log,
            parser,
            metrics,
            stop.clone(),
            max_runtime,
            self.inner.config.stop_grace,
            on_spawn,
        );
        tokio::pin!(run);
        let mut marked = false;
        let outcome = loop {
            tokio::select! {
                outcome = &mut run => break outcome,
                _ = stop_requested(stop), if !marked => {
                    marked = true;
                    self.transition(job, Secondary::Stopping, "Stopping the training job").await?;
                }
            }
        };
        let outcome = outcome.map_err(|e| Fault::Client(format!("cannot start {}: {e}", spec.program.display())))?;
        let points = recorder.await.unwrap_or_default();
        job.final_metrics = json!(final_metrics(&points));
        Ok(outcome)
    }

    /// `output/failure` (first 1024 characters), else the exit status and the last
    /// lines of stderr.
    fn read_failure(&self, layout: &Layout, outcome: &executor::ProcessOutcome) -> String {
        if let Ok(text) = std::fs::read_to_string(layout.output().join("failure")) {
            if !text.trim().is_empty() {
                return truncate(text.trim(), 1024);
            }
        }
        let status = match outcome.exit_code {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".into(),
        };
        let tail: Vec<&str> = outcome
            .stderr_tail
            .iter()
            .rev()
            .take(5)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        truncate(&format!("AlgorithmError: the training program ended with {status}: {}", tail.join("\n")), 1024)
    }

    /// Copies every object under `uri` into `dir`; returns the dataset snapshot.
    pub(crate) async fn download_channel(&self, uri: &str, dir: &Path) -> Result<Vec<Value>, Fault> {
        let source = S3Uri::parse(uri).map_err(|e| Fault::Client(e.to_string()))?;
        let objects = &self.inner.objects;
        let mut snapshot = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = objects
                .list(&source.bucket, &source.key, None, after.as_deref(), 1000)
                .await
                .map_err(|e| object_fault(uri, e))?;
            for object in &page.contents {
                let relative = object.key[source.key.len()..].trim_start_matches('/');
                let relative =
                    if relative.is_empty() { object.key.rsplit('/').next().unwrap_or(&object.key) } else { relative };
                let target = confined(dir, relative).map_err(Fault::Client)?;
                if let Some(parent) = target.parent() {
                    tokio::fs::create_dir_all(parent).await.map_err(io_fault(parent))?;
                }
                let (record, mut stream) =
                    objects.get(&source.bucket, &object.key, None).await.map_err(|e| object_fault(uri, e))?;
                let mut file = tokio::fs::File::create(&target).await.map_err(io_fault(&target))?;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| object_fault(uri, e))?;
                    file.write_all(&chunk).await.map_err(io_fault(&target))?;
                }
                file.flush().await.map_err(io_fault(&target))?;
                snapshot.push(json!({"Uri": format!("s3://{}/{}", source.bucket, record.key), "ETag": record.etag, "Size": record.size}));
            }
            after = page.contents.last().map(|o| o.key.clone());
            if !page.is_truncated || after.is_none() {
                break;
            }
        }
        if snapshot.is_empty() {
            return Err(Fault::Client(format!("no objects found under {uri}: the channel is empty")));
        }
        Ok(snapshot)
    }

    async fn process_spec(
        &self,
        layout: &Layout,
        request: &CreateTrainingJob,
        program: &Program,
        arn: &str,
        limits: &Limits,
    ) -> Result<ProcessSpec, Fault> {
        let cpus = limits.cpus_on(std::thread::available_parallelism().map_or(1, |n| n.get()));
        let environment = contract::environment(layout, request, arn, cpus);
        match program {
            Program::BuiltIn { algorithm } => {
                let command = &self.inner.config.algorithm_command;
                let (head, rest) =
                    command.split_first().ok_or_else(|| Fault::Platform("no algorithm command".into()))?;
                let mut arguments = rest.to_vec();
                arguments.push(algorithm.clone());
                Ok(ProcessSpec {
                    program: PathBuf::from(head),
                    arguments,
                    working_dir: layout.root.clone(),
                    environment,
                    limits: Limits::default(),
                })
            }
            Program::Script { program, submit_directory } => {
                let tarball = layout.root.join("sourcedir.tar.gz");
                self.download_object(submit_directory, &tarball).await?;
                let code = layout.code();
                let extracted = tokio::task::spawn_blocking({
                    let (tarball, code) = (tarball.clone(), code.clone());
                    move || crate::archive::extract(&tarball, &code)
                })
                .await
                .map_err(|e| Fault::Platform(e.to_string()))?;
                extracted.map_err(|e| Fault::Client(format!("sagemaker_submit_directory {submit_directory}: {e}")))?;
                let entry = confined(&code, program).map_err(Fault::Client)?;
                if !entry.is_file() {
                    return Err(Fault::Client(format!("sagemaker_program {program:?} is not in {submit_directory}")));
                }
                let python = self.python_for(&code, layout).await?;
                let mut arguments = contract::script_arguments(request);
                let interpreter = match entry.extension().and_then(|e| e.to_str()) {
                    Some("py") => Some(PathBuf::from(python)),
                    Some("sh") => Some(PathBuf::from("bash")),
                    _ => None,
                };
                let spec = match interpreter {
                    Some(interpreter) => {
                        arguments.insert(0, entry.display().to_string());
                        ProcessSpec {
                            program: interpreter,
                            arguments,
                            working_dir: code,
                            environment,
                            limits: Limits::default(),
                        }
                    }
                    None => {
                        use std::os::unix::fs::PermissionsExt;
                        let _ = std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o755));
                        ProcessSpec {
                            program: entry,
                            arguments,
                            working_dir: code,
                            environment,
                            limits: Limits::default(),
                        }
                    }
                };
                Ok(spec)
            }
            Program::Image { uri } => {
                let registry = self
                    .inner
                    .registry
                    .get()
                    .ok_or_else(|| Fault::Platform("this server has no registry for TrainingImage".into()))?;
                let image = crate::image::resolve(registry, uri).await?;
                if image.portable {
                    let root = layout.root.join("image");
                    image.unpack(registry, &root).await?;
                    let trainyard =
                        self.inner.config.algorithm_command.first().cloned().unwrap_or_else(|| "trainyard".into());
                    // A requirements.txt in the image's working directory gets a virtual
                    // environment, as script mode's does.
                    let python = self.python_for(&image.working_dir_in(&root), layout).await?;
                    return image.local_process(&root, &python, &trainyard, environment);
                }
                let Some(engine) = crate::image::container_engine().await else {
                    return Err(Fault::Client(format!(
                        "TrainingImage {uri} was not built by `trainyard build`, so it needs a container engine, \
                         and no docker or podman engine answers on this server"
                    )));
                };
                let host = self
                    .inner
                    .bus
                    .config()
                    .endpoint_url
                    .as_deref()
                    .and_then(|url| url.split_once("://").map(|(_, host)| host.trim_end_matches('/').to_string()))
                    .ok_or_else(|| {
                        Fault::Platform("the server's address is unknown to the container executor".into())
                    })?;
                let inside = contract::environment(&Layout::new("/opt/ml".into()), request, arn, cpus);
                Ok(image.container_process(&engine, &host, layout, &request.training_job_name, inside, limits))
            }
        }
    }

    async fn download_object(&self, uri: &S3Uri, target: &Path) -> Result<(), Fault> {
        let (_, mut stream) =
            self.inner.objects.get(&uri.bucket, &uri.key, None).await.map_err(|e| object_fault(&uri.to_string(), e))?;
        let mut file = tokio::fs::File::create(target).await.map_err(io_fault(target))?;
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(|e| object_fault(&uri.to_string(), e))?).await.map_err(io_fault(target))?;
        }
        file.flush().await.map_err(io_fault(target))
    }

    /// The interpreter for a script: the configured python, or a virtual environment
    /// with the source's `requirements.txt` installed (cached by the file's hash).
    async fn python_for(&self, code: &Path, layout: &Layout) -> Result<String, Fault> {
        let python = self.inner.config.python.clone();
        let requirements = code.join("requirements.txt");
        let Ok(content) = std::fs::read(&requirements) else { return Ok(python) };
        use sha2::Digest;
        let hash: String = sha2::Sha256::digest(&content).iter().take(12).map(|b| format!("{b:02x}")).collect();
        let venv = self.inner.config.venv_root.join(&hash);
        let venv_python = venv.join("bin/python");
        if venv.join(".ready").exists() {
            return Ok(venv_python.display().to_string());
        }
        let building = self.inner.config.venv_root.join(format!("{hash}.building-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&building);
        let log = layout.log();
        let steps: [(String, Vec<String>); 2] = [
            (
                python.clone(),
                vec!["-m".into(), "venv".into(), "--system-site-packages".into(), building.display().to_string()],
            ),
            (
                building.join("bin/python").display().to_string(),
                vec![
                    "-m".into(),
                    "pip".into(),
                    "install".into(),
                    "--disable-pip-version-check".into(),
                    "-r".into(),
                    requirements.display().to_string(),
                ],
            ),
        ];
        for (program, arguments) in steps {
            let output = tokio::process::Command::new(&program)
                .args(&arguments)
                .current_dir(code)
                .output()
                .await
                .map_err(|e| Fault::Client(format!("cannot run {program}: {e}")))?;
            let mut file =
                tokio::fs::OpenOptions::new().create(true).append(true).open(&log).await.map_err(io_fault(&log))?;
            let _ = file.write_all(&output.stdout).await;
            let _ = file.write_all(&output.stderr).await;
            if !output.status.success() {
                let _ = std::fs::remove_dir_all(&building);
                let stderr = String::from_utf8_lossy(&output.stderr);
                return Err(Fault::Client(format!(
                    "installing requirements.txt failed: {}",
                    truncate(stderr.trim(), 600)
                )));
            }
        }
        std::fs::write(building.join(".ready"), b"").map_err(io_fault(&building))?;
        // Invariant: a cached environment appears whole (rename) or not at all.
        if std::fs::rename(&building, &venv).is_err() {
            let _ = std::fs::remove_dir_all(&building);
        }
        Ok(venv_python.display().to_string())
    }

    /// Packs `model/` into `model.tar.gz` and `output/data/` into `output.tar.gz`
    /// under `S3OutputPath/<job>/output/`.
    async fn upload_outputs(
        &self,
        job: &mut TrainingJobRecord,
        layout: &Layout,
        request: &CreateTrainingJob,
    ) -> Result<(), Fault> {
        let output_path = &request.output_data_config.s3_output_path;
        for (dir, name, is_model) in
            [(layout.model(), "model.tar.gz", true), (layout.output_data(), "output.tar.gz", false)]
        {
            let has_files = std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(false);
            if !has_files && !is_model {
                continue;
            }
            let tarball = layout.root.join(name);
            let packed = tokio::task::spawn_blocking({
                let (dir, tarball) = (dir.clone(), tarball.clone());
                move || crate::archive::pack(&dir, &tarball)
            })
            .await
            .map_err(|e| Fault::Platform(e.to_string()))?;
            packed.map_err(io_fault(&tarball))?;
            let (bucket, key) = output_key(output_path, &job.name, name)
                .ok_or_else(|| Fault::Client(format!("bad S3OutputPath {output_path}")))?;
            let file = tokio::fs::File::open(&tarball).await.map_err(io_fault(&tarball))?;
            let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
            self.inner
                .objects
                .put(&bucket, &key, "application/gzip", stream)
                .await
                .map_err(|e| object_fault(output_path, e))?;
            if is_model {
                job.model_artifacts = Some(format!("s3://{bucket}/{key}"));
            }
        }
        Ok(())
    }
}

fn confined(root: &Path, relative: &str) -> Result<PathBuf, String> {
    let mut path = root.to_path_buf();
    for segment in relative.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(format!("{relative:?} would leave {}", root.display())),
            part => path.push(part),
        }
    }
    Ok(path)
}

pub(crate) fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keys_follow_sagemaker() {
        let out = |path, name| output_key(path, "j", name);
        assert_eq!(out("s3://bkt/out", "model.tar.gz"), Some(("bkt".into(), "out/j/output/model.tar.gz".into())));
        assert_eq!(out("s3://bkt/out/", "x"), Some(("bkt".into(), "out/j/output/x".into())));
        assert_eq!(out("s3://bkt", "x"), Some(("bkt".into(), "j/output/x".into())));
    }

    #[test]
    fn confinement() {
        assert!(confined(Path::new("/r"), "a/../../x").is_err());
        assert_eq!(confined(Path::new("/r"), "a/b").unwrap(), PathBuf::from("/r/a/b"));
    }
}
