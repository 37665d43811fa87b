//! The pipeline's builtin functions. Each takes the event its rule routed, finds the run
//! it belongs to, and does its one step idempotently: resources are named after the run
//! (a duplicate event finds them there), and registering and deploying check what was done
//! under the run's lock before acting.

use std::time::Instant;

use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::{json, Value};
use trainyard_functions::{Failure, Outcome};
use trainyard_store::{Function, RunRecord};

use crate::plan::{self, PIPELINE_VARIABLE};
use crate::spec::PipelineSpec;
use crate::{Error, Pipelines};

/// Replaces the step named like `step` (or appends it), keeping the order of first sight.
pub(crate) fn set_step(run: &mut RunRecord, step: Value) {
    let steps = run.steps.as_array_mut().expect("steps are an array");
    match steps.iter_mut().find(|s| s["Step"] == step["Step"]) {
        Some(existing) => {
            let start = existing.get("StartTime").cloned();
            *existing = step;
            if let (Some(start), None) = (start, existing.get("StartTime")) {
                existing["StartTime"] = start;
            }
        }
        None => steps.push(step),
    }
}

/// The evaluation job exists already (a redelivered event started it).
fn already_exists(error: &trainyard_models::Error) -> bool {
    use trainyard_store::Error::AlreadyExists;
    matches!(
        error,
        trainyard_models::Error::Store(AlreadyExists { .. })
            | trainyard_models::Error::Jobs(trainyard_jobs::Error::Store(AlreadyExists { .. }))
    )
}

/// Errors that the same request meets again on a retry.
fn deterministic(error: &trainyard_models::Error) -> bool {
    use trainyard_models::Error as Models;
    matches!(
        error,
        Models::InvalidRequest { .. }
            | Models::Condition { .. }
            | Models::UnknownMetric { .. }
            | Models::Mismatch { .. }
            | Models::Evaluation { .. }
            | Models::Data(_)
    )
}

/// One version of an object, from its `Object Created` event: `s3://bucket/key#sequencer`
/// (the etag, or the event's id, when the event has no sequencer). A redelivered or
/// replayed event names the same version; an overwrite names a new one.
fn object_version(event: &Value) -> Result<String, Error> {
    let detail = &event["detail"];
    let (bucket, key) = (detail["bucket"]["name"].as_str(), detail["object"]["key"].as_str());
    let (Some(bucket), Some(key)) = (bucket, key) else {
        return Err(Error::Event {
            reason: "an Object Created event needs detail.bucket.name and detail.object.key".into(),
        });
    };
    let version = ["sequencer", "version-id", "etag"]
        .iter()
        .find_map(|field| detail["object"][field].as_str())
        .or(event["id"].as_str())
        .unwrap_or_default();
    Ok(format!("s3://{bucket}/{key}#{version}"))
}

/// How many times a run evaluates its model when the champion keeps changing under it.
const EVALUATIONS: usize = 3;

/// The run an evaluation job belongs to, and which evaluation of it the job is:
/// `<run>-eval` (1) or `<run>-eval-<n>`.
fn evaluated_run(job: &str) -> Option<(&str, usize)> {
    if let Some(run) = job.strip_suffix("-eval") {
        return Some((run, 1));
    }
    let (run, attempt) = job.rsplit_once("-eval-")?;
    let attempt = attempt.parse().ok().filter(|n| (2..=EVALUATIONS).contains(n))?;
    Some((run, attempt))
}

pub(crate) fn step_of<'a>(run: &'a RunRecord, name: &str) -> Option<&'a Value> {
    run.steps.as_array().and_then(|steps| steps.iter().find(|s| s["Step"] == name))
}

fn finish(run: &mut RunRecord, status: &str, reason: Option<String>) {
    run.status = status.into();
    run.reason = reason;
    run.updated_at = Utc::now();
}

