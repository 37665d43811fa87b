//! One processing job's run: wait for a slot, download the inputs, run the program,
//! upload the outputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use trainyard_objects::S3Uri;
use trainyard_store::ProcessingJobRecord;

use super::request::{CreateProcessingJob, Program};
use super::Status;
use crate::executor::{self, ProcessSpec, StopReason};
use crate::instances::Limits;
use crate::metrics::MetricParser;
use crate::runner::{io_fault, object_fault, stop_requested, truncate, Fault};
use crate::{Error, Jobs};

/// A processing job's directory: the host's image of the container's `/opt/ml`.
pub(crate) struct Layout {
    pub root: PathBuf,
}

impl Layout {
    /// Invariant: processing jobs live under `.processing/`, which no training job name
    /// (they start with a letter or digit) can reach.
    pub fn new(jobs_root: &Path, name: &str) -> Layout {
        Layout { root: jobs_root.join(".processing").join(name) }
    }

    pub fn log(&self) -> PathBuf {
        self.root.join("output.log")
    }

    /// Rewrites a container path to this job's directory: a value that starts with
    /// `/opt/ml/`, or the value of an `--option=/opt/ml/...` argument. Nothing else (an
    /// `s3://bucket/opt/ml/x` stays as it is).
    pub fn map(&self, text: &str) -> String {
        let root = format!("{}/", self.root.display());
        if let Some(rest) = text.strip_prefix("/opt/ml/") {
            return format!("{root}{rest}");
        }
        match text.split_once("=/opt/ml/") {
            Some((option, rest)) if option.starts_with('-') && !option.contains('/') => {
                format!("{option}={root}{rest}")
            }
            _ => text.to_string(),
        }
    }

    /// Empty `processing/`, `config/` and `output/`, and the config files SageMaker
    /// gives a processing container.
    fn prepare(&self, request: &CreateProcessingJob) -> std::io::Result<()> {
        for dir in ["processing", "config", "output"] {
            let _ = std::fs::remove_dir_all(self.root.join(dir));
            std::fs::create_dir_all(self.root.join(dir))?;
        }
        let config = serde_json::to_vec_pretty(request).unwrap_or_default();
        std::fs::write(self.root.join("config/processingjobconfig.json"), config)?;
        let resources = json!({"current_host": "algo-1", "hosts": ["algo-1"]});
        std::fs::write(self.root.join("config/resourceconfig.json"), resources.to_string())
    }
}

fn variable(prefix: &str, name: &str) -> String {
    format!("{prefix}{}", name.to_uppercase().replace(['-', '.'], "_"))
}

impl Jobs {
    pub(crate) async fn run_processing(&self, name: &str, mut stop: watch::Receiver<Option<StopReason>>) {
        if let Err(e) = self.run_processing_job(name, &mut stop).await {
            tracing::error!(job = name, error = %e, "processing job runner failed");
            if let Ok(mut job) = self.inner.store.get_processing_job(name).await {
                if !Status::parse(&job.status).is_some_and(Status::is_terminal) {
                    job.failure_reason = Some(format!("InternalServerError: {e}"));
                    let _ = self.move_processing(&mut job, Status::Failed).await;
                }
            }
        }
    }

    async fn run_processing_job(
        &self,
        name: &str,
        stop: &mut watch::Receiver<Option<StopReason>>,
    ) -> Result<(), Error> {
        let mut job = self.inner.store.get_processing_job(name).await?;
        let _slot = tokio::select! {
            slot = self.inner.slots.acquire() => slot.ok(),
            _ = stop_requested(stop) => return self.move_processing(&mut job, Status::Stopped).await,
        };
        let request: CreateProcessingJob = serde_json::from_value(job.request.clone())
            .map_err(|e| Error::InvalidRequest { problems: vec![format!("stored request: {e}")] })?;
        let program = request.validate()?;
        job.processing_start = Some(Utc::now());
        self.inner.store.update_processing_job(&job).await?;
        match self.process(&mut job, &request, &program, stop).await {
            Ok(()) => Ok(()),
            Err(fault) => {
                let reason = match fault {
                    Fault::Client(message) => format!("ClientError: {message}"),
                    Fault::Platform(message) => format!("InternalServerError: {message}"),
                };
                job.failure_reason = Some(truncate(&reason, 1024));
                let next = if job.status == Status::Stopping.as_str() { Status::Stopped } else { Status::Failed };
                self.move_processing(&mut job, next).await
            }
        }
    }

