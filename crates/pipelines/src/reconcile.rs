//! The reconciler: carries on runs whose next event was lost. Each state change a run
//! waits for (a job's end, a reviewer's decision, a deployment's end) is announced by an
//! event put after the state is written, and a crash in between loses that event. An open
//! run whose resource has moved on while the run has not, for [`GRACE`], gets the
//! resource's event put again: on the bus, so the pipeline's rules (or the functions a user
//! put in their place) decide as they would have. The builtins are idempotent, so an event
//! that was only slow does no harm.
//!
//! A step whose rule is disabled (or has no target) is the user's to carry on: it is not
//! nudged. One whose rule targets a user's function is nudged once. One whose builtin
//! nudges [`NUDGES`] times without the run moving ends the run with the reason. Two steps
//! are the platform's own and are resumed directly: a run whose training job never started,
//! and a deployment step written before a crash kept the deployment from starting.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;
use trainyard_store::{Destination, RunRecord};

use crate::builtins::step_of;
use crate::spec::PipelineSpec;
use crate::{plan, Error, Pipelines};

/// How long a run may look stuck before its resource's event is put again. Each later
/// nudge of the same step waits twice as long as the one before.
pub(crate) const GRACE: Duration = Duration::from_secs(5);
/// Nudges of a builtin's step before the run ends: 7 nudges, then one more wait, about 21
/// minutes (5 s · (2⁸ − 1)) after the step first looked stuck.
const NUDGES: u32 = 7;

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
    /// The deployment ended while no event could say so.
    Deployment(String),
    /// The deployment step was written but the deployment never started.
    Undeployed,
}

impl Nudge {
    /// The pipeline rule that carries the run on from this step, and the builtin it targets
    /// (none: the platform's own step).
    fn rule(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Nudge::Start | Nudge::Undeployed => None,
            Nudge::Training(_) => Some(("training", plan::EVALUATE)),
            Nudge::Evaluation(_) => Some(("evaluation", plan::REGISTER)),
            Nudge::Version(_) => Some(("approval", plan::DEPLOY)),
            Nudge::Deployment(_) => Some(("deployment", plan::RECORD_DEPLOYMENT)),
        }
    }
}

/// Per stuck step: when it was last nudged (or first seen stuck), how long it waits before
/// the next nudge, and how many nudges it had.
#[derive(Default)]
pub(crate) struct Stuck {
    seen: HashMap<String, (Instant, Duration, u32)>,
}

