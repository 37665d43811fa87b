//! The pipelines service: `apply` (a plan of what changes, then the changes), pipelines
//! and their runs, manual starts, and the retraining loop that closes coalescing windows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::watch;
use trainyard_bus::{EventBus, FunctionRequest, RuleRequest, TargetRequest};
use trainyard_store::{RunRecord, Store};

use crate::plan::{self, Change, PIPELINE_VARIABLE};
use crate::spec::{self, PipelineSpec};
use crate::Error;

/// The services a pipeline drives.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub bus: EventBus,
    pub sources: trainyard_source::Sources,
    pub jobs: trainyard_jobs::Jobs,
    pub models: trainyard_models::Registry,
    pub endpoints: trainyard_endpoints::Endpoints,
    /// Makes the pipelines' roles and decides what their builtins may do.
    pub identities: trainyard_identity::Identities,
}

/// Pipelines. Cheap to clone.
#[derive(Clone)]
pub struct Pipelines {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) services: Services,
    // Invariant: one step of a run at a time, so check-then-act in a builtin (is this
    // version registered? deployed?) is not raced by a duplicate delivery.
    runs: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

const BUILTINS: [&str; 6] =
    [plan::TRIGGER, plan::EVALUATE, plan::REGISTER, plan::DEPLOY, plan::RETRAIN, plan::RECORD_DEPLOYMENT];

impl Pipelines {
    /// The pipelines of `services`, registered as the bus's runner of `builtin:` functions.
    pub fn new(services: Services) -> Pipelines {
        let pipelines = Pipelines { inner: Arc::new(Inner { services, runs: Mutex::new(HashMap::new()) }) };
        pipelines.services().bus.set_builtins(Arc::new(pipelines.clone()));
        pipelines
    }

    pub(crate) fn services(&self) -> &Services {
        &self.inner.services
    }

