//! The jobs service: create, describe, list, stop, logs and metrics, and recovery of
//! jobs interrupted by a server restart.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{watch, Semaphore};
use trainyard_bus::EventBus;
use trainyard_objects::Objects;
use trainyard_store::{MetricPoint, Store, TrainingJobRecord};

use crate::contract::Layout;
use crate::executor::StopReason;
use crate::request::{CreateTrainingJob, Program};
use crate::status::{advance, Secondary, Transition};
use crate::{describe, Error};

/// How jobs run on this server.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// `DATA_DIR/jobs`: one directory per job.
    pub root: PathBuf,
    /// Cached virtual environments for `requirements.txt`, by the file's hash.
    pub venv_root: PathBuf,
    /// Jobs training at once; the rest wait in `InProgress/Starting`.
    pub concurrency: usize,
    /// The interpreter for `.py` programs (and for building virtual environments).
    pub python: String,
    /// The command that runs a built-in algorithm; the algorithm's name is appended.
    pub algorithm_command: Vec<String>,
    /// The command that runs the built-in evaluator of processing jobs; the job's
    /// `ContainerArguments` are appended.
    pub evaluator_command: Vec<String>,
    pub built_in_algorithms: Vec<String>,
    /// Default `MetricDefinitions` of built-in algorithms: (algorithm, name, regex).
    pub built_in_metrics: Vec<(String, String, String)>,
    /// Time between SIGTERM and SIGKILL when a job is stopped.
    pub stop_grace: Duration,
    pub account: String,
    pub region: String,
}

/// A piece of a job's log.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogChunk {
    pub text: String,
    pub next_offset: u64,
    /// True when the job has ended and everything has been read.
    pub complete: bool,
}

/// The jobs service. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) objects: Objects,
    pub(crate) bus: EventBus,
    pub(crate) config: JobsConfig,
    pub(crate) slots: Semaphore,
    /// Stop signals of the jobs that have a runner in this process.
    pub(crate) running: Mutex<HashMap<String, watch::Sender<Option<StopReason>>>>,
    /// Where `TrainingImage`s are pulled from, once the server attaches its registry.
    pub(crate) registry: std::sync::OnceLock<trainyard_registry::Registry>,
    /// When this service opened: a job this replica owns and created since is being
    /// started here, never one to take over.
    pub(crate) opened_at: chrono::DateTime<chrono::Utc>,
}

impl Jobs {
    /// Opens the service and recovers jobs a previous process left unfinished:
    /// queued jobs are queued again; jobs that had started are stopped and failed
    /// (their process is killed if it survived), or marked stopped when a stop had
    /// been asked for.
    pub async fn open(store: Store, objects: Objects, bus: EventBus, config: JobsConfig) -> Result<Jobs, Error> {
        Jobs::open_with_registry(store, objects, bus, config, None).await
    }

    /// [`Jobs::open`] with the registry `TrainingImage`s are pulled from.
    pub async fn open_with_registry(
        store: Store,
        objects: Objects,
        bus: EventBus,
        config: JobsConfig,
        registry: Option<trainyard_registry::Registry>,
    ) -> Result<Jobs, Error> {
        std::fs::create_dir_all(&config.root)
            .map_err(|source| Error::Io { path: config.root.display().to_string(), source })?;
        let slots = Semaphore::new(config.concurrency.max(1));
        let running = Mutex::new(HashMap::new());
        let registry = registry.map(std::sync::OnceLock::from).unwrap_or_default();
        let opened_at = chrono::Utc::now();
        let jobs = Jobs { inner: Arc::new(Inner { store, objects, bus, config, slots, running, registry, opened_at }) };
        jobs.adopt_orphans().await?;
        tokio::spawn(crate::adoption::follow_stops(Arc::downgrade(&jobs.inner), jobs.inner.store.changes()));
        Ok(jobs)
    }

    pub(crate) fn layout(&self, name: &str) -> Layout {
        Layout::new(self.inner.config.root.join(name))
    }

    fn built_ins(&self) -> Vec<&str> {
        self.inner.config.built_in_algorithms.iter().map(String::as_str).collect()
    }

    /// `CreateTrainingJob`: validates, records the job `InProgress/Starting`, and
    /// starts its runner. Returns `{"TrainingJobArn": ...}`.
    pub async fn create(&self, request: CreateTrainingJob) -> Result<Value, Error> {
        let program = request.validate(&self.built_ins())?;
        if let (Program::Image { uri }, None) = (&program, self.inner.registry.get()) {
            return Err(Error::Unsupported {
                message: format!(
                    "TrainingImage {uri:?} needs an image registry, and this jobs service runs without one; \
                     use AlgorithmName or script mode (sagemaker_program + sagemaker_submit_directory)"
                ),
            });
        }
        let c = &self.inner.config;
        let now = Utc::now();
        let arn = format!(
            "arn:aws:sagemaker:{}:{}:training-job/{}",
            c.region,
            c.account,
            request.training_job_name.to_lowercase()
        );
        let mut transitions = Vec::new();
        advance(&mut transitions, Secondary::Starting, now, "Preparing the instances for training")?;
        let job = TrainingJobRecord {
            name: request.training_job_name.clone(),
            arn: arn.clone(),
            request: serde_json::to_value(&request).unwrap_or_default(),
            status: "InProgress".into(),
            secondary_status: Secondary::Starting.as_str().into(),
            transitions: json!(transitions),
            failure_reason: None,
            model_artifacts: None,
            final_metrics: json!([]),
            dataset: json!([]),
            stop_requested: false,
            pid: None,
            attempts: 0,
            created_at: now,
            training_start: None,
            training_end: None,
            updated_at: now,
        };
        self.inner.store.create_training_job(&job).await?;
        self.own(crate::adoption::TRAINING, &job.name).await?;
        self.emit(&job).await;
        self.spawn_runner(job.name.clone());
        Ok(json!({"TrainingJobArn": arn}))
    }

