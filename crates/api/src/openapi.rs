//! The OpenAPI 3.1 document of `/api/v1`, generated from the route table below.

use axum::Json;
use serde_json::{json, Map, Value};

/// What a request carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    Json,
    /// Raw bytes, streamed (object uploads).
    Bytes,
}

use Body::{Bytes as RAW, Json as JSON, None as EMPTY};

/// (method, path, operation id, summary, request body). Every route of `/api/v1` is here
/// (a test compares this table with the router).
const OPERATIONS: &[(&str, &str, &str, &str, Body)] = &[
    ("get", "/health", "Health", "Liveness; needs no token.", EMPTY),
    ("post", "/events", "PutEvents", "Put 1-10 events; per-entry results.", JSON),
    ("get", "/events", "ListEvents", "List events (bus, source, detail_type, since, after, wait, limit).", EMPTY),
    ("post", "/events/test-pattern", "TestEventPattern", "Does an event match a pattern?", JSON),
    ("get", "/events/{id}", "DescribeEvent", "An event, the rules it matched, its deliveries and attempts.", EMPTY),
    ("get", "/buses", "ListEventBuses", "List event buses.", EMPTY),
    ("post", "/buses", "CreateEventBus", "Create an event bus.", JSON),
    ("get", "/buses/{name}", "DescribeEventBus", "Describe an event bus.", EMPTY),
    ("delete", "/buses/{name}", "DeleteEventBus", "Delete an event bus without rules.", EMPTY),
    ("get", "/rules", "ListRules", "List rules (?bus=).", EMPTY),
    ("post", "/rules", "PutRule", "Create a rule with an EventPattern or a ScheduleExpression.", JSON),
    ("get", "/rules/{name}", "DescribeRule", "Describe a rule and its targets (?bus=).", EMPTY),
    ("delete", "/rules/{name}", "DeleteRule", "Delete a rule without targets (?bus=).", EMPTY),
    ("post", "/rules/{name}/enable", "EnableRule", "Enable a rule (?bus=).", EMPTY),
    ("post", "/rules/{name}/disable", "DisableRule", "Disable a rule (?bus=).", EMPTY),
    ("get", "/rules/{name}/targets", "ListTargetsByRule", "List a rule's targets (?bus=).", EMPTY),
    ("post", "/rules/{name}/targets", "PutTargets", "Add or replace one target (?bus=).", JSON),
    ("delete", "/rules/{name}/targets/{id}", "RemoveTargets", "Remove a target (?bus=).", EMPTY),
    ("get", "/functions", "ListFunctions", "List functions.", EMPTY),
    ("post", "/functions", "CreateFunction", "Create a command function.", JSON),
    ("get", "/functions/{name}", "GetFunction", "Describe a function.", EMPTY),
    ("delete", "/functions/{name}", "DeleteFunction", "Delete a function no target uses.", EMPTY),
    ("post", "/functions/{name}/invoke", "Invoke", "Run a function synchronously on the body (an event).", JSON),
    ("get", "/functions/{name}/logs", "GetFunctionLogs", "Recent invocations with their logs.", EMPTY),
    ("get", "/dlq", "ListDeadLetters", "Deliveries that gave up.", EMPTY),
    ("post", "/dlq/redrive", "RedriveDeadLetters", "Send dead letters back for delivery.", JSON),
    ("get", "/deliveries/counts", "CountDeliveries", "Deliveries by state.", EMPTY),
    ("get", "/archives", "ListArchives", "List archives.", EMPTY),
    ("post", "/archives", "CreateArchive", "Archive a bus's events (optionally filtered).", JSON),
    ("get", "/archives/{name}", "DescribeArchive", "Describe an archive.", EMPTY),
    ("delete", "/archives/{name}", "DeleteArchive", "Delete an archive.", EMPTY),
    ("get", "/replays", "ListReplays", "List replays.", EMPTY),
    ("post", "/replays", "StartReplay", "Replay an archive's time range onto a bus (202).", JSON),
    ("get", "/replays/{name}", "DescribeReplay", "Describe a replay.", EMPTY),
    ("get", "/training-jobs", "ListTrainingJobs", "List training jobs (?status=, ?limit=).", EMPTY),
    ("post", "/training-jobs", "CreateTrainingJob", "Start a training job (SageMaker's request; 202).", JSON),
    ("get", "/training-jobs/{name}", "DescribeTrainingJob", "Describe a training job.", EMPTY),
    ("post", "/training-jobs/{name}/stop", "StopTrainingJob", "Stop a training job.", EMPTY),
    ("get", "/training-jobs/{name}/logs", "GetTrainingJobLogs", "The job's log from ?offset=.", EMPTY),
    ("get", "/training-jobs/{name}/metrics", "GetTrainingJobMetrics", "Every metric value the job reported.", EMPTY),
    ("get", "/sources", "ListSources", "Followed git branches.", EMPTY),
    ("post", "/sources", "AddSource", "Follow a branch (Name, Url, Branch, PollIntervalSeconds, WebhookSecret).", JSON),
    ("get", "/sources/{name}", "DescribeSource", "A followed branch and its last announced commit.", EMPTY),
    ("delete", "/sources/{name}", "DeleteSource", "Stop following a branch.", EMPTY),
    ("post", "/sources/{name}/poll", "PollSource", "Fetch the branch now; a new head becomes a Git Push event.", EMPTY),
    ("get", "/endpoints", "ListEndpoints", "List endpoints.", EMPTY),
    (
        "get",
        "/endpoints/{name}",
        "DescribeEndpoint",
        "An endpoint: status, live variants and weights, the deployment in progress.",
        EMPTY,
    ),
    ("delete", "/endpoints/{name}", "DeleteEndpoint", "Delete an endpoint that is not deploying.", EMPTY),
    (
        "post",
        "/endpoints/{name}/deployments",
        "DeployEndpoint",
        "Create the endpoint or deploy a new configuration blue/green (ProductionVariants, DeploymentConfig); 202.",
        JSON,
    ),
    (
        "post",
        "/endpoints/{name}/rollback",
        "RollbackEndpoint",
        "Stop the deployment in progress, or deploy the previous configuration.",
        EMPTY,
    ),
    (
        "post",
        "/endpoints/{name}/weights",
        "UpdateEndpointWeightsAndCapacities",
        "Change the live variants' weights at once.",
        JSON,
    ),
    ("get", "/processing-jobs", "ListProcessingJobs", "List processing jobs (?status=, ?limit=).", EMPTY),
    ("post", "/processing-jobs", "CreateProcessingJob", "Start a processing job (SageMaker's request; 202).", JSON),
    ("get", "/processing-jobs/{name}", "DescribeProcessingJob", "Describe a processing job.", EMPTY),
    ("post", "/processing-jobs/{name}/stop", "StopProcessingJob", "Stop a processing job.", EMPTY),
    ("get", "/processing-jobs/{name}/logs", "GetProcessingJobLogs", "The job's log from ?offset=.", EMPTY),
    (
        "post",
        "/model-evaluations",
        "StartModelEvaluation",
        "Evaluate a model (and the group's champion) with the built-in evaluator; 202.",
        JSON,
    ),
    (
        "get",
        "/model-evaluations/{name}",
        "DescribeModelEvaluation",
        "An evaluation's status, reports and gate decision.",
        EMPTY,
    ),
    ("get", "/model-package-groups", "ListModelPackageGroups", "List model package groups.", EMPTY),
    ("post", "/model-package-groups", "CreateModelPackageGroup", "Create a group (ApprovalMode auto|manual).", JSON),
    ("get", "/model-package-groups/{name}", "DescribeModelPackageGroup", "A group with its aliases.", EMPTY),
    (
        "delete",
        "/model-package-groups/{name}",
        "DeleteModelPackageGroup",
        "Delete a group (?force=true with versions).",
        EMPTY,
    ),
    ("get", "/model-package-groups/{name}/versions", "ListModelPackages", "A group's versions.", EMPTY),
    (
        "get",
        "/model-package-groups/{name}/versions/{version}",
        "DescribeModelPackage",
        "A version, by number or alias.",
        EMPTY,
    ),
    (
        "post",
        "/model-package-groups/{name}/versions/{version}/status",
        "UpdateModelPackage",
        "Change a version's approval status.",
        JSON,
    ),
    (
        "put",
        "/model-package-groups/{name}/aliases/{alias}",
        "SetModelPackageAlias",
        "Point an alias at a version.",
        JSON,
    ),
    ("post", "/model-packages", "CreateModelPackage", "Register a group's next version.", JSON),
    ("get", "/iam/{kind}", "ListPrincipals", "Users, service-accounts or roles ({kind}).", EMPTY),
    ("post", "/iam/{kind}", "CreatePrincipal", "Create a user, service account or role (Name, Path, Tags, AssumeRolePolicyDocument, MaxSessionDuration, PermissionsBoundary).", JSON),
    ("get", "/iam/{kind}/{name}", "GetPrincipal", "A principal with its policies, boundary and tags.", EMPTY),
    ("delete", "/iam/{kind}/{name}", "DeletePrincipal", "Delete a principal with its keys, sessions and policies.", EMPTY),
    ("post", "/iam/{kind}/{name}/tags", "TagPrincipal", "Add or replace tags (Tags).", JSON),
    ("delete", "/iam/{kind}/{name}/tags", "UntagPrincipal", "Remove tags (?keys=a,b).", EMPTY),
    ("put", "/iam/{kind}/{name}/trust-policy", "UpdateAssumeRolePolicy", "Replace a role's trust policy (PolicyDocument).", JSON),
    ("put", "/iam/{kind}/{name}/permissions-boundary", "PutPermissionsBoundary", "Set the permissions boundary (PermissionsBoundary: a managed policy).", JSON),
    ("delete", "/iam/{kind}/{name}/permissions-boundary", "DeletePermissionsBoundary", "Remove the permissions boundary.", EMPTY),
    ("get", "/iam/{kind}/{name}/policies", "ListInlinePolicies", "Inline policy names.", EMPTY),
    ("get", "/iam/{kind}/{name}/policies/{policy}", "GetInlinePolicy", "An inline policy's document.", EMPTY),
    ("put", "/iam/{kind}/{name}/policies/{policy}", "PutInlinePolicy", "Create or replace an inline policy (PolicyDocument); 400 lists every problem.", JSON),
    ("delete", "/iam/{kind}/{name}/policies/{policy}", "DeleteInlinePolicy", "Delete an inline policy.", EMPTY),
    ("put", "/iam/{kind}/{name}/attached-policies/{policy}", "AttachPolicy", "Attach a managed policy (name or ARN).", EMPTY),
    ("delete", "/iam/{kind}/{name}/attached-policies/{policy}", "DetachPolicy", "Detach a managed policy.", EMPTY),
    ("get", "/iam/{kind}/{name}/access-keys", "ListAccessKeys", "A principal's access keys (never their secrets).", EMPTY),
    ("post", "/iam/{kind}/{name}/access-keys", "CreateAccessKey", "A new access key; its secret is shown in this answer only.", EMPTY),
    ("post", "/iam/{kind}/{name}/access-keys/{id}", "UpdateAccessKey", "Activate or deactivate a key (Status).", JSON),
    ("delete", "/iam/{kind}/{name}/access-keys/{id}", "DeleteAccessKey", "Delete an access key.", EMPTY),
    ("get", "/iam/policies", "ListPolicies", "Managed policies, built-in and customer.", EMPTY),
    ("post", "/iam/policies", "CreatePolicy", "Create a managed policy (PolicyName, PolicyDocument, Description).", JSON),
    ("get", "/iam/policies/{name}", "GetPolicy", "A managed policy with its document.", EMPTY),
    ("put", "/iam/policies/{name}", "CreatePolicyVersion", "Replace a managed policy's document (PolicyDocument).", JSON),
    ("delete", "/iam/policies/{name}", "DeletePolicy", "Delete a managed policy that is not attached.", EMPTY),
    ("post", "/iam/simulate", "SimulatePrincipalPolicy", "Decide actions on resources for a principal (PolicySourceArn, ActionNames, ResourceArns, ContextEntries).", JSON),
    ("post", "/sts/assume-role", "AssumeRole", "A role session's credentials (RoleArn, RoleSessionName, DurationSeconds, Policy).", JSON),
    ("get", "/sts/caller-identity", "GetCallerIdentity", "Who the credentials belong to.", EMPTY),
    ("post", "/sts/session-token", "GetSessionToken", "Root only: a session of root for AWS clients (DurationSeconds).", JSON),
    ("get", "/audit", "LookupEvents", "Audit records, CloudTrail-shaped (?principal=, ?denied=true, ?after=, ?limit=).", EMPTY),
    ("get", "/openapi.json", "GetOpenApiDocument", "This document.", EMPTY),
    ("get", "/pipelines", "ListPipelines", "Applied pipelines with their last run.", EMPTY),
    ("post", "/pipelines", "ApplyPipeline", "Apply a trainyard.yaml (Spec, BaseDirectory, DryRun): the plan.", JSON),
    ("get", "/pipelines/{name}", "DescribePipeline", "A pipeline: its spec and resources.", EMPTY),
    ("delete", "/pipelines/{name}", "DeletePipeline", "Delete a pipeline and what it made.", EMPTY),
    ("get", "/pipelines/{name}/runs", "ListPipelineRuns", "A pipeline's runs, newest first.", EMPTY),
    ("post", "/pipelines/{name}/start", "StartPipelineRun", "Start a run now, on the latest image.", JSON),
    ("get", "/pipeline-runs/{id}", "DescribePipelineRun", "A run: each step with its resource and times.", EMPTY),
    ("get", "/builds", "ListBuilds", "Image builds of pushed commits (?source=).", EMPTY),
    ("get", "/builds/{id}", "DescribeBuild", "A build: commit, status, image.", EMPTY),
    ("get", "/builds/{id}/logs", "GetBuildLogs", "A build's log.", EMPTY),
    ("get", "/repositories", "DescribeRepositories", "Image repositories of the registry.", EMPTY),
    ("post", "/repositories", "CreateRepository", "Create an image repository.", JSON),
    ("delete", "/repositories", "DeleteRepository", "Delete an image repository (?name=, ?force=).", EMPTY),
    ("get", "/images", "ListImages", "A repository's images (?repository=).", EMPTY),
    ("delete", "/images", "BatchDeleteImage", "Delete an image by tag or digest.", EMPTY),
    ("get", "/images/describe", "DescribeImages", "An image's manifest, size and tags.", EMPTY),
    ("get", "/buckets", "ListBuckets", "List buckets.", EMPTY),
    ("put", "/buckets/{bucket}", "CreateBucket", "Create a bucket.", EMPTY),
    ("get", "/buckets/{bucket}", "HeadBucket", "Describe a bucket.", EMPTY),
    ("delete", "/buckets/{bucket}", "DeleteBucket", "Delete an empty bucket.", EMPTY),
    ("get", "/buckets/{bucket}/objects", "ListObjectsV2", "Keys under ?prefix=, rolled up by ?delimiter=.", EMPTY),
    ("put", "/buckets/{bucket}/objects/{key}", "PutObject", "Store the body under the key (streamed).", RAW),
    ("get", "/buckets/{bucket}/objects/{key}", "GetObject", "The object's bytes (Range supported).", EMPTY),
    ("head", "/buckets/{bucket}/objects/{key}", "HeadObject", "The object's size, ETag and type.", EMPTY),
    ("delete", "/buckets/{bucket}/objects/{key}", "DeleteObject", "Delete an object.", EMPTY),
];

