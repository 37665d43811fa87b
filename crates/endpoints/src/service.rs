//! The control plane: endpoints, their configurations and deployments, persisted in the
//! store, announced on the bus, and recovered after a restart.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use trainyard_bus::EventBus;
use trainyard_models::Registry;
use trainyard_objects::{Objects, S3Uri};
use trainyard_runtime::Model;
use trainyard_store::{EndpointRecord, Store};

use crate::live::{DataPlane, Endpoint, Fleet, Routing, Variant};
use crate::policy::Policy;
use crate::stats::Stats;
use crate::Error;
use crate::Serving;

/// How endpoints run on this server.
#[derive(Debug, Clone)]
pub struct EndpointsConfig {
    /// Downloaded model artifacts, by URL and ETag.
    pub cache_dir: PathBuf,
    pub account: String,
    pub region: String,
}

/// A deployment request: the new configuration's variants and how to move to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Deploy {
    pub production_variants: Vec<VariantSpec>,
    /// SageMaker's `DeploymentConfig` (`BlueGreenUpdatePolicy`, `AutoRollbackConfiguration`).
    #[serde(default)]
    pub deployment_config: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct VariantSpec {
    pub variant_name: String,
    /// `group/version` or `group/alias` in the model registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_package: Option<String>,
    /// Or an artifact directly: `s3://.../model.tar.gz`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_data_url: Option<String>,
    /// Or a SageMaker model (`CreateModel`): its artifact, served as its image answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(default = "one")]
    pub initial_variant_weight: f64,
    /// In-process workers: how many requests the variant's model runs at once (the rest
    /// wait their turn). Unset: as many as the server's async workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_instance_count: Option<u32>,
}

fn one() -> f64 {
    1.0
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidRequest { field: field.into(), reason: reason.into() }
}

/// The endpoints service; cheap to clone.
#[derive(Clone)]
pub struct Endpoints {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    bus: EventBus,
    pub(crate) objects: Objects,
    pub(crate) registry: Registry,
    data: Arc<DataPlane>,
    pub(crate) config: EndpointsConfig,
    /// Endpoints with a creation or deployment running in this process, and the signal
    /// that asks it to roll back. Invariant: at most one per endpoint.
    running: Mutex<HashMap<String, watch::Sender<bool>>>,
    /// The configuration this replica last took from another's change, by endpoint;
    /// forgotten when this replica changes the endpoint itself.
    followed: Mutex<HashMap<String, Value>>,
}

/// An endpoint's claim on its one creation or deployment, released when the task ends —
/// however it ends, a panic included.
struct Claim(Endpoints, String);

impl Drop for Claim {
    fn drop(&mut self) {
        self.0.release_running(&self.1);
    }
}

/// A running deployment's stage, for its events.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    Creating,
    ActivatingTraffic,
    Baking,
    Completed,
    RollingBack,
    RolledBack,
    Failed,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Creating => "Creating",
            Stage::ActivatingTraffic => "ActivatingTraffic",
            Stage::Baking => "Baking",
            Stage::Completed => "Completed",
            Stage::RollingBack => "RollingBack",
            Stage::RolledBack => "RolledBack",
            Stage::Failed => "Failed",
        }
    }
}

fn config_name(config: &Option<Value>) -> Value {
    config.as_ref().map_or(Value::Null, |c| c["EndpointConfigName"].clone())
}

impl Endpoints {
    /// Opens the service and brings every endpoint back on its last committed
    /// configuration; a deployment a restart interrupted is abandoned (recorded), a
    /// creation is started again.
    pub async fn open(
        store: Store,
        bus: EventBus,
        objects: Objects,
        registry: Registry,
        config: EndpointsConfig,
    ) -> Result<Endpoints, Error> {
        let endpoints = Endpoints {
            inner: Arc::new(Inner {
                store,
                bus,
                objects,
                registry,
                data: Arc::new(DataPlane::default()),
                config,
                running: Mutex::new(HashMap::new()),
                followed: Mutex::new(HashMap::new()),
            }),
        };
        // Listening first: a change committed while the fleets load is not missed.
        let changes = endpoints.inner.store.changes();
        // Every replica serves every endpoint on its committed configuration.
        let alone = endpoints.alone().await?;
        for mut record in endpoints.inner.store.list_endpoints().await? {
            let Some(config) = record.config.clone().filter(|_| record.status != "Failed") else { continue };
            match endpoints.load_fleet(&config).await {
                Ok(fleet) => endpoints.inner.data.install(&record.name, Arc::new(Endpoint::new(fleet))),
                // Another replica may load it yet: only the last one standing calls it failed.
                Err(e) if alone => {
                    record.failure_reason = Some(format!("after a restart: {e}"));
                    record.pending = None;
                    endpoints.set_status(&mut record, "Failed").await?;
                }
                Err(e) => tracing::error!(endpoint = %record.name, error = %e, "loading the endpoint's fleet"),
            }
        }
        endpoints.adopt_orphans().await?;
        tokio::spawn(crate::replicas::follow_other_replicas(Arc::downgrade(&endpoints.inner), changes));
        Ok(endpoints)
    }