/// Who carries a step on, by the state of its rule.
enum Carrier {
    /// The rule is disabled or has no target: the user's to carry on.
    Nobody,
    /// The pipeline's builtin.
    Builtin,
    /// Functions or endpoints a user put in the builtin's place.
    User,
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
            let carrier = match nudge.rule() {
                Some((rule, builtin)) => self.carrier(&spec, rule, builtin).await?,
                None => Carrier::Builtin,
            };
            if matches!(carrier, Carrier::Nobody) {
                continue;
            }
            let key = format!("{} {nudge:?}", run.id);
            let (mut since, mut wait, mut nudges) = stuck.seen.get(&key).copied().unwrap_or((Instant::now(), GRACE, 0));
            let limit = if matches!(carrier, Carrier::User) { 1 } else { NUDGES };
            if since.elapsed() >= wait && nudges < limit {
                tracing::info!(run = %run.id, ?nudge, "carrying on a run whose event was lost");
                if let Err(e) = self.nudge(&spec, &run, &nudge).await {
                    tracing::warn!(run = %run.id, error = %e, "could not carry on a pipeline run");
                }
                (since, wait, nudges) = (Instant::now(), wait * 2, nudges + 1);
            } else if since.elapsed() >= wait && matches!(carrier, Carrier::Builtin) {
                self.give_up(&run, &nudge).await?;
                continue;
            }
            still.insert(key, (since, wait, nudges));
        }
        // Invariant: only steps still stuck are remembered.
        stuck.seen = still;
        Ok(())
    }

    /// Who carries a step of `spec` on from its rule `<pipeline>-on-<rule>`.
    async fn carrier(&self, spec: &PipelineSpec, rule: &str, builtin: &str) -> Result<Carrier, Error> {
        let s = self.services();
        let name = format!("{}-on-{rule}", spec.name());
        let Ok(found) = s.store.get_rule("default", &name).await else { return Ok(Carrier::Nobody) };
        if found.state != "ENABLED" {
            return Ok(Carrier::Nobody);
        }
        let targets = s.store.list_targets("default", &name).await?;
        let function = plan::function_name(spec.name(), builtin);
        Ok(match targets.as_slice() {
            [] => Carrier::Nobody,
            targets
                if targets
                    .iter()
                    .any(|t| matches!(&t.destination, Destination::Function { name } if *name == function)) =>
            {
                Carrier::Builtin
            }
            _ => Carrier::User,
        })
    }

    /// What `run` waits on that has happened already, if anything.
    async fn needs(&self, spec: &PipelineSpec, run: &RunRecord) -> Result<Option<Nudge>, Error> {
        let s = self.services();
        if run.status == "Running" && step_of(run, "Training").is_none() {
            return Ok(Some(Nudge::Start));
        }
        if let Some(deployment) = step_of(run, "Deployment") {
            if deployment["Status"] != "InProgress" {
                return Ok(None);
            }
            let endpoint = deployment["Resource"].as_str().unwrap_or_default();
            let described = match s.endpoints.describe(endpoint).await {
                Ok(described) => described,
                Err(trainyard_endpoints::Error::Store(trainyard_store::Error::NotFound { .. }))
                | Err(trainyard_endpoints::Error::EndpointNotFound { .. }) => return Ok(Some(Nudge::Undeployed)),
                Err(e) => return Err(e.into()),
            };
            if described.get("PendingDeploymentSummary").is_some() {
                return Ok(None);
            }
            if !crate::builtins::started_since(&described, deployment) {
                return Ok(Some(Nudge::Undeployed));
            }
            return Ok(Some(Nudge::Deployment(endpoint.to_string())));
        }
        if let Some(registration) = step_of(run, "Registration") {
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
        if let Some(evaluation) = step_of(run, "Evaluation") {
            let name = evaluation["Resource"].as_str().unwrap_or_default();
            let job = s.jobs.describe_processing(name).await?;
            return Ok(ended(&job["ProcessingJobStatus"]).then(|| Nudge::Evaluation(name.to_string())));
        }
        let training = step_of(run, "Training").and_then(|t| t["Resource"].as_str()).unwrap_or_default();
        let job = s.jobs.describe(training).await?;
        Ok(ended(&job["TrainingJobStatus"]).then(|| Nudge::Training(training.to_string())))
    }

    async fn nudge(&self, spec: &PipelineSpec, run: &RunRecord, nudge: &Nudge) -> Result<(), Error> {
        let s = self.services();
        match nudge {
            Nudge::Start => {
                let suffix = run.id.strip_prefix(&format!("{}-", spec.name())).unwrap_or(&run.id);
                let image = step_of(run, "Image").and_then(|i| i["Resource"].as_str()).map(str::to_string);
                match self.start_training(spec, run.trigger.clone(), image, suffix).await {
                    Ok(_) | Err(Error::Duplicate { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Nudge::Training(job) => s.jobs.announce(job).await?,
            Nudge::Evaluation(job) => s.jobs.announce_processing(job).await?,
            Nudge::Version(version) => s.models.announce(spec.group(), *version).await?,
            // The rule matches the spec's endpoint; a run on one the spec no longer names
            // is recorded directly.
            Nudge::Deployment(endpoint) if spec.deployment.as_ref().is_some_and(|d| d.endpoint.value == *endpoint) => {
                s.endpoints.announce(endpoint).await?
            }
            Nudge::Deployment(_) => {
                self.record_deployment(spec).await?;
            }
            Nudge::Undeployed => {
                self.resume_deployment(spec, &run.id).await?;
            }
        }
        Ok(())
    }

    /// Ends a run its builtin did not carry on though its event was put again and again.
    async fn give_up(&self, listed: &RunRecord, nudge: &Nudge) -> Result<(), Error> {
        let lock = self.lock(&listed.id);
        let _one_step = lock.lock().await;
        let mut run = self.services().store.get_run(&listed.id).await?;
        if run.status != listed.status || run.steps != listed.steps {
            return Ok(());
        }
        run.status = "Failed".into();
        let rule = nudge.rule().map_or("change", |(rule, _)| rule);
        run.reason = Some(format!(
            "the run did not move on from {nudge:?} though its event was put again {NUDGES} times; see the \
             logs of the function rule {}-on-{rule} targets",
            run.pipeline
        ));
        run.updated_at = Utc::now();
        self.services().store.update_run(&run).await?;
        tracing::warn!(run = %run.id, ?nudge, "gave up on a stuck pipeline run");
        Ok(())
    }
}
