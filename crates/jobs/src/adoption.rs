//! Jobs and the replicas that run them: each job is owned by the replica that runs it; a
//! stop asked of another replica reaches the owner; and the unfinished jobs of a replica
//! that is gone (or of this data directory's last run) are adopted.

use std::collections::HashSet;

use chrono::Utc;
use tokio::sync::broadcast;
use trainyard_store::{Change, ProcessingJobRecord, TrainingJobRecord};

use crate::executor::{self, StopReason};
use crate::processing::Status;
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
        let alive_since = Utc::now() - chrono::Duration::from_std(trainyard_bus::DEPARTED_AFTER).unwrap_or_default();
        let alive: HashSet<String> =
            self.inner.store.list_replicas(alive_since).await?.into_iter().map(|r| r.id).collect();
        let mut adopted = 0;
        for status in ["InProgress", "Stopping"] {
            for job in self.inner.store.list_training_jobs(Some(status), 10_000).await? {
                if self.adopt(TRAINING, &job.name, &alive).await? {
                    self.take_over_training(job).await?;
                    adopted += 1;
                }
            }
            for job in self.inner.store.list_processing_jobs(Some(status), 10_000).await? {
                if self.adopt(PROCESSING, &job.name, &alive).await? {
                    self.take_over_processing(job).await?;
                    adopted += 1;
                }
            }
        }
        Ok(adopted)
    }

    /// Makes this replica the owner of `name` if its owner is neither alive nor this one.
    async fn adopt(&self, kind: &str, name: &str, alive: &HashSet<String>) -> Result<bool, Error> {
        let owner = self.inner.store.work_owner(kind, name).await?;
        if owner.as_deref().is_some_and(|o| o == self.replica() || alive.contains(o)) {
            return Ok(false);
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
            let reason = if ran_here {
                format!(
                    "InternalServerError: the trainyard server restarted while the job was {}; its process was stopped",
                    secondary.as_str()
                )
            } else {
                format!(
                    "InternalServerError: the trainyard server running the job stopped while the job was {}",
                    secondary.as_str()
                )
            };
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
            job.failure_reason = Some(if ran_here {
                "InternalServerError: the trainyard server restarted while the job ran; its process was stopped".into()
            } else {
                "InternalServerError: the trainyard server running the job stopped while the job ran".into()
            });
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
        let key = match changes.recv().await {
            Ok(Change::StopJob(key)) => key,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(inner) = inner.upgrade() else { return };
        if let Some(stop) = inner.running.lock().ok().and_then(|r| r.get(&key).cloned()) {
            let _ = stop.send(Some(StopReason::Requested));
        }
    }
}