fn operation(id: &str, summary: &str, path: &str, body: Body) -> Value {
    let mut op = json!({
        "operationId": id,
        "summary": summary,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
            "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
    });
    let parameters: Vec<Value> = path
        .split('/')
        .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if !parameters.is_empty() {
        op["parameters"] = Value::Array(parameters);
    }
    match body {
        Body::Json => {
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
        }
        Body::Bytes => {
            op["requestBody"] = json!({"required": true, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}});
        }
        Body::None => {}
    }
    if id == "Health" {
        op["security"] = json!([]);
    }
    op
}

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Json<Value> {
    let mut paths = Map::new();
    for (method, path, id, summary, body) in OPERATIONS {
        let entry = paths.entry(format!("/api/v1{path}")).or_insert_with(|| json!({}));
        entry[*method] = operation(id, summary, path, *body);
    }
    Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "trainyard", "version": env!("CARGO_PKG_VERSION")},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
            }}
        }
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every (method, path) the `/api/v1` router serves, read from the router's source.
    fn routed() -> BTreeSet<(String, String)> {
        let source = include_str!("lib.rs");
        let start = source.find("pub fn router_with").unwrap();
        let end = source.find("fn registry(").unwrap();
        let method = regex::Regex::new(r"(?:^|[^a-z_])(get|post|put|delete|head|patch)\(").unwrap();
        let mut routes = BTreeSet::new();
        for call in source[start..end].split(".route(").skip(1) {
            let path = call.split('"').nth(1).unwrap().replace("{*", "{");
            let handlers = call.split_once(',').unwrap().1;
            for found in method.captures_iter(handlers) {
                routes.insert((found[1].to_string(), path.clone()));
            }
        }
        routes
    }

    #[test]
    fn every_route_has_an_action_and_resource() {
        let unmapped: Vec<_> = OPERATIONS
            .iter()
            .filter(|(method, path, ..)| *path != "/health" && crate::access::lookup(method, path).is_none())
            .map(|(method, path, ..)| (method, path))
            .collect();
        assert!(unmapped.is_empty(), "documented routes without an access entry: {unmapped:?}");
        let source = include_str!("lib.rs");
        let serving = &source[source.find("fn serving(").unwrap()..];
        let public = ["/v2/health/live", "/v2/health/ready", "/hooks/github", "/credentials/{run}"];
        for call in serving.split(".route(").skip(1) {
            let path = call.split('"').nth(1).unwrap();
            let method = if call.contains("post(") { "post" } else { "get" };
            assert!(
                public.contains(&path) || crate::access::lookup(method, path).is_some(),
                "serving route {method} {path} has no access entry"
            );
        }
    }

    #[test]
    fn every_routed_path_is_in_the_document_and_no_other() {
        let documented: BTreeSet<(String, String)> =
            OPERATIONS.iter().map(|(m, p, ..)| (m.to_string(), p.to_string())).collect();
        let routed = routed();
        assert!(routed.len() > 80, "the router's source was not read: {routed:?}");
        let missing: Vec<_> = routed.difference(&documented).collect();
        let stale: Vec<_> = documented.difference(&routed).collect();
        assert!(missing.is_empty(), "routed but not documented: {missing:?}");
        assert!(stale.is_empty(), "documented but not routed: {stale:?}");
    }
}