    async fn process(
        &self,
        job: &mut ProcessingJobRecord,
        request: &CreateProcessingJob,
        program: &Program,
        stop: &mut watch::Receiver<Option<StopReason>>,
    ) -> Result<(), Fault> {
        let layout = Layout::new(&self.inner.config.root, &job.name);
        layout.prepare(request).map_err(io_fault(&layout.root))?;
        let mut dataset: Vec<Value> = Vec::new();
        for input in &request.processing_inputs {
            let Some(s3) = &input.s3_input else { continue };
            let target = PathBuf::from(layout.map(&request.input_path(input)));
            tokio::fs::create_dir_all(&target).await.map_err(io_fault(&target))?;
            dataset.extend(self.download_channel(&s3.s3_uri, &target).await?);
        }
        job.dataset = json!(dataset);
        self.inner.store.update_processing_job(job).await.map_err(|e| Fault::Platform(e.to_string()))?;
        for output in request.outputs() {
            if let Some(s3) = &output.s3_output {
                let dir = PathBuf::from(layout.map(&s3.local_path));
                tokio::fs::create_dir_all(&dir).await.map_err(io_fault(&dir))?;
            }
        }
        let mut spec = self.processing_spec(&layout, request, program, &job.arn)?;
        spec.limits = Limits::of(request.instance_type()).unwrap_or_default();
        if stop.borrow().is_some() {
            self.move_processing(job, Status::Stopping).await?;
            return Ok(self.move_processing(job, Status::Stopped).await?);
        }
        let store = self.inner.store.clone();
        let pid_job = job.name.clone();
        let on_spawn = move |pid: u32| {
            tokio::spawn(async move {
                let _ = store.set_processing_pid(&pid_job, Some(i64::from(pid))).await;
            });
        };
        let session = self.start_session(request.role_arn.as_deref(), &job.name, request.max_runtime_seconds()).await?;
        if let Some(session) = &session {
            spec.environment.extend(session.environment.clone());
        }
        let (metrics, _) = mpsc::unbounded_channel();
        let log = layout.log();
        let run = executor::run(
            &spec,
            &log,
            Arc::new(MetricParser::new(&[])),
            metrics,
            stop.clone(),
            request.max_runtime_seconds().map(Duration::from_secs),
            self.inner.config.stop_grace,
            on_spawn,
        );
        tokio::pin!(run);
        let outcome = loop {
            tokio::select! {
                outcome = &mut run => break outcome,
                _ = stop_requested(stop), if job.status != Status::Stopping.as_str() => {
                    self.move_processing(job, Status::Stopping).await?;
                }
            }
        };
        self.end_session(session).await;
        let outcome = outcome.map_err(|e| Fault::Client(format!("cannot start {}: {e}", spec.program.display())))?;
        job.exit_message = read_limited(&layout.root.join("output/message"));
        match outcome.stopped {
            Some(reason) => {
                if job.status != Status::Stopping.as_str() {
                    self.move_processing(job, Status::Stopping).await?;
                }
                if reason == StopReason::MaxRuntime {
                    job.failure_reason = Some("ClientError: the job ran past MaxRuntimeInSeconds".into());
                }
                // As SageMaker does, what the job wrote before it was stopped is kept.
                let _ = self.upload_processing_outputs(&layout, request).await;
                self.move_processing(job, Status::Stopped).await?;
            }
            None if outcome.exit_code == Some(0) => {
                self.upload_processing_outputs(&layout, request).await?;
                self.move_processing(job, Status::Completed).await?;
            }
            None => {
                let failure = read_limited(&layout.root.join("output/failure")).unwrap_or_else(|| {
                    let status = outcome.exit_code.map_or("a signal".to_string(), |c| format!("exit code {c}"));
                    let tail = outcome.stderr_tail.iter().rev().take(5).rev().cloned().collect::<Vec<_>>().join("\n");
                    format!("AlgorithmError: the processing program ended with {status}: {tail}")
                });
                job.failure_reason = Some(truncate(&failure, 1024));
                self.move_processing(job, Status::Failed).await?;
            }
        }
        Ok(())
    }

