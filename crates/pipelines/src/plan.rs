//! What a pipeline implies: its functions (`builtin:` ones, configured by the pipeline's
//! name), the rules that route the platform's events to them, its source and its model
//! group. Applying compares each with what exists and changes only what differs.

use serde::Serialize;
use serde_json::{json, Value};

use crate::spec::PipelineSpec;

/// The builtin functions a pipeline wires, in the order of a run.
pub const TRIGGER: &str = "trigger_model_training";
pub const EVALUATE: &str = "evaluate_model_function";
pub const REGISTER: &str = "register_model_in_registry";
pub const DEPLOY: &str = "deploy_sagemaker_model";
pub const RETRAIN: &str = "retrain_model_on_new_data";
/// Not one of the seed's five: records how a deployment ended on the run.
pub const RECORD_DEPLOYMENT: &str = "record_deployment";

/// The environment variable naming the pipeline a builtin function serves.
pub const PIPELINE_VARIABLE: &str = "TRAINYARD_PIPELINE";

/// One line of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Change {
    /// `create`, `update`, `unchanged`, `delete`, or (an endpoint) `at first deployment`.
    pub action: String,
    /// `pipeline`, `source`, `model package group`, `function`, `role`, `rule` or `target`.
    pub kind: String,
    pub name: String,
    /// A role's policy (what `apply --dry-run` shows it would grant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<serde_json::Value>,
}

impl Change {
    pub fn new(action: &str, kind: &str, name: impl Into<String>) -> Change {
        Change { action: action.into(), kind: kind.into(), name: name.into(), policy: None }
    }

    pub fn with_policy(mut self, policy: serde_json::Value) -> Change {
        self.policy = Some(policy);
        self
    }
}

/// A rule the pipeline needs: its name, pattern and the builtin it invokes.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub name: String,
    /// The event pattern (`Null` for a schedule rule).
    pub pattern: Value,
    /// A `rate()`/`cron()` schedule instead of a pattern.
    pub schedule: Option<String>,
    pub builtin: &'static str,
}

/// What follows `<pipeline>-on-` in the names of a pipeline's rules.
const RULE_SUFFIXES: [&str; 8] =
    ["change", "build", "training", "evaluation", "approval", "deployment", "data", "schedule"];

/// The description of the rules a pipeline's apply makes: it marks them as the pipeline's.
pub fn rule_description(pipeline: &str, builtin: &str) -> String {
    format!("pipeline {pipeline}: {builtin}")
}

/// Whether `rule` is one a pipeline's apply made (and may change or delete): its name and
/// its description say so (a user's rule of the same name is not).
pub fn is_pipeline_rule(pipeline: &str, rule: &trainyard_store::Rule) -> bool {
    let named = rule
        .name
        .strip_prefix(pipeline)
        .and_then(|rest| rest.strip_prefix("-on-"))
        .is_some_and(|suffix| RULE_SUFFIXES.contains(&suffix));
    named && rule.description.starts_with(&rule_description(pipeline, ""))
}

/// The function that runs `builtin` for pipeline `pipeline`.
pub fn function_name(pipeline: &str, builtin: &str) -> String {
    format!("{pipeline}-{}", builtin.replace('_', "-"))
}