/// The `CreateTrainingJob` of a run.
pub(crate) fn training_request(
    spec: &PipelineSpec,
    run: &str,
    image: Option<&str>,
    role: &str,
) -> Result<trainyard_jobs::CreateTrainingJob, Error> {
    let training = &spec.training;
    let mut algorithm = json!({"TrainingInputMode": "File"});
    match (image, &training.algorithm) {
        (Some(image), _) => algorithm["TrainingImage"] = json!(image),
        (None, Some(name)) => algorithm["AlgorithmName"] = json!(name.value),
        (None, None) => return Err(Error::NoImage { pipeline: spec.name().into() }),
    }
    let metrics: Vec<Value> =
        training.metrics.iter().map(|(name, regex)| json!({"Name": name, "Regex": regex})).collect();
    if !metrics.is_empty() {
        algorithm["MetricDefinitions"] = json!(metrics);
    }
    let channels: Vec<Value> = training
        .channels
        .iter()
        .map(|(name, uri)| {
            json!({"ChannelName": name,
                   "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri.value}}})
        })
        .collect();
    let hyperparameters: serde_json::Map<String, Value> =
        training.hyperparameters.iter().map(|(k, v)| (k.clone(), json!(v.text()))).collect();
    let mut request = json!({
        "TrainingJobName": run,
        "AlgorithmSpecification": algorithm,
        "HyperParameters": hyperparameters,
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": training.output.value},
        "RoleArn": role,
    });
    if let Some(instance_type) = &training.instance_type {
        request["ResourceConfig"] = json!({"InstanceType": instance_type.value, "InstanceCount": 1});
    }
    if let Some(limit) = &training.max_runtime {
        let seconds = trainyard_endpoints::policy::duration(&limit.value).map(|d| d.as_secs()).unwrap_or(86_400);
        request["StoppingCondition"] = json!({"MaxRuntimeInSeconds": seconds.max(1)});
    }
    serde_json::from_value(request).map_err(|e| Error::Internal { message: format!("training request: {e}") })
}

impl trainyard_bus::Builtins for Pipelines {
    fn invoke(&self, name: &str, function: &Function, event: Value) -> BoxFuture<'static, Outcome> {
        let this = self.clone();
        let name = name.to_string();
        let pipeline = function.environment.get(PIPELINE_VARIABLE).cloned();
        Box::pin(async move {
            let started = Instant::now();
            let result = match pipeline {
                Some(pipeline) => this.dispatch(&name, &pipeline, &event).await,
                None => Err(Error::Event { reason: format!("builtin:{name} needs {PIPELINE_VARIABLE}") }),
            };
            let logs = match &result {
                Ok(value) => format!("{name}: {value}\n"),
                Err(e) => format!("{name}: {e}\n"),
            };
            let result =
                result.map_err(|e| Failure { code: e.code().into(), retriable: e.retriable(), message: e.to_string() });
            Outcome { result, logs, duration: started.elapsed() }
        })
    }
}

impl Pipelines {
    /// The principal a builtin acts as, recorded on what it creates: the job's `RoleArn`,
    /// the version's `CreatedBy`, the endpoint's `DeployedBy`. One role per function, so
    /// policies can limit each later.
    pub(crate) fn principal(&self, pipeline: &str, builtin: &str) -> String {
        let account = &self.services().bus.config().account;
        format!("arn:aws:iam::{account}:role/trainyard-pipeline/{}", plan::function_name(pipeline, builtin))
    }

    async fn dispatch(&self, builtin: &str, pipeline: &str, event: &Value) -> Result<Value, Error> {
        let spec = self.spec(pipeline).await?;
        let detail = &event["detail"];
        match builtin {
            plan::TRIGGER => self.trigger(&spec, event).await,
            plan::EVALUATE => self.evaluate(&spec, detail).await,
            plan::REGISTER => self.register(&spec, detail).await,
            plan::DEPLOY => self.deploy(&spec, detail).await,
            plan::RECORD_DEPLOYMENT => self.record_deployment(&spec).await,
            plan::RETRAIN if event["detail-type"] == "Scheduled Event" => {
                let time = event["time"].as_str().unwrap_or_default();
                let stamp: String = time.chars().filter(char::is_ascii_digit).skip(2).take(12).collect();
                let trigger = json!({"Type": "schedule", "Time": time});
                match self.start_training(&spec, trigger, None, &format!("s{stamp}")).await {
                    Ok(run) => Ok(json!({"Run": run})),
                    Err(Error::Duplicate { run }) => Ok(json!({"Run": run, "Duplicate": true})),
                    Err(e) => Err(e),
                }
            }
            plan::RETRAIN => {
                let object = object_version(event)?;
                let noted = self.services().store.note_retraining(pipeline, &object, Utc::now()).await?;
                Ok(json!({"Noted": object, "Duplicate": !noted}))
            }
            other => Err(Error::Event { reason: format!("no builtin function {other:?}") }),
        }
    }

    /// `trigger_model_training`: an image push (or a commit, for algorithm pipelines)
    /// starts a run.
    async fn trigger(&self, spec: &PipelineSpec, event: &Value) -> Result<Value, Error> {
        let detail = &event["detail"];
        let text = |field: &str| detail[field].as_str().unwrap_or_default().to_string();
        let (trigger, image, suffix) = match event["detail-type"].as_str() {
            Some("ECR Image Action") => {
                let (repository, digest) = (text("repository-name"), text("image-digest"));
                let hex = digest.split(':').nth(1).unwrap_or_default();
                if hex.len() < 12 {
                    return Err(Error::Event { reason: format!("image digest {digest:?} is malformed") });
                }
                let mut trigger = json!({"Type": "image_push", "Repository": repository, "Digest": digest,
                                         "Tag": text("image-tag")});
                // The builder tags its images with the commit; its push ends the build.
                let tag = text("image-tag");
                let builds = self.services().store.list_builds(Some(spec.source_name()), None, 100).await?;
                let build =
                    builds.iter().find(|b| b.image_digest.as_deref() == Some(digest.as_str()) || b.commit == tag);
                if let Some(build) = build {
                    trigger["Commit"] = json!(build.commit);
                    trigger["Build"] = json!({"Step": "Build", "Resource": build.id, "Status": "Completed",
                                              "Commit": build.commit, "StartTime": build.started_at,
                                              "EndTime": build.ended_at.unwrap_or_else(Utc::now)});
                }
                (trigger, Some(format!("{repository}@{digest}")), hex[..12].to_string())
            }
            Some("Git Push") => {
                let after = text("after");
                if after.len() < 12 {
                    return Err(Error::Event { reason: format!("commit {after:?} is malformed") });
                }
                (json!({"Type": "commit", "Commit": after}), None, after[..12].to_string())
            }
            Some("CodeBuild Build State Change") => return self.build_failed(spec, detail).await,
            other => return Err(Error::Event { reason: format!("cannot start a run from {other:?}") }),
        };
        match self.start_training(spec, trigger, image, &suffix).await {
            Ok(run) => Ok(json!({"Run": run})),
            Err(Error::Duplicate { run }) => Ok(json!({"Run": run, "Duplicate": true})),
            Err(e) => Err(e),
        }
    }

    /// A commit whose build failed: its run is recorded as failed at the build (once per
    /// commit), with the build's reason; nothing after it happens.
    async fn build_failed(&self, spec: &PipelineSpec, detail: &Value) -> Result<Value, Error> {
        let information = &detail["additional-information"];
        let commit = information["source-version"].as_str().unwrap_or_default();
        if commit.len() < 12 || detail["build-status"] != "FAILED" {
            return Err(Error::Event { reason: format!("not a failed build of a commit: {detail}") });
        }
        let build = detail["build-id"].as_str().and_then(|arn| arn.rsplit(':').next()).unwrap_or_default();
        let reason = information["reason"].as_str().unwrap_or("no reason given");
        let now = Utc::now();
        let step = json!({"Step": "Build", "Resource": build, "Status": "Failed", "Commit": commit,
                          "StartTime": information["build-start-time"], "EndTime": now});
        let run = RunRecord {
            id: format!("{}-{}", spec.name(), &commit[..12]),
            pipeline: spec.name().to_string(),
            trigger: json!({"Type": "commit", "Commit": commit, "Build": step}),
            status: "Failed".into(),
            reason: Some(format!("build {build} of commit {commit} failed: {reason}")),
            steps: json!([step]),
            created_at: now,
            updated_at: now,
        };
        match self.services().store.create_run(&run).await {
            Ok(()) => Ok(json!({"Run": run.id, "Status": run.status})),
            Err(trainyard_store::Error::AlreadyExists { .. }) => Ok(json!({"Run": run.id, "Duplicate": true})),
            Err(e) => Err(e.into()),
        }
    }

    /// The run a job belongs to, if it is one of this pipeline's.
    async fn run_of(&self, spec: &PipelineSpec, id: &str) -> Result<Option<RunRecord>, Error> {
        match self.services().store.get_run(id).await {
            Ok(run) if run.pipeline == spec.name() => Ok(Some(run)),
            Ok(_) | Err(trainyard_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// `evaluate_model_function`: a finished training job is evaluated (with the champion).
    async fn evaluate(&self, spec: &PipelineSpec, detail: &Value) -> Result<Value, Error> {
        let job = detail["TrainingJobName"].as_str().unwrap_or_default();
        let lock = self.lock(job);
        let _one_step = lock.lock().await;
        let Some(mut run) = self.run_of(spec, job).await? else { return Ok(json!({"Ignored": job})) };
        // Invariant: a step already taken is not taken again (a duplicated or replayed event).
        if run.status != "Running" || step_of(&run, "Evaluation").is_some() {
            return Ok(json!({"Run": run.id, "Duplicate": true}));
        }
        let status = detail["TrainingJobStatus"].as_str().unwrap_or_default();
        let mut step = json!({"Step": "Training", "Resource": job, "Status": status,
                              "StartTime": detail["TrainingStartTime"], "EndTime": detail["TrainingEndTime"]});
        if let Some(metrics) = detail.get("FinalMetricDataList") {
            step["Metrics"] = metrics.clone();
        }
        set_step(&mut run, step);
        if status != "Completed" {
            let reason = detail["FailureReason"].as_str().unwrap_or("no reason given");
            finish(&mut run, "Failed", Some(format!("training job {job} {}: {reason}", status.to_lowercase())));
            self.services().store.update_run(&run).await?;
            return Ok(json!({"Run": run.id, "Status": run.status}));
        }
        let evaluation = format!("{job}-eval");
        let model = &detail["ModelArtifacts"]["S3ModelArtifacts"];
        self.start_evaluation(spec, &mut run, model, &evaluation).await
    }

    /// Starts evaluation job `name` of the run's model and records it as the run's
    /// evaluation step (a job that exists already, from a redelivery, is that job).
    async fn start_evaluation(
        &self,
        spec: &PipelineSpec,
        run: &mut RunRecord,
        model: &Value,
        name: &str,
    ) -> Result<Value, Error> {
        let request = json!({
            "ModelDataUrl": model,
            "TestDataUrl": spec.evaluation.test.value,
            "ModelPackageGroupName": spec.group(),
            "Conditions": spec.evaluation.conditions.iter().map(|c| &c.value).collect::<Vec<_>>(),
            "LabelColumn": spec.evaluation.label_column,
            "ProcessingJobName": name,
            "RoleArn": crate::roles::role_arn(&crate::roles::execution_role(spec.name())),
            "Script": spec.evaluation.script.as_ref().map(|s| &s.value),
        });
        let request = serde_json::from_value(request).map_err(|e| Error::Internal { message: e.to_string() })?;
        // The evaluator acts as its role: it may start this job and pass the execution role.
        let job = format!(
            "arn:aws:sagemaker:{}:{}:processing-job/{name}",
            trainyard_identity::REGION,
            trainyard_identity::ACCOUNT
        );
        self.require_as(spec.name(), plan::EVALUATE, "sagemaker:CreateProcessingJob", &job)?;
        let identity = self.acting_as(spec.name(), plan::EVALUATE)?;
        let execution = crate::roles::role_arn(&crate::roles::execution_role(spec.name()));
        self.services().identities.check_pass_role(&identity, &execution, "sagemaker.amazonaws.com")?;
        match self.services().models.start_evaluation(request).await {
            Ok(_) => {}
            Err(e) if already_exists(&e) => {}
            Err(e) if deterministic(&e) => {
                finish(run, "Failed", Some(format!("the evaluation could not start: {e}")));
                self.services().store.update_run(run).await?;
                return Ok(json!({"Run": run.id, "Status": run.status}));
            }
            Err(e) => return Err(e.into()),
        }
        set_step(run, json!({"Step": "Evaluation", "Resource": name, "Status": "InProgress", "StartTime": Utc::now()}));
        run.updated_at = Utc::now();
        self.services().store.update_run(run).await?;
        Ok(json!({"Run": run.id, "Evaluation": name}))
    }

    /// `register_model_in_registry`: a finished evaluation registers the model with its
    /// report and gate decision (once per run).
    async fn register(&self, spec: &PipelineSpec, detail: &Value) -> Result<Value, Error> {
        let job = detail["ProcessingJobName"].as_str().unwrap_or_default();
        let Some((run_id, attempt)) = evaluated_run(job) else { return Ok(json!({"Ignored": job})) };
        let lock = self.lock(run_id);
        let _one_step = lock.lock().await;
        let Some(mut run) = self.run_of(spec, run_id).await? else { return Ok(json!({"Ignored": job})) };
        // Invariant: only the run's current evaluation registers (not one it replaced).
        let current = step_of(&run, "Evaluation").is_some_and(|s| s["Resource"] == job);
        if run.status != "Running" || step_of(&run, "Registration").is_some() || !current {
            return Ok(json!({"Run": run.id, "Duplicate": true}));
        }
        let status = detail["ProcessingJobStatus"].as_str().unwrap_or_default();
        set_step(
            &mut run,
            json!({"Step": "Evaluation", "Resource": job, "Status": status,
                                  "StartTime": detail["ProcessingStartTime"], "EndTime": detail["ProcessingEndTime"]}),
        );
        if status != "Completed" {
            let reason =
                detail["FailureReason"].as_str().or(detail["ExitMessage"].as_str()).unwrap_or("no reason given");
            finish(&mut run, "Failed", Some(format!("evaluation {job} {}: {reason}", status.to_lowercase())));
            self.services().store.update_run(&run).await?;
            return Ok(json!({"Run": run.id, "Status": run.status}));
        }
        let models = &self.services().models;
        let versions = models.list_versions(spec.group()).await?;
        let mut existing = None;
        for summary in versions["ModelPackageSummaryList"].as_array().into_iter().flatten().rev() {
            let version = models.describe_version(spec.group(), &summary["ModelPackageVersion"].to_string()).await?;
            if version["CustomerMetadataProperties"]["trainyard:run"] == run_id {
                existing = Some(version);
                break;
            }
        }
        let version = match existing {
            Some(version) => version,
            None => {
                let request = json!({
                    "ModelPackageGroupName": spec.group(),
                    "EvaluationJobName": job,
                    "TrainingJobName": run_id,
                    "CustomerMetadataProperties": {"trainyard:pipeline": spec.name(), "trainyard:run": run_id},
                });
                let request =
                    serde_json::from_value(request).map_err(|e| Error::Internal { message: e.to_string() })?;
                let versions = format!(
                    "arn:aws:sagemaker:{}:{}:model-package/{}/*",
                    trainyard_identity::REGION,
                    trainyard_identity::ACCOUNT,
                    spec.group()
                );
                self.require_as(spec.name(), plan::REGISTER, "sagemaker:CreateModelPackage", &versions)?;
                match models.register(request, &self.principal(spec.name(), plan::REGISTER)).await {
                    Ok(version) => version,
                    Err(trainyard_models::Error::GateFailed { .. }) => {
                        set_step(
                            &mut run,
                            json!({"Step": "Registration", "Status": "Discarded", "EndTime": Utc::now()}),
                        );
                        finish(
                            &mut run,
                            "Failed",
                            Some("the gate refused the model and the group discards failures".into()),
                        );
                        self.services().store.update_run(&run).await?;
                        return Ok(json!({"Run": run.id, "Status": run.status}));
                    }
                    // The champion changed since the evaluation: evaluate against the new
                    // one, a few times at most.
                    Err(e @ trainyard_models::Error::ChampionChanged { .. }) => {
                        if attempt >= EVALUATIONS {
                            let reason = format!("registration refused after {attempt} evaluations: {e}");
                            finish(&mut run, "Failed", Some(reason));
                            self.services().store.update_run(&run).await?;
                            return Ok(json!({"Run": run.id, "Status": run.status}));
                        }
                        let trained = self.services().jobs.describe(run_id).await?;
                        let model = &trained["ModelArtifacts"]["S3ModelArtifacts"];
                        let again = format!("{run_id}-eval-{}", attempt + 1);
                        let mut started = self.start_evaluation(spec, &mut run, model, &again).await?;
                        started["Reason"] = json!(e.to_string());
                        return Ok(started);
                    }
                    // Retrying cannot help: the run ends with the reason.
                    Err(e) if deterministic(&e) => {
                        finish(&mut run, "Failed", Some(format!("registration refused: {e}")));
                        self.services().store.update_run(&run).await?;
                        return Ok(json!({"Run": run.id, "Status": run.status}));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let approval = version["ModelApprovalStatus"].as_str().unwrap_or_default().to_string();
        let package = format!("{}/{}", spec.group(), version["ModelPackageVersion"]);
        set_step(
            &mut run,
            json!({"Step": "Registration", "Resource": package, "Status": approval,
                                  "GateDecision": version["GateDecision"], "EndTime": Utc::now()}),
        );
        match approval.as_str() {
            "Rejected" => {
                let reason = version["ApprovalDescription"].as_str().unwrap_or("the gate refused the model");
                finish(&mut run, "Failed", Some(format!("{package} was rejected: {reason}")));
            }
            "PendingManualApproval" => finish(&mut run, "WaitingForApproval", None),
            _ if spec.deployment.is_none() => finish(&mut run, "Succeeded", None),
            _ => run.updated_at = Utc::now(),
        }
        self.services().store.update_run(&run).await?;
        Ok(json!({"Run": run.id, "ModelPackage": package, "Status": approval}))
    }

    /// `deploy_sagemaker_model`: an approved version goes to the pipeline's endpoint, once.
    /// A version from a run deploys only while its run has no deployment step (so a late,
    /// duplicated or replayed approval never redeploys it, or an older version over a newer
    /// one); the step is written before the deployment starts.
    async fn deploy(&self, spec: &PipelineSpec, detail: &Value) -> Result<Value, Error> {
        let package = format!("{}/{}", spec.group(), detail["ModelPackageVersion"]);
        let approval = detail["ModelApprovalStatus"].as_str().unwrap_or_default();
        let Some(deployment) = spec.deployment.as_ref().filter(|_| approval == "Approved") else {
            return self.decided(spec, detail, &package, approval).await;
        };
        let endpoint = &deployment.endpoint.value;
        // Invariant: locks are taken endpoint first, then run.
        let endpoint_lock = self.lock(endpoint);
        let _endpoint = endpoint_lock.lock().await;
        let version =
            self.services().models.describe_version(spec.group(), &detail["ModelPackageVersion"].to_string()).await?;
        if version["CustomerMetadataProperties"]["trainyard:pipeline"].as_str().is_some_and(|p| p != spec.name()) {
            return Ok(json!({"Ignored": format!("{package} belongs to another pipeline")}));
        }
        let run_id = version["CustomerMetadataProperties"]["trainyard:run"].as_str().map(str::to_string);
        let run_lock = run_id.as_deref().map(|id| self.lock(id));
        let _run = match &run_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let mut run = match &run_id {
            Some(id) => self.run_of(spec, id).await?,
            None => None,
        };
        let endpoints = &self.services().endpoints;
        match &mut run {
            Some(run) => {
                let open = run.status == "Running" || run.status == "WaitingForApproval";
                if !open || step_of(run, "Deployment").is_some() {
                    return Ok(json!({"Run": run.id, "ModelPackage": package, "Duplicate": true}));
                }
                // A run that waited for a manual approval goes on.
                run.status = "Running".into();
                let step = json!({"Step": "Deployment", "Resource": endpoint, "ModelPackage": package,
                                  "Status": "InProgress", "StartTime": Utc::now()});
                set_step(run, step);
                run.updated_at = Utc::now();
                self.services().store.update_run(run).await?;
            }
            None => {
                if let Ok(described) = endpoints.describe(endpoint).await {
                    let serves = |variants: &Value| {
                        variants
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|v| v["ModelName"].as_str() == Some(package.as_str()))
                    };
                    if serves(&described["PendingDeploymentSummary"]["ProductionVariants"])
                        || serves(&described["ProductionVariants"])
                    {
                        return Ok(json!({"ModelPackage": package, "Duplicate": true}));
                    }
                }
            }
        }
        let result = self.start_deployment(spec, deployment, endpoint, &package).await;
        if let (Err(e), Some(run)) = (&result, &mut run) {
            let mut step = step_of(run, "Deployment").cloned().unwrap_or(Value::Null);
            step["Status"] = json!("Failed");
            step["EndTime"] = json!(Utc::now());
            set_step(run, step);
            finish(run, "Failed", Some(format!("deploying {package} to {endpoint}: {e}")));
            self.services().store.update_run(run).await?;
            return Ok(json!({"Run": run.id, "Status": run.status}));
        }
        result?;
        Ok(json!({"Endpoint": endpoint, "ModelPackage": package}))
    }

    /// A reviewer's decision on a version with nothing to deploy: the run waiting for it
    /// ends (`Succeeded` when approved, `Failed` with the reason when rejected).
    async fn decided(
        &self,
        spec: &PipelineSpec,
        detail: &Value,
        package: &str,
        approval: &str,
    ) -> Result<Value, Error> {
        let version =
            self.services().models.describe_version(spec.group(), &detail["ModelPackageVersion"].to_string()).await?;
        let Some(run_id) = version["CustomerMetadataProperties"]["trainyard:run"].as_str() else {
            return Ok(json!({"Ignored": package}));
        };
        let lock = self.lock(run_id);
        let _one_step = lock.lock().await;
        let Some(mut run) = self.run_of(spec, run_id).await? else { return Ok(json!({"Ignored": package})) };
        if run.status != "WaitingForApproval" {
            return Ok(json!({"Run": run.id, "Duplicate": true}));
        }
        let mut step = step_of(&run, "Registration").cloned().unwrap_or(Value::Null);
        step["Status"] = json!(approval);
        set_step(&mut run, step);
        match approval {
            "Approved" => finish(&mut run, "Succeeded", None),
            _ => {
                let why =
                    version["ApprovalDescription"].as_str().filter(|d| !d.is_empty()).unwrap_or("no reason given");
                finish(&mut run, "Failed", Some(format!("{package} was rejected by its reviewer: {why}")));
            }
        }
        self.services().store.update_run(&run).await?;
        Ok(json!({"Run": run.id, "Status": run.status}))
    }

    async fn start_deployment(
        &self,
        spec: &PipelineSpec,
        deployment: &crate::spec::DeploymentSpec,
        endpoint: &str,
        package: &str,
    ) -> Result<Value, Error> {
        let mut policy = trainyard_endpoints::policy::Policy::default();
        if let Some(strategy) = &deployment.strategy {
            policy.traffic = trainyard_endpoints::policy::Traffic::parse(&strategy.value)?;
        }
        if let Some(alarms) = &deployment.rollback_on {
            policy.alarms = trainyard_endpoints::policy::Alarm::parse_list(&alarms.value)?;
        }
        if let Some(wait) = &deployment.termination_wait {
            policy.termination_wait = trainyard_endpoints::policy::duration(&wait.value)
                .map_err(|reason| Error::Event { reason: format!("deployment.termination_wait: {reason}") })?;
        }
        let request = json!({"ProductionVariants": [{"VariantName": "AllTraffic", "ModelPackage": package}],
                             "DeploymentConfig": policy.to_sagemaker()});
        let request = serde_json::from_value(request).map_err(|e| Error::Internal { message: e.to_string() })?;
        let by = self.principal(spec.name(), plan::DEPLOY);
        let arn = format!(
            "arn:aws:sagemaker:{}:{}:endpoint/{endpoint}",
            trainyard_identity::REGION,
            trainyard_identity::ACCOUNT
        );
        self.require_as(spec.name(), plan::DEPLOY, "sagemaker:UpdateEndpoint", &arn)?;
        Ok(self.services().endpoints.deploy(endpoint, request, &by).await?)
    }

    /// Ends runs whose deployment has finished: live (the version serves all traffic, and
    /// becomes the group's `champion`) or rolled back. Each run's own endpoint is read (the
    /// spec's may have changed since). A deployment that never started (a crash between its
    /// step and its start) is left to the reconciler, which starts it.
    pub(crate) async fn record_deployment(&self, spec: &PipelineSpec) -> Result<Value, Error> {
        let runs: Vec<RunRecord> = self
            .services()
            .store
            .list_runs(spec.name(), 1000)
            .await?
            .into_iter()
            .filter(|r| deploying(r).is_some())
            .collect();
        let mut endpoints: Vec<String> = runs.iter().filter_map(deploying).map(str::to_string).collect();
        endpoints.sort_unstable();
        endpoints.dedup();
        let mut ended = Vec::new();
        for endpoint in &endpoints {
            // Invariant: under the endpoint's lock no deployment starts while its outcome is read.
            let endpoint_lock = self.lock(endpoint);
            let _endpoint = endpoint_lock.lock().await;
            let described = match self.services().endpoints.describe(endpoint).await {
                Ok(described) => described,
                Err(trainyard_endpoints::Error::Store(trainyard_store::Error::NotFound { .. })) => continue,
                Err(e) => return Err(e.into()),
            };
            if described.get("PendingDeploymentSummary").is_some() {
                continue;
            }
            let live: Vec<String> = described["ProductionVariants"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v["ModelName"].as_str().map(str::to_string))
                .collect();
            for listed in runs.iter().filter(|r| deploying(r) == Some(endpoint.as_str())) {
                let lock = self.lock(&listed.id);
                let _one_step = lock.lock().await;
                let mut run = self.services().store.get_run(&listed.id).await?;
                if deploying(&run) != Some(endpoint.as_str()) {
                    continue;
                }
                let mut step = step_of(&run, "Deployment").cloned().unwrap_or(Value::Null);
                if !started_since(&described, &step) {
                    continue;
                }
                let package = step["ModelPackage"].as_str().unwrap_or_default().to_string();
                step["EndTime"] = json!(Utc::now());
                if live.contains(&package) {
                    step["Status"] = json!("Completed");
                    set_step(&mut run, step);
                    finish(&mut run, "Succeeded", None);
                    if let Some(version) = package.rsplit('/').next().and_then(|v| v.parse::<i64>().ok()) {
                        self.services().models.set_alias(spec.group(), "champion", version).await?;
                    }
                } else {
                    step["Status"] = json!("RolledBack");
                    set_step(&mut run, step);
                    let reason = described["FailureReason"]
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| described["LastDeployment"]["Reason"].as_str().map(str::to_string))
                        .unwrap_or_else(|| {
                            format!("{endpoint} does not serve {package}: the deployment was rolled back")
                        });
                    finish(&mut run, "Failed", Some(reason));
                }
                self.services().store.update_run(&run).await?;
                ended.push(run.id.clone());
            }
        }
        Ok(json!({"Endpoints": endpoints, "Ended": ended}))
    }

    /// A deployment step written before a crash kept its deployment from starting: the
    /// deployment starts now (once; the endpoint's lock, then the run's, as in `deploy`).
    pub(crate) async fn resume_deployment(&self, spec: &PipelineSpec, run_id: &str) -> Result<Value, Error> {
        let Some(deployment) = &spec.deployment else { return Ok(json!({"Ignored": run_id})) };
        let run = self.services().store.get_run(run_id).await?;
        let Some(endpoint) = step_of(&run, "Deployment").and_then(|s| s["Resource"].as_str()).map(str::to_string)
        else {
            return Ok(json!({"Ignored": run_id}));
        };
        let endpoint_lock = self.lock(&endpoint);
        let _endpoint = endpoint_lock.lock().await;
        let run_lock = self.lock(run_id);
        let _run = run_lock.lock().await;
        let mut run = self.services().store.get_run(run_id).await?;
        let step = step_of(&run, "Deployment").cloned().unwrap_or(Value::Null);
        if run.status != "Running" || step["Status"] != "InProgress" {
            return Ok(json!({"Run": run.id, "Duplicate": true}));
        }
        if let Ok(described) = self.services().endpoints.describe(&endpoint).await {
            if started_since(&described, &step) {
                return Ok(json!({"Run": run.id, "Duplicate": true}));
            }
        }
        let package = step["ModelPackage"].as_str().unwrap_or_default().to_string();
        let started = self.start_deployment(spec, deployment, &endpoint, &package).await;
        // An endpoint busy with another deployment: try again on a later pass.
        if let Err(Error::Endpoints(trainyard_endpoints::Error::WrongState { .. })) = &started {
            return Ok(json!({"Run": run.id, "Busy": endpoint}));
        }
        if let Err(e) = started {
            let mut step = step;
            step["Status"] = json!("Failed");
            step["EndTime"] = json!(Utc::now());
            set_step(&mut run, step);
            finish(&mut run, "Failed", Some(format!("deploying {package} to {endpoint}: {e}")));
            self.services().store.update_run(&run).await?;
        }
        Ok(json!({"Run": run.id, "Resumed": package}))
    }
}

/// The endpoint a running run is deploying to, if it is.
fn deploying(run: &RunRecord) -> Option<&str> {
    let step = step_of(run, "Deployment")?;
    if run.status != "Running" || step["Status"] != "InProgress" {
        return None;
    }
    step["Resource"].as_str()
}

/// Whether the deployment of a step started: the endpoint serves or is deploying its
/// version, or is deploying anything, or changed since the step was written (compared in
/// the milliseconds the endpoint's record keeps).
pub(crate) fn started_since(described: &Value, step: &Value) -> bool {
    if described.get("PendingDeploymentSummary").is_some() {
        return true;
    }
    let package = &step["ModelPackage"];
    let serves = described["ProductionVariants"].as_array().into_iter().flatten().any(|v| &v["ModelName"] == package);
    let time =
        |v: &Value| serde_json::from_value::<chrono::DateTime<Utc>>(v.clone()).ok().map(|t| t.timestamp_millis());
    let changed = match (time(&described["LastModifiedTime"]), time(&step["StartTime"])) {
        (Some(modified), Some(started)) => modified >= started,
        _ => true,
    };
    serves || changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_started_when_the_endpoint_moved_in_the_same_millisecond_or_later() {
        let step = json!({"ModelPackage": "churn/2", "StartTime": "2026-11-27T10:00:00.123456789Z"});
        let endpoint =
            |modified: &str| json!({"LastModifiedTime": modified, "ProductionVariants": [{"ModelName": "churn/1"}]});
        assert!(started_since(&endpoint("2026-11-27T10:00:00.123Z"), &step), "the endpoint keeps milliseconds");
        assert!(started_since(&endpoint("2026-11-27T10:00:01Z"), &step));
        assert!(!started_since(&endpoint("2026-11-27T10:00:00.122Z"), &step), "untouched since the step");
        let mut pending = endpoint("2026-11-27T09:00:00Z");
        pending["PendingDeploymentSummary"] = json!({});
        assert!(started_since(&pending, &step));
        let serving =
            json!({"LastModifiedTime": "2026-11-27T09:00:00Z", "ProductionVariants": [{"ModelName": "churn/2"}]});
        assert!(started_since(&serving, &step));
    }

    #[test]
    fn evaluation_jobs_name_their_run_and_attempt() {
        assert_eq!(evaluated_run("churn-0123-eval"), Some(("churn-0123", 1)));
        assert_eq!(evaluated_run("churn-0123-eval-3"), Some(("churn-0123", 3)));
        assert_eq!(evaluated_run("churn-0123-eval-4"), None, "past the last attempt");
        assert_eq!(evaluated_run("churn-0123-eval-1"), None);
        assert_eq!(evaluated_run("churn-0123-evaluation"), None);
        assert_eq!(evaluated_run("report"), None);
    }
}