    /// The live routing tables the data plane serves from.
    pub fn data_plane(&self) -> Arc<DataPlane> {
        Arc::clone(&self.inner.data)
    }

    /// The same, borrowed: the request path takes no reference count.
    pub fn data(&self) -> &DataPlane {
        &self.inner.data
    }

    fn arn(&self, name: &str) -> String {
        let c = &self.inner.config;
        format!("arn:aws:sagemaker:{}:{}:endpoint/{}", c.region, c.account, name.to_lowercase())
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    /// Whether a creation or deployment of `name` runs in this process.
    pub(crate) fn is_running(&self, name: &str) -> bool {
        self.inner.running.lock().is_ok_and(|running| running.contains_key(name))
    }

    /// Asks the deployment of `name` running in this process, if any, to roll back.
    pub(crate) fn signal_rollback(&self, name: &str) -> bool {
        let signal = self.inner.running.lock().ok().and_then(|r| r.get(name).cloned());
        signal.is_some_and(|signal| signal.send(true).is_ok())
    }

    pub(crate) fn followed(&self, name: &str) -> Option<Value> {
        self.inner.followed.lock().ok()?.get(name).cloned()
    }

    pub(crate) fn set_followed(&self, name: &str, config: Value) {
        if let Ok(mut followed) = self.inner.followed.lock() {
            followed.insert(name.to_string(), config);
        }
    }

    pub(crate) fn forget_followed(&self, name: &str) {
        if let Ok(mut followed) = self.inner.followed.lock() {
            followed.remove(name);
        }
    }

    /// Records a change this replica made to `name`, and tells the others.
    async fn changed(&self, name: &str) {
        self.forget_followed(name);
        self.tell_replicas(trainyard_store::Change::Endpoint(name.to_string())).await;
    }

    /// Claims the endpoint for one creation or deployment.
    pub(crate) fn lock_running(&self, name: &str, stop: watch::Sender<bool>) -> Result<(), Error> {
        let mut running = self.inner.running.lock().map_err(|_| invalid("endpoint", "internal lock poisoned"))?;
        if running.contains_key(name) {
            return Err(Error::WrongState { name: name.into(), status: "Updating".into(), action: "a new deployment" });
        }
        running.insert(name.into(), stop);
        Ok(())
    }

    /// Claims the endpoint, waiting out a task that has already committed its outcome (the
    /// store says `InService` or `Failed`) and is only finishing; returns the rollback
    /// signal's receiver.
    async fn claim(&self, name: &str, action: &'static str) -> Result<watch::Receiver<bool>, Error> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (stop, stopped) = watch::channel(false);
            let Err(busy) = self.lock_running(name, stop) else { return Ok(stopped) };
            let status = match self.inner.store.get_endpoint(name).await {
                Ok(record) => record.status,
                Err(trainyard_store::Error::NotFound { .. }) => return Err(busy),
                Err(e) => return Err(e.into()),
            };
            if !matches!(status.as_str(), "InService" | "Failed") || Instant::now() >= deadline {
                return Err(Error::WrongState { name: name.into(), status, action });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn release_running(&self, name: &str) {
        if let Ok(mut running) = self.inner.running.lock() {
            running.remove(name);
        }
    }

    /// Resolves the variants into an endpoint configuration (registry versions become
    /// artifact URLs, so a restart does not depend on the registry).
    /// `config_name`: the configuration's name (SageMaker's `EndpointConfigName`); without
    /// one, the endpoint's name and the time.
    pub(crate) async fn resolve(
        &self,
        name: &str,
        request: &Deploy,
        config_name: Option<&str>,
    ) -> Result<Value, Error> {
        let variants = &request.production_variants;
        if variants.is_empty() || variants.len() > 10 {
            return Err(invalid("ProductionVariants", "give 1 to 10 variants"));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut resolved = Vec::new();
        for v in variants {
            trainyard_events::validate_name("VariantName", &v.variant_name).map_err(|e| invalid("VariantName", e))?;
            if !seen.insert(v.variant_name.clone()) {
                return Err(invalid("VariantName", format!("{:?} appears twice", v.variant_name)));
            }
            if !(v.initial_variant_weight.is_finite() && v.initial_variant_weight >= 0.0) {
                return Err(invalid("InitialVariantWeight", "must be a number >= 0"));
            }
            if v.initial_instance_count.is_some_and(|n| !(1..=1024).contains(&n)) {
                return Err(invalid("InitialInstanceCount", "must be 1-1024 workers"));
            }
            let (model_name, url, serving) = match (&v.model_package, &v.model_data_url, &v.model_name) {
                (Some(reference), None, None) => {
                    let (group, version) = reference
                        .split_once('/')
                        .ok_or_else(|| invalid("ModelPackage", format!("{reference:?}: expected GROUP/VERSION")))?;
                    let (name, url) = self.servable_version(group, version).await?;
                    (name, url, Serving::Native)
                }
                (None, Some(url), None) => (url.clone(), url.clone(), Serving::Native),
                (None, None, Some(model)) => {
                    let (url, serving) = self.model_artifact(model).await?;
                    (model.clone(), url, serving)
                }
                _ => {
                    return Err(invalid(
                        "ProductionVariants",
                        "each variant needs exactly one of ModelPackage, ModelDataUrl and ModelName",
                    ))
                }
            };
            S3Uri::parse(&url).map_err(|e| invalid("ModelDataUrl", e.to_string()))?;
            resolved.push(json!({"VariantName": v.variant_name, "ModelName": model_name, "ModelDataUrl": url,
                                 "Serving": serving.as_str(),
                                 "InitialVariantWeight": v.initial_variant_weight,
                                 "InitialInstanceCount": v.initial_instance_count}));
        }
        if variants.iter().map(|v| v.initial_variant_weight).sum::<f64>() <= 0.0 {
            return Err(invalid("InitialVariantWeight", "at least one variant needs a weight above 0"));
        }
        let config_name = match config_name {
            Some(config_name) => config_name.to_string(),
            None => format!("{name}-{}", Utc::now().format("%Y%m%d%H%M%S%3f")),
        };
        Ok(json!({"EndpointConfigName": config_name, "ProductionVariants": resolved}))
    }

    /// Creates the endpoint, or deploys a new configuration to it. Returns the description;
    /// poll it (or wait for the events) to see the deployment end.
    /// `by`: the principal deploying, recorded on the configuration (`DeployedBy` once live).
    pub async fn deploy(&self, name: &str, request: Deploy, by: &str) -> Result<Value, Error> {
        self.deploy_named(name, request, by, None).await
    }

    pub(crate) async fn deploy_named(
        &self,
        name: &str,
        request: Deploy,
        by: &str,
        config_name: Option<&str>,
    ) -> Result<Value, Error> {
        trainyard_events::validate_name("EndpointName", name).map_err(|e| invalid("EndpointName", e))?;
        let policy = Policy::from_sagemaker(request.deployment_config.as_ref().unwrap_or(&Value::Null))?;
        let mut config = self.resolve(name, &request, config_name).await?;
        config["CreatedBy"] = json!(by);
        self.deploy_config(name, config, policy).await
    }

    /// Deploys a resolved configuration.
    async fn deploy_config(&self, name: &str, config: Value, policy: Policy) -> Result<Value, Error> {
        let pending = json!({"Config": config, "DeploymentConfig": policy.to_sagemaker(), "StartTime": Utc::now()});
        let stopped = self.claim(name, "a new deployment").await?;
        if let Err(e) = self.start(name, pending, policy, stopped).await {
            // Nothing was spawned: the claim is ours to release.
            self.release_running(name);
            return Err(e);
        }
        self.describe(name).await
    }

    async fn start(
        &self,
        name: &str,
        pending: Value,
        policy: Policy,
        stopped: watch::Receiver<bool>,
    ) -> Result<(), Error> {
        let now = Utc::now();
        match self.inner.store.get_endpoint(name).await {
            Err(trainyard_store::Error::NotFound { .. }) => {
                let record = EndpointRecord {
                    name: name.into(),
                    arn: self.arn(name),
                    status: "Creating".into(),
                    config: None,
                    previous_config: None,
                    pending: Some(pending),
                    last_deployment: None,
                    failure_reason: None,
                    created_at: now,
                    updated_at: now,
                };
                self.inner.store.create_endpoint(&record).await?;
                self.own(name).await?;
                self.emit_status(&record).await;
                self.spawn_create(name.into());
            }
            Err(e) => return Err(e.into()),
            Ok(mut record) if record.status == "Failed" => {
                record.pending = Some(pending);
                record.failure_reason = None;
                self.own(name).await?;
                self.set_status(&mut record, "Creating").await?;
                self.spawn_create(name.into());
            }
            Ok(mut record) if record.status == "InService" => {
                record.pending = Some(pending);
                record.failure_reason = None;
                self.own(name).await?;
                self.set_status(&mut record, "Updating").await?;
                let endpoints = self.clone();
                let name = name.to_string();
                tokio::spawn(async move {
                    let _claim = Claim(endpoints.clone(), name.clone());
                    endpoints.run_deployment(&name, policy, stopped).await;
                });
            }
            Ok(record) => {
                return Err(Error::WrongState { name: name.into(), status: record.status, action: "a new deployment" })
            }
        }
        Ok(())
    }

    /// A creation is not rolled back: it has no live fleet to return to.
    pub(crate) fn spawn_create(&self, name: String) {
        let endpoints = self.clone();
        tokio::spawn(async move {
            let _claim = Claim(endpoints.clone(), name.clone());
            if let Err(e) = endpoints.create(&name).await {
                tracing::error!(endpoint = %name, error = %e, "creating the endpoint failed");
            }
        });
    }

    async fn create(&self, name: &str) -> Result<(), Error> {
        let mut record = self.inner.store.get_endpoint(name).await?;
        let pending = record.pending.clone().unwrap_or_default();
        let config = pending["Config"].clone();
        match self.load_fleet(&config).await {
            Ok(fleet) => {
                self.inner.data.install(name, Arc::new(Endpoint::new(fleet)));
                record.config = Some(config);
                record.pending = None;
                record.last_deployment = Some(json!({"Outcome": "Completed", "EndTime": Utc::now()}));
                self.set_status(&mut record, "InService").await
            }
            Err(e) => {
                record.pending = None;
                record.failure_reason = Some(e.to_string());
                record.last_deployment = Some(json!({"Outcome": "Failed", "Reason": e.to_string()}));
                self.set_status(&mut record, "Failed").await
            }
        }
    }

    /// Blue/green: load and check the new fleet, shift traffic step by step, bake each
    /// step under the alarms, keep the old fleet through the termination wait, commit.
    async fn run_deployment(&self, name: &str, policy: Policy, mut stopped: watch::Receiver<bool>) {
        if let Err(e) = self.deployment(name, &policy, &mut stopped).await {
            tracing::error!(endpoint = name, error = %e, "deployment failed");
            if let Ok(mut record) = self.inner.store.get_endpoint(name).await {
                if let Some(endpoint) = self.inner.data.get(name) {
                    let live = endpoint.routing().live.clone();
                    endpoint.set(Routing { live, new: None, new_share: 0.0 });
                }
                record.pending = None;
                record.failure_reason = Some(e.to_string());
                record.last_deployment =
                    Some(json!({"Outcome": "Failed", "Reason": e.to_string(), "EndTime": Utc::now()}));
                let _ = self.set_status(&mut record, "InService").await;
            }
        }
    }

    async fn deployment(&self, name: &str, policy: &Policy, stopped: &mut watch::Receiver<bool>) -> Result<(), Error> {
        let started = Instant::now();
        let mut record = self.inner.store.get_endpoint(name).await?;
        let pending = record.pending.clone().unwrap_or_default();
        let new_config = pending["Config"].clone();
        let start_time: DateTime<Utc> =
            serde_json::from_value(pending["StartTime"].clone()).unwrap_or_else(|_| Utc::now());
        let endpoint = self.inner.data.get(name).ok_or_else(|| Error::EndpointNotFound { name: name.into() })?;
        self.emit_deployment(
            &record,
            &new_config,
            Stage::Creating,
            0.0,
            "Loading and health-checking the new fleet",
            start_time,
        )
        .await;
        let fleet = match self.load_fleet(&new_config).await {
            Ok(fleet) => fleet,
            Err(e) => {
                let reason = format!("the new fleet did not load: {e}");
                record.pending = None;
                record.failure_reason = Some(reason.clone());
                record.last_deployment = Some(json!({"Outcome": "Failed", "Reason": reason, "EndTime": Utc::now()}));
                self.emit_deployment(&record, &new_config, Stage::Failed, 0.0, &reason, start_time).await;
                return self.set_status(&mut record, "InService").await;
            }
        };
        let old = endpoint.routing().live.clone();
        if *stopped.borrow() {
            return self.roll_back(&mut record, &endpoint, &old, &new_config, "rollback requested", start_time).await;
        }
        let baseline = fleet.snapshot();
        let mut steps = policy.traffic.steps();
        // The termination wait: all traffic on the new fleet, the old one kept, alarms on.
        steps.push((1.0, policy.termination_wait));
        let last = steps.len() - 1;
        for (index, (share, bake)) in steps.into_iter().enumerate() {
            endpoint.set(Routing { live: Arc::clone(&old), new: Some(Arc::clone(&fleet)), new_share: share });
            let message = if index == last {
                format!("All traffic on the new fleet; the old one is kept for {}s", bake.as_secs_f64())
            } else {
                format!("{:.0}% of traffic on the new fleet", share * 100.0)
            };
            self.emit_deployment(&record, &new_config, Stage::ActivatingTraffic, share, &message, start_time).await;
            if !bake.is_zero() {
                self.emit_deployment(&record, &new_config, Stage::Baking, share, &message, start_time).await;
            }
            let deadline = Instant::now() + bake;
            loop {
                let window = fleet.snapshot().since(&baseline);
                let alarm = policy.alarms.iter().find_map(|a| a.check(&window));
                let reason = if let Some(alarm) = alarm {
                    Some(format!("rollback alarm on the new fleet: {alarm}"))
                } else if *stopped.borrow() {
                    Some("rollback requested".to_string())
                } else if started.elapsed() > policy.maximum_execution {
                    Some(format!(
                        "the deployment exceeded MaximumExecutionTimeoutInSeconds ({}s)",
                        policy.maximum_execution.as_secs()
                    ))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return self.roll_back(&mut record, &endpoint, &old, &new_config, &reason, start_time).await;
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                let tick = (deadline - now).min(Duration::from_millis(100));
                tokio::select! {
                    _ = tokio::time::sleep(tick) => {}
                    _ = stopped.changed() => {}
                }
            }
        }
        // Invariant: the new configuration is committed before the routing drops the old
        // fleet; if the commit fails, the error path puts all traffic back on the old one.
        record.previous_config = record.config.take();
        record.config = Some(new_config.clone());
        record.pending = None;
        record.last_deployment = Some(json!({"Outcome": "Completed", "EndTime": Utc::now(),
            "DeploymentConfig": pending["DeploymentConfig"]}));
        record.status = "InService".into();
        record.updated_at = Utc::now();
        self.inner.store.update_endpoint(&record).await?;
        endpoint.set(Routing { live: Arc::clone(&fleet), new: None, new_share: 0.0 });
        self.changed(name).await;
        self.emit_deployment(&record, &new_config, Stage::Completed, 1.0, "The new configuration is live", start_time)
            .await;
        self.emit_status(&record).await;
        Ok(())
    }

    async fn roll_back(
        &self,
        record: &mut EndpointRecord,
        endpoint: &Endpoint,
        old: &Arc<Fleet>,
        new_config: &Value,
        reason: &str,
        start_time: DateTime<Utc>,
    ) -> Result<(), Error> {
        endpoint.set(Routing { live: Arc::clone(old), new: None, new_share: 0.0 });
        self.emit_deployment(record, new_config, Stage::RollingBack, 0.0, reason, start_time).await;
        self.set_status(record, "RollingBack").await?;
        record.pending = None;
        record.failure_reason = Some(reason.to_string());
        record.last_deployment = Some(json!({"Outcome": "RolledBack", "Reason": reason, "EndTime": Utc::now(),
            "RolledBackConfigName": new_config["EndpointConfigName"]}));
        self.emit_deployment(record, new_config, Stage::RolledBack, 0.0, reason, start_time).await;
        self.set_status(record, "InService").await
    }

    /// Downloads (cached by URL and ETag) and loads every variant's model; each is
    /// health-checked on a row of zeros before the fleet can take traffic.
    pub(crate) async fn load_fleet(&self, config: &Value) -> Result<Arc<Fleet>, Error> {
        let mut variants = Vec::new();
        for v in config["ProductionVariants"].as_array().into_iter().flatten() {
            let url = v["ModelDataUrl"].as_str().unwrap_or_default();
            let model_name = v["ModelName"].as_str().unwrap_or(url).to_string();
            let load_error = |reason: String| Error::Load { model: model_name.clone(), reason };
            let path = self.fetch(url).await.map_err(load_error)?;
            let model = tokio::task::spawn_blocking(move || -> Result<Model, String> {
                let model = Model::load(&path).map_err(|e| e.to_string())?;
                let zeros = vec![0.0; model.n_features()];
                model.predict(&zeros, 1).map_err(|e| format!("health check failed: {e}"))?;
                Ok(model)
            })
            .await
            .map_err(|e| load_error(e.to_string()))?
            .map_err(load_error)?;
            variants.push(Arc::new(Variant {
                name: v["VariantName"].as_str().unwrap_or_default().to_string(),
                model_name: model_name.clone(),
                model: Arc::new(model),
                weight: v["InitialVariantWeight"].as_f64().unwrap_or(1.0),
                stats: Arc::new(Stats::default()),
                workers: v["InitialInstanceCount"].as_u64().map(|n| Arc::new(tokio::sync::Semaphore::new(n as usize))),
                serving: Serving::parse(v["Serving"].as_str()),
            }));
        }
        let config_name = config["EndpointConfigName"].as_str().unwrap_or_default().to_string();
        Ok(Arc::new(Fleet { config_name, variants }))
    }

    /// The artifact at `url` in the local cache (downloaded atomically when missing).
    async fn fetch(&self, url: &str) -> Result<PathBuf, String> {
        let uri = S3Uri::parse(url).map_err(|e| e.to_string())?;
        let objects = &self.inner.objects;
        let head = objects.head(&uri.bucket, &uri.key).await.map_err(|e| format!("{url}: {e}"))?;
        use sha2::Digest;
        let digest: String = sha2::Sha256::digest(url.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
        let file_name = uri.key.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("model.tar.gz");
        let dir = self.inner.config.cache_dir.join(format!("{digest}-{}", head.etag));
        let path = dir.join(file_name);
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() as i64 == head.size) {
            return Ok(path);
        }
        let io = |e: std::io::Error| format!("{}: {e}", dir.display());
        tokio::fs::create_dir_all(&dir).await.map_err(io)?;
        static DOWNLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let download = DOWNLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temporary = dir.join(format!(".{file_name}.{}-{download}.part", std::process::id()));
        let (_, mut stream) = objects.get(&uri.bucket, &uri.key, None).await.map_err(|e| format!("{url}: {e}"))?;
        let mut file = tokio::fs::File::create(&temporary).await.map_err(io)?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("{url}: {e}"))?;
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        // Invariant: a cached artifact appears whole (rename) under its URL and ETag.
        tokio::fs::rename(&temporary, &path).await.map_err(io)?;
        Ok(path)
    }

    /// Puts the endpoint's current state-change event again: for an event a crash lost
    /// between the state's write and its put.
    pub async fn announce(&self, name: &str) -> Result<(), Error> {
        let record = self.inner.store.get_endpoint(name).await?;
        self.emit_status(&record).await;
        Ok(())
    }

    pub(crate) async fn set_status(&self, record: &mut EndpointRecord, status: &str) -> Result<(), Error> {
        record.status = status.into();
        record.updated_at = Utc::now();
        self.inner.store.update_endpoint(record).await?;
        self.changed(&record.name).await;
        self.emit_status(record).await;
        Ok(())
    }

    async fn emit_status(&self, record: &EndpointRecord) {
        let mut detail = json!({
            "EndpointName": record.name,
            "EndpointArn": record.arn,
            "EndpointStatus": record.status,
            "EndpointConfigName": config_name(&record.config),
            "CreationTime": record.created_at,
            "LastModifiedTime": record.updated_at,
        });
        if let Some(reason) = &record.failure_reason {
            detail["FailureReason"] = json!(reason);
        }
        self.emit("SageMaker Endpoint State Change", detail, &record.arn).await;
    }

    async fn emit_deployment(
        &self,
        record: &EndpointRecord,
        new_config: &Value,
        stage: Stage,
        share: f64,
        message: &str,
        start_time: DateTime<Utc>,
    ) {
        let variants: Vec<Value> = new_config["ProductionVariants"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                json!({"VariantName": v["VariantName"], "ModelName": v["ModelName"],
                       "CurrentWeight": v["InitialVariantWeight"].as_f64().unwrap_or(1.0) * share,
                       "DesiredWeight": v["InitialVariantWeight"],
                       "VariantStatus": [{"Status": stage.as_str(), "StatusMessage": message, "StartTime": Utc::now()}]})
            })
            .collect();
        let detail = json!({
            "EndpointName": record.name,
            "EndpointArn": record.arn,
            "EndpointStatus": record.status,
            "EndpointConfigName": config_name(&record.config),
            "Stage": stage.as_str(),
            "PendingDeploymentSummary": {
                "EndpointConfigName": new_config["EndpointConfigName"],
                "StartTime": start_time,
                "ProductionVariants": variants,
            },
        });
        self.emit("SageMaker Endpoint Deployment State Change", detail, &record.arn).await;
    }

    async fn emit(&self, detail_type: &str, detail: Value, arn: &str) {
        if let Err(e) = self.inner.bus.emit("aws.sagemaker", detail_type, detail, vec![arn.to_string()]).await {
            tracing::error!(error = %e, "could not put the endpoint event");
        }
    }

    /// `DescribeEndpoint`, with the live weights and any deployment in progress.
    pub async fn describe(&self, name: &str) -> Result<Value, Error> {
        let record = self.inner.store.get_endpoint(name).await?;
        let routing = self.inner.data.get(name).map(|e| e.routing());
        let mut variants: Vec<Value> = Vec::new();
        if let Some(config) = &record.config {
            for v in config["ProductionVariants"].as_array().into_iter().flatten() {
                let weight = v["InitialVariantWeight"].as_f64().unwrap_or(1.0);
                let live_weight = routing
                    .as_ref()
                    .and_then(|r| {
                        r.live.variants.iter().find(|lv| lv.name == v["VariantName"]).map(|lv| (lv.weight, r.new_share))
                    })
                    .map_or(weight, |(w, share)| w * (1.0 - share));
                variants.push(json!({"VariantName": v["VariantName"], "ModelName": v["ModelName"],
                    "ModelDataUrl": v["ModelDataUrl"], "CurrentWeight": live_weight, "DesiredWeight": weight,
                    "CurrentInstanceCount": v["InitialInstanceCount"]}));
            }
        }
        let mut answer = json!({
            "EndpointName": record.name,
            "EndpointArn": record.arn,
            "EndpointStatus": record.status,
            "EndpointConfigName": config_name(&record.config),
            "ProductionVariants": variants,
            "CreationTime": record.created_at,
            "LastModifiedTime": record.updated_at,
        });
        if let Some(by) = record.config.as_ref().and_then(|c| c.get("CreatedBy")) {
            answer["DeployedBy"] = by.clone();
        }
        if let Some(pending) = &record.pending {
            let share = routing.as_ref().map_or(0.0, |r| r.new_share);
            answer["PendingDeploymentSummary"] = json!({
                "EndpointConfigName": pending["Config"]["EndpointConfigName"],
                "StartTime": pending["StartTime"],
                "StartedBy": pending["Config"]["CreatedBy"],
                "NewFleetShare": share,
                "ProductionVariants": pending["Config"]["ProductionVariants"],
            });
            answer["DeploymentConfig"] = pending["DeploymentConfig"].clone();
        }
        if let Some(last) = &record.last_deployment {
            answer["LastDeployment"] = last.clone();
        }
        if let Some(reason) = &record.failure_reason {
            answer["FailureReason"] = json!(reason);
        }
        Ok(answer)
    }

    pub async fn list(&self) -> Result<Value, Error> {
        let records = self.inner.store.list_endpoints().await?;
        let endpoints: Vec<Value> = records
            .iter()
            .map(|r| {
                json!({"EndpointName": r.name, "EndpointArn": r.arn, "EndpointStatus": r.status,
                            "EndpointConfigName": config_name(&r.config), "CreationTime": r.created_at,
                            "LastModifiedTime": r.updated_at})
            })
            .collect();
        Ok(json!({"Endpoints": endpoints}))
    }

    /// Deletes an endpoint that is not deploying; its traffic stops at once.
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        let mut record = self.inner.store.get_endpoint(name).await?;
        self.claim(name, "deleting").await?;
        let _claim = Claim(self.clone(), name.to_string());
        self.inner.store.delete_endpoint(name).await?;
        self.inner.data.remove(name);
        self.changed(name).await;
        record.status = "Deleting".into();
        self.emit_status(&record).await;
        Ok(())
    }

    /// Stops a deployment in progress and returns all traffic to the live configuration;
    /// with none in progress, deploys the previous configuration at once.
    pub async fn rollback(&self, name: &str) -> Result<Value, Error> {
        if self.signal_rollback(name) {
            return self.describe(name).await;
        }
        let record = self.inner.store.get_endpoint(name).await?;
        if record.status == "Updating" {
            // The deployment runs on another replica: it rolls back there.
            self.tell_replicas(trainyard_store::Change::RollBack(name.to_string())).await;
            return self.describe(name).await;
        }
        let previous = record.previous_config.ok_or_else(|| Error::WrongState {
            name: name.into(),
            status: record.status.clone(),
            action: "rolling back (there is no previous configuration)",
        })?;
        self.deploy_config(name, previous, Policy::default()).await
    }

    /// Changes the live variants' weights at once (`UpdateEndpointWeightsAndCapacities`).
    pub async fn update_weights(&self, name: &str, weights: &[(String, f64)]) -> Result<Value, Error> {
        self.claim(name, "changing weights").await?;
        let _claim = Claim(self.clone(), name.to_string());
        self.apply_weights(name, weights).await
    }

    async fn apply_weights(&self, name: &str, weights: &[(String, f64)]) -> Result<Value, Error> {
        let mut record = self.inner.store.get_endpoint(name).await?;
        let endpoint = self.inner.data.get(name).filter(|_| record.status == "InService").ok_or_else(|| {
            Error::WrongState { name: name.into(), status: record.status.clone(), action: "changing weights" }
        })?;
        let routing = endpoint.routing();
        let mut config = record.config.clone().unwrap_or_default();
        for (variant, weight) in weights {
            if !(weight.is_finite() && *weight >= 0.0) {
                return Err(invalid("DesiredWeight", format!("{variant}: must be a number >= 0")));
            }
            if !routing.live.variants.iter().any(|v| &v.name == variant) {
                return Err(Error::VariantNotFound {
                    endpoint: name.into(),
                    variant: variant.clone(),
                    available: routing.live.variants.iter().map(|v| v.name.clone()).collect::<Vec<_>>().join(", "),
                });
            }
        }
        let weight_of =
            |variant: &str, current: f64| weights.iter().find(|(n, _)| n == variant).map_or(current, |w| w.1);
        let variants: Vec<Arc<Variant>> =
            routing.live.variants.iter().map(|v| Arc::new(v.with_weight(weight_of(&v.name, v.weight)))).collect();
        if variants.iter().map(|v| v.weight).sum::<f64>() <= 0.0 {
            return Err(invalid("DesiredWeight", "at least one variant needs a weight above 0"));
        }
        for v in config["ProductionVariants"].as_array_mut().into_iter().flatten() {
            let current = v["InitialVariantWeight"].as_f64().unwrap_or(1.0);
            v["InitialVariantWeight"] = json!(weight_of(v["VariantName"].as_str().unwrap_or_default(), current));
        }
        let fleet = Fleet { config_name: routing.live.config_name.clone(), variants };
        endpoint.set(Routing { live: Arc::new(fleet), new: None, new_share: 0.0 });
        record.config = Some(config);
        self.set_status(&mut record, "InService").await?;
        self.describe(name).await
    }
}
