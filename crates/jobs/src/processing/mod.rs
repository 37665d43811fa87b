//! Processing jobs: SageMaker's `CreateProcessingJob` on the local executor, for
//! evaluation runs. A job downloads its inputs into its own directory (the host's image
//! of `/opt/ml/processing`), runs the built-in evaluator or the request's entrypoint
//! with every `/opt/ml/...` path mapped into that directory, uploads its outputs, and
//! announces each status change as `SageMaker Processing Job State Change`.

mod request;
mod runner;
mod status;

use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::watch;
use trainyard_store::ProcessingJobRecord;

pub use request::{
    AppSpecification, CreateProcessingJob, ProcessingInput, ProcessingOutput, ProcessingOutputConfig, S3Input,
    S3Output, EVALUATOR_IMAGE, PROCESSING_ROOT,
};
pub use status::Status;

use crate::{Error, Jobs, LogChunk};

/// The key of a processing job's runner among the service's running jobs (training
/// jobs use their bare name; processing job names may repeat them).
pub(crate) fn runner_key(name: &str) -> String {
    format!("processing/{name}")
}

/// `DescribeProcessingJob` for a stored job.
pub fn describe(job: &ProcessingJobRecord) -> Value {
    let mut answer = json!({
        "ProcessingJobName": job.name,
        "ProcessingJobArn": job.arn,
        "ProcessingJobStatus": job.status,
        "CreationTime": job.created_at,
        "LastModifiedTime": job.updated_at,
        "DatasetSnapshot": job.dataset,
    });
    for field in [
        "ProcessingInputs",
        "ProcessingOutputConfig",
        "ProcessingResources",
        "StoppingCondition",
        "AppSpecification",
        "Environment",
        "RoleArn",
        "NetworkConfig",
        "ExperimentConfig",
    ] {
        if let Some(value) = job.request.get(field) {
            answer[field] = value.clone();
        }
    }
    if let Some(reason) = &job.failure_reason {
        answer["FailureReason"] = json!(reason);
    }
    if let Some(message) = &job.exit_message {
        answer["ExitMessage"] = json!(message);
    }
    if let Some(start) = job.processing_start {
        answer["ProcessingStartTime"] = json!(start);
    }
    if let Some(end) = job.processing_end {
        answer["ProcessingEndTime"] = json!(end);
    }
    answer
}

impl Jobs {
    /// `CreateProcessingJob`: validates, records the job `InProgress`, starts its runner.
    pub async fn create_processing(&self, request: CreateProcessingJob) -> Result<Value, Error> {
        request.validate()?;
        let c = &self.inner.config;
        let now = Utc::now();
        let arn = format!(
            "arn:aws:sagemaker:{}:{}:processing-job/{}",
            c.region,
            c.account,
            request.processing_job_name.to_lowercase()
        );
        let job = ProcessingJobRecord {
            name: request.processing_job_name.clone(),
            arn: arn.clone(),
            request: serde_json::to_value(&request).unwrap_or_default(),
            status: Status::InProgress.as_str().into(),
            failure_reason: None,
            exit_message: None,
            dataset: json!([]),
            stop_requested: false,
            pid: None,
            created_at: now,
            processing_start: None,
            processing_end: None,
            updated_at: now,
        };
        self.inner.store.create_processing_job(&job).await?;
        self.own(crate::adoption::PROCESSING, &job.name).await?;
        self.emit_processing(&job).await;
        self.spawn_processing_runner(job.name.clone());
        Ok(json!({"ProcessingJobArn": arn}))
    }

    pub(crate) fn spawn_processing_runner(&self, name: String) {
        let (stop, stopped) = watch::channel(None);
        if let Ok(mut running) = self.inner.running.lock() {
            running.insert(runner_key(&name), stop);
        }
        let jobs = self.clone();
        tokio::spawn(async move {
            jobs.run_processing(&name, stopped).await;
            if let Ok(mut running) = jobs.inner.running.lock() {
                running.remove(&runner_key(&name));
            }
        });
    }

    pub async fn describe_processing(&self, name: &str) -> Result<Value, Error> {
        Ok(describe(&self.inner.store.get_processing_job(name).await?))
    }

    /// Puts the processing job's current state-change event again (see `announce`).
    pub async fn announce_processing(&self, name: &str) -> Result<(), Error> {
        let job = self.inner.store.get_processing_job(name).await?;
        self.emit_processing(&job).await;
        Ok(())
    }

    /// The stored record (inputs, outputs and status), for services built on evaluations.
    pub async fn processing_job(&self, name: &str) -> Result<ProcessingJobRecord, Error> {
        Ok(self.inner.store.get_processing_job(name).await?)
    }

    /// `ListProcessingJobs`: summaries, newest first.
    pub async fn list_processing(&self, status: Option<&str>, limit: i64) -> Result<Value, Error> {
        let jobs = self.inner.store.list_processing_jobs(status, limit).await?;
        let summaries: Vec<Value> = jobs
            .iter()
            .map(|j| {
                json!({"ProcessingJobName": j.name, "ProcessingJobArn": j.arn, "ProcessingJobStatus": j.status,
                       "CreationTime": j.created_at, "ProcessingEndTime": j.processing_end,
                       "LastModifiedTime": j.updated_at, "FailureReason": j.failure_reason})
            })
            .collect();
        Ok(json!({"ProcessingJobSummaries": summaries}))
    }

    /// `StopProcessingJob`: SIGTERM, the grace period, then SIGKILL.
    pub async fn stop_processing(&self, name: &str) -> Result<(), Error> {
        let job = self.inner.store.get_processing_job(name).await?;
        if job.status != Status::InProgress.as_str() {
            return Err(Error::WrongState { name: name.into(), status: job.status, action: "stopping" });
        }
        self.inner.store.request_processing_stop(name).await?;
        self.signal_stop(&runner_key(name)).await
    }

    /// The job's log from byte `offset`, at most 1 MiB.
    pub async fn processing_logs(&self, name: &str, offset: u64) -> Result<LogChunk, Error> {
        let job = self.inner.store.get_processing_job(name).await?;
        let terminal = Status::parse(&job.status).is_some_and(Status::is_terminal);
        self.read_log(&self.processing_log(name), offset, terminal).await
    }

    /// Where a processing job's log is written on this replica.
    pub(crate) fn processing_log(&self, name: &str) -> std::path::PathBuf {
        runner::Layout::new(&self.inner.config.root, name).log()
    }

    /// Moves a job to `next`, stores it and puts the state-change event.
    pub(crate) async fn move_processing(&self, job: &mut ProcessingJobRecord, next: Status) -> Result<(), Error> {
        let current = Status::parse(&job.status).unwrap_or(Status::InProgress);
        if !current.can_move_to(next) {
            return Err(Error::InvalidTransition { from: current.as_str(), to: next.as_str() });
        }
        let now = Utc::now();
        job.status = next.as_str().into();
        job.updated_at = now;
        if next.is_terminal() {
            job.processing_end.get_or_insert(now);
            job.pid = None;
        }
        self.inner.store.update_processing_job(job).await?;
        self.emit_processing(job).await;
        Ok(())
    }

    async fn emit_processing(&self, job: &ProcessingJobRecord) {
        let mut detail = describe(job);
        if let Some(object) = detail.as_object_mut() {
            object.remove("DatasetSnapshot");
        }
        let result = self
            .inner
            .bus
            .emit("aws.sagemaker", "SageMaker Processing Job State Change", detail, vec![job.arn.clone()])
            .await;
        if let Err(e) = result {
            tracing::error!(job = %job.name, error = %e, "could not put the processing job event");
        }
    }
}