    pub(crate) fn spawn_runner(&self, name: String) {
        let (stop, stopped) = watch::channel(None);
        if let Ok(mut running) = self.inner.running.lock() {
            running.insert(name.clone(), stop);
        }
        let jobs = self.clone();
        tokio::spawn(async move {
            jobs.run(&name, stopped).await;
            if let Ok(mut running) = jobs.inner.running.lock() {
                running.remove(&name);
            }
        });
    }

    pub async fn describe(&self, name: &str) -> Result<Value, Error> {
        Ok(describe::describe(&self.inner.store.get_training_job(name).await?))
    }

    /// Puts the job's current state-change event again: for an event a crash lost
    /// between the state's write and its put. Consumers are idempotent (at least once).
    pub async fn announce(&self, name: &str) -> Result<(), Error> {
        let job = self.inner.store.get_training_job(name).await?;
        self.emit(&job).await;
        Ok(())
    }

    /// `ListTrainingJobs`: summaries, newest first.
    pub async fn list(&self, status: Option<&str>, limit: i64) -> Result<Value, Error> {
        let jobs = self.inner.store.list_training_jobs(status, limit).await?;
        let summaries: Vec<Value> = jobs
            .iter()
            .map(|j| {
                json!({"TrainingJobName": j.name, "TrainingJobArn": j.arn, "TrainingJobStatus": j.status,
                       "SecondaryStatus": j.secondary_status, "CreationTime": j.created_at,
                       "TrainingEndTime": j.training_end, "LastModifiedTime": j.updated_at})
            })
            .collect();
        Ok(json!({"TrainingJobSummaries": summaries}))
    }

    /// One page of jobs for a list view, and how many match the filter in all.
    pub async fn page(
        &self,
        page: &trainyard_store::JobPage<'_>,
    ) -> Result<(Vec<trainyard_store::TrainingJobRecord>, i64), Error> {
        Ok(self.inner.store.page_training_jobs(page).await?)
    }

    /// `StopTrainingJob`: SIGTERM, the grace period, then SIGKILL; a queued job stops
    /// at once.
    pub async fn stop(&self, name: &str) -> Result<(), Error> {
        let job = self.inner.store.get_training_job(name).await?;
        if job.status != "InProgress" {
            return Err(Error::WrongState { name: name.into(), status: job.status, action: "stopping" });
        }
        self.inner.store.request_training_stop(name).await?;
        self.signal_stop(name).await
    }

    /// The job's log from byte `offset`, at most 1 MiB.
    pub async fn logs(&self, name: &str, offset: u64) -> Result<LogChunk, Error> {
        let job = self.inner.store.get_training_job(name).await?;
        let terminal = Secondary::parse(&job.secondary_status).is_some_and(Secondary::is_terminal);
        self.read_log(&self.layout(name).log(), offset, terminal).await
    }

    /// A log file from byte `offset`, at most 1 MiB; `complete` once the job has ended
    /// and everything has been read.
    pub(crate) async fn read_log(
        &self,
        path: &std::path::Path,
        offset: u64,
        terminal: bool,
    ) -> Result<LogChunk, Error> {
        let mut file = match tokio::fs::File::open(path).await {
            Ok(file) => file,
            Err(_) => return Ok(LogChunk { text: String::new(), next_offset: offset, complete: terminal }),
        };
        let io = |source| Error::Io { path: path.display().to_string(), source };
        let length = file.metadata().await.map_err(io)?.len();
        let start = offset.min(length);
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(io)?;
        let mut buffer = Vec::new();
        file.take(1024 * 1024).read_to_end(&mut buffer).await.map_err(io)?;
        let next_offset = start + buffer.len() as u64;
        Ok(LogChunk {
            text: String::from_utf8_lossy(&buffer).into_owned(),
            next_offset,
            complete: terminal && next_offset >= length,
        })
    }

    /// Every metric value the job reported, in order.
    pub async fn metrics(&self, name: &str) -> Result<Vec<MetricPoint>, Error> {
        self.inner.store.get_training_job(name).await?;
        Ok(self.inner.store.training_metrics(name).await?)
    }

    /// Moves a job to `next`, stores it and puts the state-change event.
    pub(crate) async fn transition(
        &self,
        job: &mut TrainingJobRecord,
        next: Secondary,
        message: &str,
    ) -> Result<(), Error> {
        let now = Utc::now();
        let mut transitions: Vec<Transition> = serde_json::from_value(job.transitions.clone()).unwrap_or_default();
        advance(&mut transitions, next, now, message)?;
        job.transitions = json!(transitions);
        job.secondary_status = next.as_str().into();
        job.status = next.primary().into();
        job.updated_at = now;
        if next.is_terminal() {
            job.training_end.get_or_insert(now);
            job.pid = None;
        }
        self.inner.store.update_training_job(job).await?;
        self.emit(job).await;
        Ok(())
    }

    async fn emit(&self, job: &TrainingJobRecord) {
        let detail = describe::event_detail(job);
        let result = self
            .inner
            .bus
            .emit("aws.sagemaker", "SageMaker Training Job State Change", detail, vec![job.arn.clone()])
            .await;
        if let Err(e) = result {
            tracing::error!(job = %job.name, error = %e, "could not put the training job event");
        }
    }
}
