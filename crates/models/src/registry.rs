//! The model registry service: SageMaker's model package groups and versions over the store,
//! with approval rules and `SageMaker Model Package State Change` events on the bus.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use trainyard_bus::EventBus;
use trainyard_jobs::Jobs;
use trainyard_objects::Objects;
use trainyard_store::{ModelGroupRecord, ModelPackageRecord, NewModelPackage, Store};

use crate::error::Error;
use crate::gate::Decision;

pub const STATUSES: [&str; 3] = ["PendingManualApproval", "Approved", "Rejected"];

/// A group's policy for candidates whose gate failed; the first is the default.
pub const GATE_FAILURE: [&str; 2] = ["register-rejected", "discard"];

/// `CreateModelPackageGroup`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateGroup {
    pub model_package_group_name: String,
    #[serde(default)]
    pub model_package_group_description: String,
    /// `auto` (a passed gate approves the version) or `manual` (the default).
    #[serde(default)]
    pub approval_mode: Option<String>,
    /// What a candidate whose gate failed becomes: `register-rejected` (the default: a
    /// `Rejected` version with the reason) or `discard` (nothing is registered).
    #[serde(default)]
    pub gate_failure: Option<String>,
}

/// `CreateModelPackage` into a group.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RegisterVersion {
    pub model_package_group_name: String,
    /// Required unless `EvaluationJobName` gives it.
    #[serde(default)]
    pub model_data_url: Option<String>,
    /// A completed run of the built-in evaluator: its model, report and gate decision
    /// are registered.
    #[serde(default)]
    pub evaluation_job_name: Option<String>,
    #[serde(default)]
    pub inference_specification: Option<Value>,
    /// The model-quality report.
    #[serde(default)]
    pub model_metrics: Option<Value>,
    #[serde(default)]
    pub gate_decision: Option<Decision>,
    /// The training job that made the model: its lineage is recorded.
    #[serde(default)]
    pub training_job_name: Option<String>,
    #[serde(default)]
    pub metadata_properties: Option<Map<String, Value>>,
    #[serde(default)]
    pub customer_metadata_properties: BTreeMap<String, String>,
    #[serde(default)]
    pub model_approval_status: Option<String>,
}

/// `UpdateModelPackage`: a status change.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateStatus {
    pub model_approval_status: String,
    #[serde(default)]
    pub approval_description: String,
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidRequest { field: field.into(), reason: reason.into() }
}

/// The built-in runtime's `InferenceSpecification`: SageMaker's shape, the content types
/// its endpoints accept and answer with.
fn built_in_inference(model_data_url: &str) -> Value {
    json!({
        "Containers": [{"Image": "trainyard/runtime", "ModelDataUrl": model_data_url, "Framework": "ONNX"}],
        "SupportedContentTypes": ["text/csv", "application/json"],
        "SupportedResponseMIMETypes": ["application/json", "text/csv"],
    })
}

/// The conditions a decision failed, for a reason text.
fn failed_conditions(decision: &Decision) -> String {
    let failed: Vec<&str> = decision.conditions.iter().filter(|c| !c.passed).map(|c| c.condition.as_str()).collect();
    failed.join("; ")
}

fn check_status(status: &str) -> Result<(), Error> {
    if STATUSES.contains(&status) {
        Ok(())
    } else {
        Err(invalid("ModelApprovalStatus", format!("`{status}` is not one of {}", STATUSES.join(", "))))
    }
}

/// The registry; cheap to clone.
#[derive(Clone)]
pub struct Registry {
    store: Store,
    bus: EventBus,
    jobs: Jobs,
    objects: Objects,
}