    /// The lock of one pipeline's run steps.
    pub(crate) fn lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.runs.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(key.to_string()).or_default().clone()
    }

    /// The applied spec of `name`.
    pub(crate) async fn spec(&self, name: &str) -> Result<PipelineSpec, Error> {
        let record = self.services().store.get_pipeline(name).await?;
        spec::load(&record.spec)
    }

    /// Validates `text` and brings the platform in line with it; returns the plan it
    /// carried out (`dry_run`: only the plan). `base` is the absolute directory the file
    /// was read from: relative repository paths in it are resolved against it.
    pub async fn apply(&self, text: &str, base: Option<&std::path::Path>, dry_run: bool) -> Result<Value, Error> {
        let spec = spec::parse_in(text, base)?;
        let name = spec.name().to_string();
        let s = self.services();
        let rules = plan::rules(&spec);
        // A rule of the same name that the pipeline did not make is not taken over.
        let mut taken = Vec::new();
        for rule in &rules {
            if let Ok(existing) = s.store.get_rule("default", &rule.name).await {
                if !plan::is_pipeline_rule(&name, &existing) {
                    taken.push(format!(
                        "rule {} exists and was not made by pipeline {name}: rename or delete it",
                        rule.name
                    ));
                }
            }
        }
        if !taken.is_empty() {
            return Err(Error::InvalidSpec { problems: taken });
        }
        let mut changes = Vec::new();
        // Invariant: the spec is kept with its webhook secret's fingerprint, never the secret.
        let kept = spec::redact_secrets(text, &spec, |secret| s.sources.secret_fingerprint(secret));
        let existing = s.store.get_pipeline(&name).await.ok();
        let action = match &existing {
            None => "create",
            Some(record) if record.spec != kept => "update",
            Some(_) => "unchanged",
        };
        changes.push(Change::new(action, "pipeline", &name));
        if !dry_run {
            s.store.put_pipeline(&name, &kept, Utc::now()).await?;
        }
        changes.push(self.apply_group(&spec, dry_run).await?);
        // An endpoint needs a model: the first approved version creates it.
        if let Some(deployment) = &spec.deployment {
            let endpoint = &deployment.endpoint.value;
            let exists = s.endpoints.describe(endpoint).await.is_ok();
            changes.push(Change::new(if exists { "unchanged" } else { "at first deployment" }, "endpoint", endpoint));
        }
        if let Some(source) = &spec.source {
            changes.push(self.apply_source(&name, source, dry_run).await?);
        }
        let wanted: Vec<&str> = rules.iter().map(|r| r.builtin).collect();
        // The trigger function exists even when no rule routes to it: users can invoke it
        // or route their own rules to it.
        let builtins: Vec<&str> =
            BUILTINS.iter().copied().filter(|b| wanted.contains(b) || *b == plan::TRIGGER).collect();
        for builtin in &builtins {
            changes.push(self.apply_function(&name, builtin, dry_run).await?);
        }
        for role in crate::roles::roles(&spec, &builtins) {
            changes.push(self.apply_role(&role, dry_run).await?);
        }
        for rule in &rules {
            changes.extend(self.apply_rule(&name, rule, dry_run).await?);
        }
        // Rules of the pipeline that the file no longer implies go.
        let wanted_rules: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        for existing in s.store.list_rules(Some("default")).await? {
            let ours = plan::is_pipeline_rule(&name, &existing);
            if ours && !wanted_rules.contains(&existing.name.as_str()) {
                if !dry_run {
                    for target in s.store.list_targets("default", &existing.name).await? {
                        s.bus.remove_target("default", &existing.name, &target.id).await?;
                    }
                    s.bus.delete_rule("default", &existing.name).await?;
                }
                changes.push(Change::new("delete", "rule", &existing.name));
            }
        }
        Ok(json!({"Pipeline": name, "DryRun": dry_run, "Changes": changes}))
    }

    /// Creates the pipeline's source, or brings its url, branch, poll interval and webhook
    /// secret in line.
    async fn apply_source(&self, name: &str, source: &spec::SourceSpec, dry_run: bool) -> Result<Change, Error> {
        let sources = &self.services().sources;
        let poll = match &source.poll {
            Some(poll) => Some(
                trainyard_endpoints::policy::duration(&poll.value)
                    .map_err(|e| Error::InvalidSpec { problems: vec![format!("source.poll: {e}")] })?,
            ),
            None => None,
        };
        let request = trainyard_source::AddSource {
            name: name.to_string(),
            url: source.git.value.clone(),
            branch: source.branch.clone().unwrap_or_else(|| "main".into()),
            poll_interval_seconds: poll.map(|p| p.as_secs().max(1)).or(Some(30)),
            webhook_secret: source.webhook_secret.as_ref().map(|s| s.value.clone()),
        };
        let Ok(current) = self.services().store.get_source(name).await else {
            if !dry_run {
                sources.add(request).await?;
            }
            return Ok(Change::new("create", "source", name));
        };
        let same = current.url == request.url
            && current.branch == request.branch
            && current.poll_seconds == request.poll_interval_seconds.map(|s| s as i64)
            && sources.has_webhook_secret(&current, request.webhook_secret.as_deref());
        if same {
            return Ok(Change::new("unchanged", "source", name));
        }
        if !dry_run {
            sources.update(request).await?;
        }
        Ok(Change::new("update", "source", name))
    }

    /// Creates the model group, or brings its approval mode and gate failure in line.
    async fn apply_group(&self, spec: &PipelineSpec, dry_run: bool) -> Result<Change, Error> {
        let models = &self.services().models;
        let group = spec.group();
        let mode = if spec.auto_approval() { "auto" } else { "manual" };
        let on_failure = spec.evaluation.on_failure.as_ref().map_or(trainyard_models::GATE_FAILURE[0], |f| &f.value);
        if let Ok(current) = models.describe_group(group).await {
            if current["ApprovalMode"] == mode && current["GateFailure"] == on_failure {
                return Ok(Change::new("unchanged", "model package group", group));
            }
            if !dry_run {
                models.update_group(group, Some(mode.into()), Some(on_failure.into())).await?;
            }
            return Ok(Change::new("update", "model package group", group));
        }
        if !dry_run {
            let request = json!({"ModelPackageGroupName": group,
                                 "ModelPackageGroupDescription": format!("pipeline {}", spec.name()),
                                 "ApprovalMode": mode, "GateFailure": on_failure});
            let request = serde_json::from_value(request).map_err(|e| Error::Internal { message: e.to_string() })?;
            models.create_group(request).await?;
        }
        Ok(Change::new("create", "model package group", group))
    }

    async fn apply_function(&self, pipeline: &str, builtin: &str, dry_run: bool) -> Result<Change, Error> {
        let s = self.services();
        let name = plan::function_name(pipeline, builtin);
        if s.store.get_function(&name).await.is_ok() {
            return Ok(Change::new("unchanged", "function", name));
        }
        if !dry_run {
            let request = FunctionRequest {
                function_name: name.clone(),
                command: format!("builtin:{builtin}"),
                environment: [(PIPELINE_VARIABLE.to_string(), pipeline.to_string())].into(),
                timeout: 300,
                description: format!("{builtin} for pipeline {pipeline}"),
                role: Some(crate::roles::role_arn(&name)),
                ..Default::default()
            };
            s.bus.create_function(&request).await?;
        }
        Ok(Change::new("create", "function", name))
    }

    /// A role with its trust policy and its one inline policy, made or brought up to date.
    async fn apply_role(&self, role: &crate::roles::RoleSpec, dry_run: bool) -> Result<Change, Error> {
        use trainyard_identity::PrincipalKind::Role;
        let identities = &self.services().identities;
        let policy = role.policy.to_string();
        let trust = role.trust().to_string();
        let action = match identities.principal(Role, &role.name) {
            Err(_) => "create",
            Ok(current) if current.path != crate::roles::PATH => {
                return Err(Error::InvalidSpec {
                    problems: vec![format!(
                        "the pipeline needs role {} but a role of that name exists outside {}: rename the pipeline or that role",
                        role.name,
                        crate::roles::PATH
                    )],
                });
            }
            Ok(current) => {
                let same_policy = identities
                    .inline_policy(Role, &role.name, crate::roles::POLICY_NAME)
                    .is_ok_and(|text| serde_json::from_str::<Value>(&text).ok().as_ref() == Some(&role.policy));
                let same_trust = current
                    .assume_role_policy_document
                    .as_deref()
                    .and_then(|t| serde_json::from_str::<Value>(t).ok())
                    .is_some_and(|t| t == role.trust());
                if same_policy && same_trust {
                    "unchanged"
                } else {
                    "update"
                }
            }
        };
        if !dry_run && action != "unchanged" {
            if action == "create" {
                let new = trainyard_identity::NewPrincipal {
                    name: role.name.clone(),
                    path: Some(crate::roles::PATH.to_string()),
                    description: Some("made by trainyard apply: least privilege for one pipeline step".into()),
                    trust_policy: Some(trust),
                    ..Default::default()
                };
                identities.create_principal(Role, new).await?;
            } else {
                identities.update_trust_policy(&role.name, &trust).await?;
            }
            identities.put_inline_policy(Role, &role.name, crate::roles::POLICY_NAME, &policy).await?;
        }
        Ok(Change::new(action, "role", role.arn()).with_policy(role.policy.clone()))
    }

    /// Checks that the builtin `builtin` of `pipeline`, acting as its role, may do
    /// `action` on `resource`.
    pub(crate) fn require_as(&self, pipeline: &str, builtin: &str, action: &str, resource: &str) -> Result<(), Error> {
        let identity = self.acting_as(pipeline, builtin)?;
        let facts = trainyard_identity::RequestFacts::default();
        let request = trainyard_identity::AccessRequest { action, resource, facts: &facts, resource_policy: None };
        Ok(self.services().identities.require(&identity, &request)?)
    }

    /// The caller a builtin is: a session of its role.
    pub(crate) fn acting_as(&self, pipeline: &str, builtin: &str) -> Result<trainyard_identity::Identity, Error> {
        let role = crate::roles::role_arn(&plan::function_name(pipeline, builtin));
        Ok(self.services().identities.principal_identity(&role, builtin)?)
    }

    /// A new rule gets the builtin as its target. An existing rule's pattern is changed in
    /// place, keeping its state (a rule a user disabled stays disabled) and its targets (a
    /// function a user put in the builtin's place stays); a rule left with no target gets
    /// the builtin again.
    async fn apply_rule(&self, pipeline: &str, rule: &plan::RuleSpec, dry_run: bool) -> Result<Vec<Change>, Error> {
        let s = self.services();
        let function = plan::function_name(pipeline, rule.builtin);
        let current = s.store.get_rule("default", &rule.name).await.ok();
        let same_pattern = match (&rule.schedule, &current) {
            (_, None) => false,
            (Some(schedule), Some(current)) => current.schedule_expression.as_deref() == Some(schedule.as_str()),
            (None, Some(current)) => current
                .event_pattern
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .is_some_and(|p| p == rule.pattern),
        };
        let targets = match &current {
            Some(_) => s.store.list_targets("default", &rule.name).await?,
            None => Vec::new(),
        };
        let request = RuleRequest {
            name: rule.name.clone(),
            event_bus_name: None,
            event_pattern: rule.schedule.is_none().then(|| rule.pattern.clone()),
            schedule_expression: rule.schedule.clone(),
            state: None,
            description: Some(plan::rule_description(pipeline, rule.builtin)),
        };
        let mut changes = Vec::new();
        match (&current, same_pattern) {
            (None, _) => {
                if !dry_run {
                    s.bus.create_rule(&request).await?;
                }
                changes.push(Change::new("create", "rule", &rule.name));
            }
            (Some(_), false) => {
                if !dry_run {
                    s.bus.update_rule(&request).await?;
                }
                changes.push(Change::new("update", "rule", &rule.name));
            }
            (Some(_), true) => changes.push(Change::new("unchanged", "rule", &rule.name)),
        }
        let target = format!("{} → {function}", rule.name);
        if targets.is_empty() {
            if !dry_run {
                let request: TargetRequest =
                    serde_json::from_value(json!({"Id": "pipeline", "FunctionName": function}))
                        .map_err(|e| Error::Internal { message: e.to_string() })?;
                s.bus.put_target("default", &rule.name, &request).await?;
            }
            changes.push(Change::new("create", "target", target));
        } else {
            let ours = targets.iter().any(
                |t| matches!(&t.destination, trainyard_store::Destination::Function { name } if *name == function),
            );
            let target = if ours { target } else { format!("{} → the targets put in its place", rule.name) };
            changes.push(Change::new("unchanged", "target", target));
        }
        Ok(changes)
    }

    pub async fn list(&self) -> Result<Value, Error> {
        let pipelines = self.services().store.list_pipelines().await?;
        let mut items = Vec::new();
        for p in pipelines {
            let last = self.services().store.list_runs(&p.name, 1).await?.into_iter().next();
            items.push(json!({"Name": p.name, "CreatedAt": p.created_at, "AppliedAt": p.applied_at,
                              "LastRun": last.as_ref().map(|r| &r.id), "LastRunStatus": last.as_ref().map(|r| &r.status)}));
        }
        Ok(json!({"Pipelines": items}))
    }

    pub async fn describe(&self, name: &str) -> Result<Value, Error> {
        let record = self.services().store.get_pipeline(name).await?;
        let spec = spec::load(&record.spec)?;
        let rules: Vec<Value> = plan::rules(&spec)
            .iter()
            .map(|r| json!({"Rule": r.name, "Function": plan::function_name(name, r.builtin)}))
            .collect();
        Ok(json!({"Name": name, "CreatedAt": record.created_at, "AppliedAt": record.applied_at,
                  "ModelPackageGroup": spec.group(), "Endpoint": spec.deployment.as_ref().map(|d| &d.endpoint.value),
                  "Rules": rules, "Spec": record.spec}))
    }

    /// Deletes the pipeline's rules, targets and functions and the pipeline; its source,
    /// model group, endpoint and runs stay.
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        self.services().store.get_pipeline(name).await?;
        let s = self.services();
        for rule in s.store.list_rules(Some("default")).await? {
            if plan::is_pipeline_rule(name, &rule) {
                for target in s.store.list_targets("default", &rule.name).await? {
                    s.bus.remove_target("default", &rule.name, &target.id).await?;
                }
                s.bus.delete_rule("default", &rule.name).await?;
            }
        }
        for builtin in BUILTINS {
            let function = plan::function_name(name, builtin);
            if s.store.get_function(&function).await.is_ok() {
                s.bus.delete_function(&function).await?;
            }
        }
        for role in BUILTINS.iter().map(|b| plan::function_name(name, b)).chain([crate::roles::execution_role(name)]) {
            if s.identities.principal(trainyard_identity::PrincipalKind::Role, &role).is_ok() {
                s.identities.delete_principal(trainyard_identity::PrincipalKind::Role, &role).await?;
            }
        }
        s.store.drop_retraining(name).await?;
        s.store.delete_pipeline(name).await?;
        Ok(())
    }

    pub async fn runs(&self, name: &str) -> Result<Value, Error> {
        self.services().store.get_pipeline(name).await?;
        let runs = self.services().store.list_runs(name, 1000).await?;
        Ok(json!({"Runs": runs.iter().map(run_summary).collect::<Vec<_>>()}))
    }

    pub async fn describe_run(&self, id: &str) -> Result<Value, Error> {
        let run = self.services().store.get_run(id).await?;
        let mut described = run_summary(&run);
        described["Trigger"] = run.trigger.clone();
        described["Steps"] = run.steps.clone();
        Ok(described)
    }

    /// `trainyard pipelines start`: a run now, on the pipeline's latest image (or algorithm).
    pub async fn start(&self, name: &str) -> Result<Value, Error> {
        let spec = self.spec(name).await?;
        let trigger = json!({"Type": "manual"});
        let run =
            self.start_training(&spec, trigger, None, &format!("m{}", Utc::now().format("%y%m%d%H%M%S%3f"))).await?;
        self.describe_run(&run).await
    }

    /// Closes retraining windows older than their pipeline's `min_interval`, starting one
    /// run for each, and carries on runs whose event was lost (`reconcile.rs`); until
    /// `stopped`.
    pub async fn run(&self, stopped: watch::Receiver<bool>) {
        // The reconciler has its own task: a pass that waits on an endpoint does not hold
        // up the retraining windows.
        let reconciler = {
            let (this, mut stopped) = (self.clone(), stopped.clone());
            tokio::spawn(async move {
                let mut stuck = crate::reconcile::Stuck::default();
                let mut ticker = tokio::time::interval(Duration::from_secs(2));
                while every(&mut ticker, &mut stopped).await {
                    if let Err(e) = this.reconcile(&mut stuck).await {
                        tracing::warn!(error = %e, "reconciling pipeline runs failed");
                    }
                }
            })
        };
        let mut stopped = stopped;
        let mut ticker = tokio::time::interval(Duration::from_millis(250));
        let mut warned: HashMap<String, std::time::Instant> = HashMap::new();
        while every(&mut ticker, &mut stopped).await {
            if let Err(e) = self.close_windows(&mut warned).await {
                tracing::warn!(error = %e, "retraining pass failed");
            }
        }
        let _ = reconciler.await;
    }

    /// `warned`: when each pipeline whose window could not close was last warned about (a
    /// window is tried again every pass; its warning, once a minute).
    async fn close_windows(&self, warned: &mut HashMap<String, std::time::Instant>) -> Result<(), Error> {
        let s = self.services();
        let now = Utc::now();
        let mut warn = |pipeline: &str, error: &Error, what: &str| {
            if warned.get(pipeline).is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                tracing::warn!(pipeline = %pipeline, error = %error, "{what}");
                warned.insert(pipeline.to_string(), std::time::Instant::now());
            }
        };
        for window in s.store.retraining_windows().await? {
            let pipeline = &window.pipeline;
            let spec = match self.spec(pipeline).await {
                Ok(spec) => spec,
                Err(Error::Store(trainyard_store::Error::NotFound { .. })) => {
                    s.store.drop_retraining(pipeline).await?;
                    continue;
                }
                Err(e) => {
                    warn(pipeline, &e, "cannot read the pipeline to retrain it");
                    continue;
                }
            };
            let due = window.opened + chrono::Duration::from_std(spec.min_interval()).unwrap_or_default();
            if now < due {
                continue;
            }
            let trigger = json!({"Type": "new_data", "Objects": window.objects, "WindowOpened": window.opened,
                                 "WindowClosed": now, "WindowLast": window.last,
                                 "Data": spec.retraining.as_ref().and_then(|r| r.data.as_ref()).map(|d| &d.value)});
            // Invariant: a window's first note id is never another window's, so neither is
            // its run's name.
            let suffix = format!("d{}-{}", window.opened.format("%y%m%d%H%M%S"), window.first);
            let run = format!("{pipeline}-{suffix}");
            // Invariant: the window closes only once its run exists; a crash in between
            // starts the same run again (a duplicate, or a resumed start), which then takes
            // the objects of the window as it first closed — recorded on the run.
            match self.start_training(&spec, trigger, None, &suffix).await {
                Ok(_) | Err(Error::Duplicate { .. }) => {}
                // One pipeline's failure does not hold up the others' windows.
                Err(e) => {
                    warn(pipeline, &e, "could not start a retraining run");
                    continue;
                }
            }
            let recorded = match s.store.get_run(&run).await {
                Ok(run) => run.trigger["WindowLast"].as_i64(),
                Err(e) => {
                    warn(pipeline, &e.into(), "cannot read a retraining run");
                    continue;
                }
            };
            s.store.close_retraining(pipeline, &run, recorded.unwrap_or(window.last)).await?;
        }
        Ok(())
    }

    /// Records a run and starts its training job; the run's id is the job's name,
    /// `<pipeline>-<suffix>`, so a repeated trigger finds the run already there.
    pub(crate) async fn start_training(
        &self,
        spec: &PipelineSpec,
        trigger: Value,
        image: Option<String>,
        suffix: &str,
    ) -> Result<String, Error> {
        let s = self.services();
        let id = format!("{}-{suffix}", spec.name());
        let image = match (image, &spec.training.image) {
            (Some(image), _) => Some(image),
            (None, Some(configured)) if configured.value == "build" => Some(self.latest_image(spec).await?),
            (None, Some(configured)) => Some(configured.value.clone()),
            (None, None) => None,
        };
        let lock = self.lock(&id);
        let _one_step = lock.lock().await;
        let now = Utc::now();
        let mut steps = Vec::new();
        if let Some(build) = trigger.get("Build") {
            steps.push(build.clone());
        }
        if let Some(image) = &image {
            steps.push(json!({"Step": "Image", "Resource": image, "Status": "Completed", "EndTime": now}));
        }
        let run = RunRecord {
            id: id.clone(),
            pipeline: spec.name().to_string(),
            trigger,
            status: "Running".into(),
            reason: None,
            steps: json!(steps),
            created_at: now,
            updated_at: now,
        };
        match s.store.create_run(&run).await {
            Ok(()) => {}
            Err(trainyard_store::Error::AlreadyExists { .. }) => {
                // A run whose job never started (a crash in between) is resumed; any
                // other is a duplicate.
                let existing = s.store.get_run(&id).await?;
                let started = existing.steps.as_array().is_some_and(|st| st.iter().any(|x| x["Step"] == "Training"));
                if existing.status != "Running" || started {
                    return Err(Error::Duplicate { run: id });
                }
            }
            Err(e) => return Err(e.into()),
        }
        // Retraining runs are started by the retraining function, others by the trigger.
        let starter = match run.trigger["Type"].as_str() {
            Some("new_data" | "schedule") => plan::RETRAIN,
            _ => plan::TRIGGER,
        };
        // The starter acts as its role: it may start this job and pass the execution role.
        let execution = crate::roles::role_arn(&crate::roles::execution_role(spec.name()));
        let job_arn = format!(
            "arn:aws:sagemaker:{}:{}:training-job/{id}",
            trainyard_identity::REGION,
            trainyard_identity::ACCOUNT
        );
        let allowed = self.require_as(spec.name(), starter, "sagemaker:CreateTrainingJob", &job_arn).and_then(|()| {
            let identity = self.acting_as(spec.name(), starter)?;
            Ok(s.identities.check_pass_role(&identity, &execution, "sagemaker.amazonaws.com")?)
        });
        let request = crate::builtins::training_request(spec, &id, image.as_deref(), &execution)?;
        let started = match allowed {
            Ok(()) => s.jobs.create(request).await.map_err(Error::from),
            Err(e) => Err(e),
        };
        let mut run = s.store.get_run(&id).await?;
        match started {
            Ok(_) | Err(Error::Jobs(trainyard_jobs::Error::Store(trainyard_store::Error::AlreadyExists { .. }))) => {
                crate::builtins::set_step(
                    &mut run,
                    json!({"Step": "Training", "Resource": id, "Status": "InProgress", "StartTime": Utc::now()}),
                );
            }
            Err(e) => {
                run.status = "Failed".into();
                run.reason = Some(format!("the training job could not start: {e}"));
            }
        }
        run.updated_at = Utc::now();
        s.store.update_run(&run).await?;
        Ok(id)
    }

    /// The image the pipeline's build pushed last (by digest).
    async fn latest_image(&self, spec: &PipelineSpec) -> Result<String, Error> {
        let s = self.services();
        let builds = s.store.list_builds(Some(spec.source_name()), Some("SUCCEEDED"), 1).await?;
        let build = builds.first().ok_or_else(|| Error::NoImage { pipeline: spec.name().into() })?;
        match (&build.repository, &build.image_digest) {
            (Some(repository), Some(digest)) => Ok(format!("{repository}@{digest}")),
            _ => Err(Error::NoImage { pipeline: spec.name().into() }),
        }
    }
}

/// Waits for the next tick; false once `stopped`.
async fn every(ticker: &mut tokio::time::Interval, stopped: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = ticker.tick() => {}
        _ = stopped.changed() => return false,
    }
    !*stopped.borrow()
}

fn run_summary(run: &RunRecord) -> Value {
    json!({"RunId": run.id, "Pipeline": run.pipeline, "Status": run.status, "Reason": run.reason,
           "TriggerType": run.trigger.get("Type"), "StartTime": run.created_at, "LastModifiedTime": run.updated_at})
}
