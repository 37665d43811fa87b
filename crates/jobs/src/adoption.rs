//! Jobs and the replicas that run them: each job is owned by the replica that runs it; a
//! stop asked of another replica reaches the owner; and the unfinished jobs of a replica
//! that is gone (or of this data directory's last run) are adopted.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use trainyard_store::{Change, ProcessingJobRecord, TrainingJobRecord};

use crate::executor::{self, StopReason};
use crate::processing::{runner_key, Status};
use crate::status::Secondary;
use crate::{Error, Jobs};

/// The kinds of work jobs own (`work_owners.kind`).
pub(crate) const TRAINING: &str = "training-job";
pub(crate) const PROCESSING: &str = "processing-job";

impl Jobs {
    /// This replica's id among those sharing the store.
    fn replica(&self) -> &str {
        &self.inner.bus.config().replica
    }

    /// Records this replica as the one running a new job.
    pub(crate) async fn own(&self, kind: &str, name: &str) -> Result<(), Error> {
        Ok(self.inner.store.own_work(kind, name, self.replica()).await?)
    }

    /// Signals the runner of `key` if it runs here; else tells the replica that runs it.
    pub(crate) async fn signal_stop(&self, key: &str) -> Result<(), Error> {
        if let Some(stop) = self.inner.running.lock().ok().and_then(|r| r.get(key).cloned()) {
            let _ = stop.send(Some(StopReason::Requested));
            return Ok(());
        }
        Ok(self.inner.store.announce(&Change::StopJob(key.to_string())).await?)
    }

    /// Adopts the unfinished jobs whose owner is gone: a job not started yet starts here;
    /// a started one is failed with the reason (its process stopped, when it ran from this
    /// data directory), or marked stopped if a stop was asked for. Returns how many.
    pub async fn adopt_orphans(&self) -> Result<usize, Error> {
        let alive = trainyard_bus::alive_replicas(&self.inner.store).await?;
        let mut adopted = 0;
        for status in ["InProgress", "Stopping"] {
            for job in self.inner.store.list_training_jobs(Some(status), 10_000).await? {
                let name = job.name.clone();
                if self.adopt(TRAINING, &name, &name, job.created_at, &alive).await? {
                    // One job's failure does not hold up the others.
                    match self.take_over_training(job).await {
                        Ok(()) => adopted += 1,
                        Err(e) => tracing::warn!(job = %name, error = %e, "adopting a training job failed"),
                    }
                }
            }
            for job in self.inner.store.list_processing_jobs(Some(status), 10_000).await? {
                let name = job.name.clone();
                if self.adopt(PROCESSING, &name, &runner_key(&name), job.created_at, &alive).await? {
                    match self.take_over_processing(job).await {
                        Ok(()) => adopted += 1,
                        Err(e) => tracing::warn!(job = %name, error = %e, "adopting a processing job failed"),
                    }
                }
            }
        }
        Ok(adopted)
    }

    /// Makes this replica the owner of job `name` (its runner `key`) unless it runs here or
    /// another replica that is alive owns it. A job with no owner recorded is taken only
    /// once older than [`trainyard_bus::DEPARTED_AFTER`]: its creator records itself just
    /// after creating it. One this replica owns is taken over only if created before the
    /// service opened (a job created since is between its record and its runner).
    async fn adopt(
        &self,
        kind: &str,
        name: &str,
        key: &str,
        created: DateTime<Utc>,
        alive: &HashSet<String>,
    ) -> Result<bool, Error> {
        if self.inner.running.lock().is_ok_and(|running| running.contains_key(key)) {
            return Ok(false);
        }
        let owner = self.inner.store.work_owner(kind, name).await?;
        match owner.as_deref() {
            Some(me) if me == self.replica() => return Ok(created < self.inner.opened_at),
            Some(other) if alive.contains(other) => return Ok(false),
            None if created > trainyard_bus::alive_since(Utc::now()) => return Ok(false),
            _ => {}
        }
        Ok(self.inner.store.adopt_work(kind, name, owner.as_deref(), self.replica()).await?)
    }

    async fn take_over_training(&self, mut job: TrainingJobRecord) -> Result<(), Error> {
        let secondary = Secondary::parse(&job.secondary_status).unwrap_or(Secondary::Starting);
        if secondary == Secondary::Starting && !job.stop_requested {
            self.spawn_runner(job.name.clone());
            return Ok(());
        }
        let ran_here = self.layout(&job.name).log().exists();
        stop_leftover(job.pid, ran_here);
        let (next, reason) = if job.stop_requested || secondary == Secondary::Starting {
            (Secondary::Stopped, None)
        } else {
            let reason = format!(
                "InternalServerError: the trainyard server running the job restarted or stopped while the job was {}{}",
                secondary.as_str(),
                if ran_here { "; its process was stopped" } else { "" }
            );
            (Secondary::Failed, Some(reason))
        };
        job.failure_reason = reason.clone();
        self.transition(&mut job, next, reason.as_deref().unwrap_or("Stopped after a server restart")).await
    }

    async fn take_over_processing(&self, mut job: ProcessingJobRecord) -> Result<(), Error> {
        if job.processing_start.is_none() && !job.stop_requested {
            self.spawn_processing_runner(job.name.clone());
            return Ok(());
        }
        let ran_here = self.processing_log(&job.name).exists();
        stop_leftover(job.pid, ran_here);
        let next = if job.stop_requested || job.processing_start.is_none() {
            Status::Stopped
        } else {
            job.failure_reason = Some(format!(
                "InternalServerError: the trainyard server running the job restarted or stopped while the job ran{}",
                if ran_here { "; its process was stopped" } else { "" }
            ));
            Status::Failed
        };
        self.move_processing(&mut job, next).await
    }
}

/// Kills what is left of a job's process group, when it ran from this data directory
/// (elsewhere, its pid names some other machine's process).
fn stop_leftover(pid: Option<i64>, ran_here: bool) {
    if let (Some(pid), true) = (pid, ran_here) {
        if executor::alive(pid as u32) {
            executor::kill_group(pid as u32);
        }
    }
}

/// Passes stops asked of other replicas to this one's runners; ends with the service.
pub(crate) async fn follow_stops(
    inner: std::sync::Weak<crate::service::Inner>,
    mut changes: broadcast::Receiver<Change>,
) {
    loop {
        let keys = match changes.recv().await {
            Ok(Change::StopJob(key)) => vec![key],
            // Stops may have been missed: the store says which of this replica's jobs were asked.
            Ok(Change::Missed) | Err(broadcast::error::RecvError::Lagged(_)) => match inner.upgrade() {
                Some(inner) => asked_to_stop(&inner).await,
                None => return,
            },
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(inner) = inner.upgrade() else { return };
        for key in keys {
            if let Some(stop) = inner.running.lock().ok().and_then(|r| r.get(&key).cloned()) {
                let _ = stop.send(Some(StopReason::Requested));
            }
        }
    }
}

/// The runners here whose job the store says was asked to stop.
async fn asked_to_stop(inner: &crate::service::Inner) -> Vec<String> {
    let keys: Vec<String> = inner.running.lock().map(|r| r.keys().cloned().collect()).unwrap_or_default();
    let mut asked = Vec::new();
    for key in keys {
        let stop_requested = match key.strip_prefix("processing/") {
            Some(name) => inner.store.get_processing_job(name).await.map(|j| j.stop_requested),
            None => inner.store.get_training_job(&key).await.map(|j| j.stop_requested),
        };
        if stop_requested.unwrap_or(false) {
            asked.push(key);
        }
    }
    asked
}