/// The rules of a pipeline.
pub fn rules(spec: &PipelineSpec) -> Vec<RuleSpec> {
    let name = spec.name();
    let prefix = format!("{name}-");
    let mut rules = Vec::new();
    let training = &spec.training;
    let trigger = match (&training.image, &spec.source) {
        (Some(image), _) if image.value == "build" => {
            let repository = spec.build_repository(spec.source_name()).unwrap_or_default();
            Some(json!({"source": ["aws.ecr"], "detail-type": ["ECR Image Action"],
                        "detail": {"action-type": ["PUSH"], "repository-name": [repository]}}))
        }
        (Some(image), _) => trainyard_registry::ImageName::parse(&image.value).ok().map(|image| {
            json!({"source": ["aws.ecr"], "detail-type": ["ECR Image Action"],
                   "detail": {"action-type": ["PUSH"], "repository-name": [image.repository],
                              "image-tag": [image.reference.to_string()]}})
        }),
        (None, Some(_)) => Some(json!({"source": ["trainyard.source"], "detail-type": ["Git Push"],
                                      "detail": {"source": [spec.source_name()]}})),
        (None, None) => None,
    };
    if let Some(pattern) = trigger {
        rules.push(RuleSpec { name: format!("{name}-on-change"), pattern, schedule: None, builtin: TRIGGER });
    }
    // A commit whose build fails is a run that failed at its build.
    if training.image.as_ref().is_some_and(|i| i.value == "build") {
        rules.push(RuleSpec {
            name: format!("{name}-on-build"),
            pattern: json!({"source": ["aws.codebuild"], "detail-type": ["CodeBuild Build State Change"],
                            "detail": {"build-status": ["FAILED"], "project-name": [spec.source_name()]}}),
            schedule: None,
            builtin: TRIGGER,
        });
    }
    rules.push(RuleSpec {
        name: format!("{name}-on-training"),
        pattern: json!({"source": ["aws.sagemaker"], "detail-type": ["SageMaker Training Job State Change"],
                        "detail": {"TrainingJobName": [{"prefix": prefix}],
                                   "TrainingJobStatus": ["Completed", "Failed", "Stopped"]}}),
        schedule: None,
        builtin: EVALUATE,
    });
    rules.push(RuleSpec {
        name: format!("{name}-on-evaluation"),
        pattern: json!({"source": ["aws.sagemaker"], "detail-type": ["SageMaker Processing Job State Change"],
                        "detail": {"ProcessingJobName": [{"prefix": prefix}],
                                   "ProcessingJobStatus": ["Completed", "Failed", "Stopped"]}}),
        schedule: None,
        builtin: REGISTER,
    });
    // An approval (or a reviewer's rejection) carries a run on: to its deployment, or to
    // its end when there is none.
    if spec.deployment.is_some() || !spec.auto_approval() {
        rules.push(RuleSpec {
            name: format!("{name}-on-approval"),
            pattern: json!({"source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
                            "detail": {"ModelPackageGroupName": [spec.group()],
                                       "ModelApprovalStatus": ["Approved", "Rejected"]}}),
            schedule: None,
            builtin: DEPLOY,
        });
    }
    if let Some(deployment) = &spec.deployment {
        rules.push(RuleSpec {
            name: format!("{name}-on-deployment"),
            pattern: json!({"source": ["aws.sagemaker"],
                            "detail-type": ["SageMaker Endpoint Deployment State Change", "SageMaker Endpoint State Change"],
                            "detail": {"EndpointName": [deployment.endpoint.value]}}),
            schedule: None,
            builtin: RECORD_DEPLOYMENT,
        });
    }
    if let Some(retraining) = &spec.retraining {
        if let Some(Ok(uri)) = retraining.data.as_ref().map(|d| trainyard_objects::S3Uri::parse(&d.value)) {
            rules.push(RuleSpec {
                name: format!("{name}-on-data"),
                pattern: json!({"source": ["aws.s3"], "detail-type": ["Object Created"],
                                "detail": {"bucket": {"name": [uri.bucket]}, "object": {"key": [{"prefix": uri.key}]}}}),
                schedule: None,
                builtin: RETRAIN,
            });
        }
        if let Some(schedule) = &retraining.schedule {
            rules.push(RuleSpec {
                name: format!("{name}-on-schedule"),
                pattern: Value::Null,
                schedule: Some(schedule.value.clone()),
                builtin: RETRAIN,
            });
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_last(spec: &PipelineSpec) -> RuleSpec {
        rules(spec).pop().unwrap()
    }

    #[test]
    fn a_pipeline_routes_each_step_to_its_builtin() {
        let spec = crate::spec::parse(crate::spec::tests::EXAMPLE).unwrap();
        let rules = rules(&spec);
        let names: Vec<(&str, &str)> = rules.iter().map(|r| (r.name.as_str(), r.builtin)).collect();
        assert_eq!(
            names,
            [
                ("churn-on-change", TRIGGER),
                ("churn-on-build", TRIGGER),
                ("churn-on-training", EVALUATE),
                ("churn-on-evaluation", REGISTER),
                ("churn-on-approval", DEPLOY),
                ("churn-on-deployment", RECORD_DEPLOYMENT),
                ("churn-on-data", RETRAIN),
            ]
        );
        assert_eq!(rules[0].pattern["detail"]["repository-name"], json!(["churn"]));
        assert_eq!(rules[1].pattern["detail"]["build-status"], json!(["FAILED"]));
        assert_eq!(rules[6].pattern["detail"]["object"]["key"], json!([{"prefix": "churn/train/"}]));
        assert_eq!(function_name("churn", TRIGGER), "churn-trigger-model-training");
        for rule in &rules {
            trainyard_events::Pattern::parse(&rule.pattern).unwrap();
        }
        let scheduled = crate::spec::parse(
            &crate::spec::tests::EXAMPLE.replace("min_interval: 2s", "min_interval: 2s\n  schedule: rate(1 day)"),
        )
        .unwrap();
        let last = plan_last(&scheduled);
        assert_eq!(
            (last.name.as_str(), last.schedule.as_deref(), last.builtin),
            ("churn-on-schedule", Some("rate(1 day)"), RETRAIN)
        );
    }
}