    fn processing_spec(
        &self,
        layout: &Layout,
        request: &CreateProcessingJob,
        program: &Program,
        arn: &str,
    ) -> Result<ProcessSpec, Fault> {
        let mut environment: BTreeMap<String, String> = BTreeMap::new();
        environment.insert("SM_PROCESSING_ROOT".into(), layout.map("/opt/ml/processing/").trim_end_matches('/').into());
        environment.insert("PROCESSING_JOB_NAME".into(), request.processing_job_name.clone());
        environment.insert("PROCESSING_JOB_ARN".into(), arn.into());
        for input in &request.processing_inputs {
            environment.insert(variable("SM_CHANNEL_", &input.input_name), layout.map(&request.input_path(input)));
        }
        for output in request.outputs() {
            if let Some(s3) = &output.s3_output {
                environment.insert(variable("SM_PROCESSING_OUTPUT_", &output.output_name), layout.map(&s3.local_path));
            }
        }
        for (key, value) in &request.environment {
            environment.insert(key.clone(), layout.map(value));
        }
        let spec = &request.app_specification;
        let arguments = spec.container_arguments.iter().flatten().map(|a| layout.map(a));
        let (program, arguments): (PathBuf, Vec<String>) = match program {
            Program::Evaluator => {
                let (head, rest) = self
                    .inner
                    .config
                    .evaluator_command
                    .split_first()
                    .ok_or_else(|| Fault::Platform("no evaluator command".into()))?;
                (PathBuf::from(head), rest.iter().cloned().chain(arguments).collect())
            }
            Program::Entrypoint => {
                let entrypoint = spec.container_entrypoint.clone().unwrap_or_default();
                let (head, rest) = entrypoint.split_first().ok_or_else(|| Fault::Client("empty entrypoint".into()))?;
                let head = match head.as_str() {
                    "python" | "python3" => PathBuf::from(&self.inner.config.python),
                    "bash" | "sh" => PathBuf::from(head),
                    delivered => {
                        let path = PathBuf::from(layout.map(delivered));
                        use std::os::unix::fs::PermissionsExt;
                        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
                        path
                    }
                };
                (head, rest.iter().map(|a| layout.map(a)).chain(arguments).collect())
            }
        };
        Ok(ProcessSpec { program, arguments, working_dir: layout.root.clone(), environment, limits: Limits::default() })
    }

    /// Uploads every regular file under each output's `LocalPath` to its `S3Uri`
    /// (symbolic links are never followed).
    async fn upload_processing_outputs(&self, layout: &Layout, request: &CreateProcessingJob) -> Result<(), Fault> {
        for output in request.outputs() {
            let Some(s3) = &output.s3_output else { continue };
            let destination = S3Uri::parse(&s3.s3_uri).map_err(|e| Fault::Client(e.to_string()))?;
            let dir = PathBuf::from(layout.map(&s3.local_path));
            let files = tokio::task::spawn_blocking({
                let dir = dir.clone();
                move || crate::archive::regular_files(&dir)
            })
            .await
            .map_err(|e| Fault::Platform(e.to_string()))?
            .map_err(io_fault(&dir))?;
            let prefix = destination.key.trim_end_matches('/');
            for file in files {
                let relative = file.strip_prefix(&dir).map_err(|e| Fault::Platform(e.to_string()))?;
                let relative = relative.to_string_lossy();
                let key = if prefix.is_empty() { relative.to_string() } else { format!("{prefix}/{relative}") };
                let reader = tokio::fs::File::open(&file).await.map_err(io_fault(&file))?;
                let stream = tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024);
                let content_type = if key.ends_with(".json") { "application/json" } else { "application/octet-stream" };
                self.inner
                    .objects
                    .put(&destination.bucket, &key, content_type, stream)
                    .await
                    .map_err(|e| object_fault(&s3.s3_uri, e))?;
            }
        }
        Ok(())
    }
}

/// A file's trimmed text, at most 1024 characters; `None` when missing or empty.
fn read_limited(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| truncate(text, 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_map_into_the_job_directory() {
        let layout = Layout::new(Path::new("/data/jobs"), "eval-1");
        assert_eq!(layout.root, PathBuf::from("/data/jobs/.processing/eval-1"));
        assert_eq!(
            layout.map("--model=/opt/ml/processing/model"),
            "--model=/data/jobs/.processing/eval-1/processing/model"
        );
        assert_eq!(layout.map("plain"), "plain");
        assert_eq!(layout.map("/opt/ml/processing/x"), "/data/jobs/.processing/eval-1/processing/x");
        assert_eq!(layout.map("s3://bucket/opt/ml/x"), "s3://bucket/opt/ml/x");
        assert_eq!(variable("SM_CHANNEL_", "test-data.v2"), "SM_CHANNEL_TEST_DATA_V2");
    }
}