impl Registry {
    pub fn new(store: Store, bus: EventBus, jobs: Jobs, objects: Objects) -> Registry {
        Registry { store, bus, jobs, objects }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    pub(crate) fn objects(&self) -> &Objects {
        &self.objects
    }

    fn arn(&self, resource: &str) -> String {
        let c = self.bus.config();
        format!("arn:aws:sagemaker:{}:{}:{resource}", c.region, c.account)
    }

    fn group_json(&self, group: &ModelGroupRecord) -> Value {
        let mut v = serde_json::to_value(group).unwrap_or(Value::Null);
        v["ModelPackageGroupArn"] = json!(self.arn(&format!("model-package-group/{}", group.name)));
        v
    }

    /// A version as `DescribeModelPackage` shows it.
    pub fn version_json(&self, package: &ModelPackageRecord) -> Value {
        let mut v = serde_json::to_value(package).unwrap_or(Value::Null);
        v["ModelPackageArn"] = json!(self.arn(&format!("model-package/{}/{}", package.group, package.version)));
        if let (Some(out), Some(document)) = (v.as_object_mut(), package.document.as_object()) {
            out.extend(document.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        v
    }

    pub async fn create_group(&self, request: CreateGroup) -> Result<Value, Error> {
        trainyard_events::validate_name("ModelPackageGroupName", &request.model_package_group_name)
            .map_err(|e| invalid("ModelPackageGroupName", e))?;
        let mode = request.approval_mode.unwrap_or_else(|| "manual".into());
        if mode != "auto" && mode != "manual" {
            return Err(invalid("ApprovalMode", format!("`{mode}` is not auto or manual")));
        }
        let gate_failure = request.gate_failure.unwrap_or_else(|| GATE_FAILURE[0].into());
        if !GATE_FAILURE.contains(&gate_failure.as_str()) {
            return Err(invalid("GateFailure", format!("`{gate_failure}` is not one of {}", GATE_FAILURE.join(", "))));
        }
        let group = ModelGroupRecord {
            name: request.model_package_group_name,
            description: request.model_package_group_description,
            approval_mode: mode,
            gate_failure,
            creation_time: Utc::now(),
        };
        self.store.create_model_group(&group).await?;
        Ok(self.group_json(&group))
    }

    /// Changes a group's approval mode and what a failed gate does (trainyard's own
    /// settings; SageMaker has no such call). Versions registered before keep their status.
    pub async fn update_group(
        &self,
        name: &str,
        approval_mode: Option<String>,
        gate_failure: Option<String>,
    ) -> Result<Value, Error> {
        let mut group = self.store.get_model_group(name).await?;
        if let Some(mode) = approval_mode {
            if mode != "auto" && mode != "manual" {
                return Err(invalid("ApprovalMode", format!("`{mode}` is not auto or manual")));
            }
            group.approval_mode = mode;
        }
        if let Some(gate_failure) = gate_failure {
            if !GATE_FAILURE.contains(&gate_failure.as_str()) {
                return Err(invalid(
                    "GateFailure",
                    format!("`{gate_failure}` is not one of {}", GATE_FAILURE.join(", ")),
                ));
            }
            group.gate_failure = gate_failure;
        }
        self.store.update_model_group(&group).await?;
        Ok(self.group_json(&group))
    }

    pub async fn list_groups(&self) -> Result<Value, Error> {
        let groups = self.store.list_model_groups().await?;
        Ok(json!({"ModelPackageGroupSummaryList": groups.iter().map(|g| self.group_json(g)).collect::<Vec<_>>()}))
    }

    pub async fn describe_group(&self, name: &str) -> Result<Value, Error> {
        let group = self.store.get_model_group(name).await?;
        let versions = self.store.list_model_packages(name).await?;
        let aliases: Map<String, Value> =
            self.store.list_model_aliases(name).await?.into_iter().map(|(a, v)| (a, json!(v))).collect();
        let mut v = self.group_json(&group);
        v["VersionCount"] = json!(versions.len());
        v["Aliases"] = Value::Object(aliases);
        Ok(v)
    }

    pub async fn delete_group(&self, name: &str, force: bool) -> Result<(), Error> {
        Ok(self.store.delete_model_group(name, force).await?)
    }

    /// Registers the group's next version. The status: as asked, else `Rejected` when the
    /// gate failed, `Approved` when it passed and the group approves automatically, else
    /// `PendingManualApproval`. A failed gate cannot be registered as `Approved`.
    pub async fn register(&self, mut request: RegisterVersion, created_by: &str) -> Result<Value, Error> {
        let group = self.store.get_model_group(&request.model_package_group_name).await?;
        let mut lineage = request.metadata_properties.take().unwrap_or_default();
        if let Some(name) = &request.evaluation_job_name {
            let evaluation = self.completed_evaluation(name).await?;
            if request.model_data_url.as_ref().is_some_and(|url| *url != evaluation.model_data_url) {
                return Err(invalid(
                    "ModelDataUrl",
                    format!("evaluation {name} evaluated {}, not this model", evaluation.model_data_url),
                ));
            }
            if request.model_metrics.is_some() || request.gate_decision.is_some() {
                return Err(invalid("ModelMetrics", "give EvaluationJobName or ModelMetrics/GateDecision, not both"));
            }
            let relative = evaluation
                .decision
                .as_ref()
                .is_some_and(|d| d.conditions.iter().any(|c| c.condition.contains("champion.")));
            if relative {
                // Invariant: a gate against the champion counts only for the group whose
                // current champion it met.
                if evaluation.group.as_deref() != Some(group.name.as_str()) {
                    return Err(invalid(
                        "EvaluationJobName",
                        format!(
                            "evaluation {name} did not meet group {}'s champion; evaluate with that group",
                            group.name
                        ),
                    ));
                }
                let current = self.champion(&group.name).await?.map(|c| c.version.to_string());
                let met = evaluation.decision.as_ref().and_then(|d| d.champion.clone());
                if current != met {
                    return Err(Error::ChampionChanged {
                        job: name.to_string(),
                        met: met.unwrap_or_else(|| "none".into()),
                        current: current.unwrap_or_else(|| "none".into()),
                    });
                }
            }
            request.model_data_url = Some(evaluation.model_data_url);
            request.model_metrics = Some(evaluation.report);
            request.gate_decision = evaluation.decision;
            lineage.insert("EvaluationJobName".into(), json!(evaluation.job.name));
            lineage.insert("EvaluationJobArn".into(), json!(evaluation.job.arn));
            lineage.insert("EvaluationDataset".into(), evaluation.job.dataset);
        }
        let model_data_url = request.model_data_url.clone().unwrap_or_default();
        if !model_data_url.starts_with("s3://") || model_data_url.len() <= "s3://".len() {
            return Err(invalid("ModelDataUrl", "must be an s3://bucket/key URI"));
        }
        let failed = request.gate_decision.as_ref().is_some_and(|d| !d.passed);
        if failed && group.gate_failure == "discard" {
            let reasons = request.gate_decision.as_ref().map(failed_conditions).unwrap_or_default();
            return Err(Error::GateFailed { group: group.name, reasons });
        }
        let (status, description) = match (&request.model_approval_status, &request.gate_decision) {
            (Some(s), _) => {
                check_status(s)?;
                if failed && s == "Approved" {
                    return Err(invalid(
                        "ModelApprovalStatus",
                        "the gate decision failed; the version cannot be Approved",
                    ));
                }
                (s.clone(), String::new())
            }
            (None, Some(d)) if !d.passed => ("Rejected".to_string(), format!("gate failed: {}", failed_conditions(d))),
            (None, Some(_)) if group.approval_mode == "auto" => ("Approved".to_string(), "gate passed".to_string()),
            _ => ("PendingManualApproval".to_string(), String::new()),
        };
        let training_job = match &request.training_job_name {
            Some(name) => Some(self.store.get_training_job(name).await?),
            None => self.store.training_job_by_artifacts(&model_data_url).await?,
        };
        if let Some(job) = training_job {
            lineage.insert("TrainingJobName".into(), json!(job.name));
            lineage.insert("TrainingJobArn".into(), json!(job.arn));
            lineage.insert("TrainingJobModelArtifacts".into(), json!(job.model_artifacts));
            lineage.insert("DatasetSnapshot".into(), job.dataset.clone());
            if let Some(image) = job.request.pointer("/AlgorithmSpecification/TrainingImage") {
                lineage.insert("TrainingImage".into(), image.clone());
            }
            if let Some(algorithm) = job.request.pointer("/AlgorithmSpecification/AlgorithmName") {
                lineage.insert("AlgorithmName".into(), algorithm.clone());
            }
            if let Some(source) = job.request.pointer("/HyperParameters/sagemaker_submit_directory") {
                let source = source.as_str().map(trainyard_jobs::request::hyperparameter_text);
                lineage.insert("SourceDirectory".into(), json!(source));
            }
        }
        let document = json!({
            "InferenceSpecification": request.inference_specification.unwrap_or_else(|| built_in_inference(&model_data_url)),
            "ModelMetrics": request.model_metrics,
            "GateDecision": request.gate_decision,
            "MetadataProperties": lineage,
            "CustomerMetadataProperties": request.customer_metadata_properties,
        });
        let package = NewModelPackage { status, model_data_url, document, created_by: created_by.into() };
        let mut record = self.store.register_model_package(&group.name, &package, Utc::now()).await?;
        if !description.is_empty() {
            let (_, after) = self
                .store
                .set_model_package_status(
                    &group.name,
                    record.version,
                    &record.status,
                    &description,
                    created_by,
                    Utc::now(),
                )
                .await?;
            record = after;
        }
        let described = self.version_json(&record);
        self.emit(&described).await;
        Ok(described)
    }

    pub async fn list_versions(&self, group: &str) -> Result<Value, Error> {
        let versions = self.store.list_model_packages(group).await?;
        Ok(json!({"ModelPackageSummaryList": versions.iter().map(|p| {
            let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
            v["ModelPackageArn"] = json!(self.arn(&format!("model-package/{}/{}", p.group, p.version)));
            v
        }).collect::<Vec<_>>()}))
    }

    /// One version, by number or by alias.
    pub async fn describe_version(&self, group: &str, version: &str) -> Result<Value, Error> {
        let number = self.resolve(group, version).await?;
        Ok(self.version_json(&self.store.get_model_package(group, number).await?))
    }

    async fn resolve(&self, group: &str, version: &str) -> Result<i64, Error> {
        if let Ok(n) = version.parse::<i64>() {
            return Ok(n);
        }
        let aliases = self.store.list_model_aliases(group).await?;
        aliases.into_iter().find(|(a, _)| a == version).map(|(_, v)| v).ok_or_else(|| {
            trainyard_store::Error::NotFound { kind: "model package alias", name: format!("{group}/{version}") }.into()
        })
    }

    pub async fn update_status(
        &self,
        group: &str,
        version: &str,
        request: UpdateStatus,
        by: &str,
    ) -> Result<Value, Error> {
        check_status(&request.model_approval_status)?;
        let number = self.resolve(group, version).await?;
        let current = self.store.get_model_package(group, number).await?;
        let failed = current.document.pointer("/GateDecision/passed") == Some(&json!(false));
        if failed && request.model_approval_status == "Approved" {
            return Err(invalid("ModelApprovalStatus", "the version failed its gate; it cannot be Approved"));
        }
        let (before, after) = self
            .store
            .set_model_package_status(
                group,
                number,
                &request.model_approval_status,
                &request.approval_description,
                by,
                Utc::now(),
            )
            .await?;
        let described = self.version_json(&after);
        if before.status != after.status {
            self.emit(&described).await;
        }
        Ok(described)
    }

    /// Puts the version's current state-change event again: for an event a crash lost
    /// between the status's write and its put.
    pub async fn announce(&self, group: &str, version: i64) -> Result<(), Error> {
        let described = self.version_json(&self.store.get_model_package(group, version).await?);
        self.emit(&described).await;
        Ok(())
    }

    pub async fn set_alias(&self, group: &str, alias: &str, version: i64) -> Result<Value, Error> {
        trainyard_events::validate_name("alias", alias).map_err(|e| invalid("Alias", e))?;
        if alias.parse::<i64>().is_ok() {
            return Err(invalid("Alias", "an alias cannot be a number (numbers name versions)"));
        }
        self.store.set_model_alias(group, alias, version, Utc::now()).await?;
        self.describe_group(group).await
    }

    /// Puts the state-change event. Lineage stays out of it (a dataset snapshot can be far
    /// larger than an event may be); `DescribeModelPackage` has it.
    async fn emit(&self, described: &Value) {
        let mut detail = described.clone();
        if let Some(o) = detail.as_object_mut() {
            o.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "ModelPackageGroupName"
                        | "ModelPackageVersion"
                        | "ModelPackageArn"
                        | "ModelApprovalStatus"
                        | "ModelMetrics"
                        | "ModelDataUrl"
                        | "CreationTime"
                        | "ApprovalDescription"
                )
            });
        }
        let arn = described["ModelPackageArn"].as_str().unwrap_or_default().to_string();
        if let Err(e) = self.bus.emit("aws.sagemaker", "SageMaker Model Package State Change", detail, vec![arn]).await
        {
            tracing::error!(error = %e, "could not put the model package event");
        }
    }
}
