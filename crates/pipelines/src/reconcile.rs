//! The reconciler: carries on runs whose next event was lost. Each state change a run
//! waits for (a job's end, a reviewer's decision) is announced by an event put after the
//! state is written, and a crash in between loses that event; so does a rule that was
//! disabled when it came. An open run whose resource has moved on while the run has not,
//! for [`GRACE`], gets the resource's event put again: on the bus, so the pipeline's rules
//! (or the functions a user put in their place) decide as they would have. The builtins
//! are idempotent, so an event that was only slow does no harm. A run whose training job
//! never started is resumed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use trainyard_store::RunRecord;

use crate::spec::PipelineSpec;
use crate::{Error, Pipelines};

/// How long a run may look stuck before its resource's event is put again. Each later
/// nudge of the same step waits twice as long as the one before, up to [`PATIENCE`] (a
/// rule disabled then is enabled again later).
pub(crate) const GRACE: Duration = Duration::from_secs(5);
const PATIENCE: Duration = Duration::from_secs(3600);

/// What a stuck run needs, keyed by run and step.
#[derive(Debug, Clone, PartialEq)]
enum Nudge {
    /// The run exists but its training job never started.
    Start,
    /// The training job ended; its state-change event is put again.
    Training(String),
    /// The evaluation ended.
    Evaluation(String),
    /// The version was approved (or decided by a reviewer).
    Version(i64),
    /// The deployment may have ended while no event could say so.
    Deployment,
}

/// When each stuck run was last nudged (or first seen stuck), and how long it waits
/// before the next nudge.
#[derive(Default)]
pub(crate) struct Stuck {
    seen: HashMap<String, (Instant, Duration)>,
}

fn step<'a>(run: &'a RunRecord, name: &str) -> Option<&'a Value> {
    run.steps.as_array().and_then(|steps| steps.iter().find(|s| s["Step"] == name))
}

fn ended(status: &Value) -> bool {
    matches!(status.as_str(), Some("Completed" | "Failed" | "Stopped"))
}

impl Pipelines {
    /// One pass over the open runs; nudges those stuck for [`GRACE`], then less and less
    /// often.
    pub(crate) async fn reconcile(&self, stuck: &mut Stuck) -> Result<(), Error> {
        let mut still = HashMap::new();
        for run in self.services().store.open_runs().await? {
            let Ok(spec) = self.spec(&run.pipeline).await else { continue };
            let nudge = match self.needs(&spec, &run).await {
                Ok(Some(nudge)) => nudge,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(run = %run.id, error = %e, "could not look at a pipeline run");
                    continue;
                }
            };
            let key = format!("{} {nudge:?}", run.id);
            let (mut since, mut wait) = stuck.seen.get(&key).copied().unwrap_or((Instant::now(), GRACE));
            if since.elapsed() >= wait {
                tracing::info!(run = %run.id, ?nudge, "carrying on a run whose event was lost");
                if let Err(e) = self.nudge(&spec, &run, &nudge).await {
                    tracing::warn!(run = %run.id, error = %e, "could not carry on a pipeline run");
                }
                (since, wait) = (Instant::now(), (wait * 2).min(PATIENCE));
            }
            still.insert(key, (since, wait));
        }
        // Invariant: only runs still stuck are remembered.
        stuck.seen = still;
        Ok(())
    }

    /// What `run` waits on that has happened already, if anything.
    async fn needs(&self, spec: &PipelineSpec, run: &RunRecord) -> Result<Option<Nudge>, Error> {
        let s = self.services();
        if run.status == "Running" && step(run, "Training").is_none() {
            return Ok(Some(Nudge::Start));
        }
        if let Some(deployment) = step(run, "Deployment") {
            if deployment["Status"] != "InProgress" {
                return Ok(None);
            }
            let endpoint = deployment["Resource"].as_str().unwrap_or_default();
            let pending = s.endpoints.describe(endpoint).await?.get("PendingDeploymentSummary").is_some();
            return Ok((!pending).then_some(Nudge::Deployment));
        }
        if let Some(registration) = step(run, "Registration") {
            let Some(version) = registration["Resource"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .and_then(|v| v.parse::<i64>().ok())
            else {
                return Ok(None);
            };
            let described = s.models.describe_version(spec.group(), &version.to_string()).await?;
            let status = &described["ModelApprovalStatus"];
            let decided = match run.status.as_str() {
                "WaitingForApproval" => status == "Approved" || status == "Rejected",
                _ => status == "Approved" && spec.deployment.is_some(),
            };
            return Ok(decided.then_some(Nudge::Version(version)));
        }
        if let Some(evaluation) = step(run, "Evaluation") {
            let name = evaluation["Resource"].as_str().unwrap_or_default();
            let job = s.jobs.describe_processing(name).await?;
            return Ok(ended(&job["ProcessingJobStatus"]).then(|| Nudge::Evaluation(name.to_string())));
        }
        let training = step(run, "Training").and_then(|t| t["Resource"].as_str()).unwrap_or_default();
        let job = s.jobs.describe(training).await?;
        Ok(ended(&job["TrainingJobStatus"]).then(|| Nudge::Training(training.to_string())))
    }

    async fn nudge(&self, spec: &PipelineSpec, run: &RunRecord, nudge: &Nudge) -> Result<(), Error> {
        let s = self.services();
        match nudge {
            Nudge::Start => {
                let suffix = run.id.strip_prefix(&format!("{}-", spec.name())).unwrap_or(&run.id);
                let image = step(run, "Image").and_then(|i| i["Resource"].as_str()).map(str::to_string);
                match self.start_training(spec, run.trigger.clone(), image, suffix).await {
                    Ok(_) | Err(Error::Duplicate { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Nudge::Training(job) => s.jobs.announce(job).await?,
            Nudge::Evaluation(job) => s.jobs.announce_processing(job).await?,
            Nudge::Version(version) => s.models.announce(spec.group(), *version).await?,
            Nudge::Deployment => {
                self.record_deployment(spec).await?;
            }
        }
        Ok(())
    }
}
