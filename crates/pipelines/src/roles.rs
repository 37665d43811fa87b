//! The least-privilege roles `apply` makes for a pipeline: one per builtin function
//! (trusting Lambda, as the builtins are the pipeline's functions) and the pipeline's
//! execution role (trusting SageMaker: its training and evaluation jobs run as it). Each
//! has one inline policy naming exactly what the step does, on the pipeline's own
//! resources: the trigger may start training jobs named after its pipeline and pass the
//! execution role to SageMaker, and nothing else (it may not delete a model group).

use serde_json::{json, Value};
use trainyard_identity::{ACCOUNT, REGION};

use crate::plan;
use crate::spec::PipelineSpec;

/// The path of every pipeline role.
pub const PATH: &str = "/trainyard-pipeline/";
/// The name of each role's one inline policy.
pub const POLICY_NAME: &str = "least-privilege";

/// A role to make: its name, the service that assumes it, its policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleSpec {
    pub name: String,
    pub service: &'static str,
    pub policy: Value,
}

impl RoleSpec {
    pub fn arn(&self) -> String {
        role_arn(&self.name)
    }

    /// The trust policy: the service may assume it.
    pub fn trust(&self) -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": self.service}, "Action": "sts:AssumeRole"}]})
    }
}

pub fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role{PATH}{name}")
}

/// The execution role's name: `<pipeline>-execution`.
pub fn execution_role(pipeline: &str) -> String {
    format!("{pipeline}-execution")
}

fn sagemaker(resource: &str) -> String {
    format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:{resource}")
}

fn allow(actions: &[&str], resources: Vec<String>) -> Value {
    json!({"Effect": "Allow", "Action": actions, "Resource": resources})
}

/// Passing the execution role to SageMaker, and only to SageMaker.
fn pass_execution_role(pipeline: &str) -> Value {
    json!({"Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn(&execution_role(pipeline)),
           "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}})
}

/// The roles of a pipeline whose builtin functions are `builtins`.
pub fn roles(spec: &PipelineSpec, builtins: &[&str]) -> Vec<RoleSpec> {
    let mut roles: Vec<RoleSpec> = builtins
        .iter()
        .map(|builtin| RoleSpec {
            name: plan::function_name(spec.name(), builtin),
            service: "lambda.amazonaws.com",
            policy: builtin_policy(spec, builtin),
        })
        .collect();
    roles.push(RoleSpec {
        name: execution_role(spec.name()),
        service: "sagemaker.amazonaws.com",
        policy: execution_policy(spec),
    });
    roles
}

/// What one builtin does, and nothing more.
fn builtin_policy(spec: &PipelineSpec, builtin: &str) -> Value {
    let pipeline = spec.name();
    let group = spec.group();
    let jobs = |kind: &str| sagemaker(&format!("{kind}/{pipeline}-*"));
    let versions = sagemaker(&format!("model-package/{group}/*"));
    let endpoint = spec.deployment.as_ref().map(|d| sagemaker(&format!("endpoint/{}", d.endpoint.value)));
    let statements = match builtin {
        plan::TRIGGER | plan::RETRAIN => vec![
            allow(&["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"], vec![jobs("training-job")]),
            pass_execution_role(pipeline),
        ],
        plan::EVALUATE => vec![
            allow(&["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob"], vec![jobs("processing-job")]),
            allow(&["sagemaker:DescribeTrainingJob"], vec![jobs("training-job")]),
            allow(&["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"], vec![versions.clone()]),
            pass_execution_role(pipeline),
        ],
        plan::REGISTER => vec![
            allow(&["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage"], vec![versions.clone()]),
            allow(&["sagemaker:DescribeProcessingJob"], vec![jobs("processing-job")]),
        ],
        plan::DEPLOY | plan::RECORD_DEPLOYMENT => {
            let mut statements = vec![allow(&["sagemaker:DescribeModelPackage"], vec![versions.clone()])];
            if let Some(endpoint) = endpoint {
                statements.push(allow(&["sagemaker:UpdateEndpoint", "sagemaker:DescribeEndpoint"], vec![endpoint]));
            }
            statements
        }
        _ => Vec::new(),
    };
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The jobs read their data and write their outputs: objects of the buckets the spec names.
fn execution_policy(spec: &PipelineSpec) -> Value {
    let mut buckets: Vec<&str> = spec
        .training
        .channels
        .values()
        .map(|uri| uri.value.as_str())
        .chain([spec.training.output.value.as_str(), spec.evaluation.test.value.as_str()])
        .filter_map(|uri| uri.strip_prefix("s3://").and_then(|rest| rest.split('/').next()))
        .collect();
    buckets.sort_unstable();
    buckets.dedup();
    let objects: Vec<String> = buckets.iter().map(|b| format!("arn:aws:s3:::{b}/*")).collect();
    let bucket_arns: Vec<String> = buckets.iter().map(|b| format!("arn:aws:s3:::{b}")).collect();
    json!({"Version": "2012-10-17", "Statement": [
        allow(&["s3:GetObject", "s3:PutObject"], objects),
        allow(&["s3:ListBucket"], bucket_arns),
    ]})
}
