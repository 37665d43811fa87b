//! The OpenAPI 3.1 document of `/api/v1`, generated from the route table below.

use axum::Json;
use serde_json::{json, Map, Value};

/// (method, path, operation id, summary, has a JSON body)
const OPERATIONS: &[(&str, &str, &str, &str, bool)] = &[
    ("get", "/health", "Health", "Liveness; needs no token.", false),
    ("post", "/events", "PutEvents", "Put 1-10 events; per-entry results.", true),
    ("get", "/events", "ListEvents", "List events (bus, source, detail_type, since, after, wait, limit).", false),
    ("post", "/events/test-pattern", "TestEventPattern", "Does an event match a pattern?", true),
    ("get", "/events/{id}", "DescribeEvent", "An event, the rules it matched, its deliveries and attempts.", false),
    ("get", "/buses", "ListEventBuses", "List event buses.", false),
    ("post", "/buses", "CreateEventBus", "Create an event bus.", true),
    ("get", "/buses/{name}", "DescribeEventBus", "Describe an event bus.", false),
    ("delete", "/buses/{name}", "DeleteEventBus", "Delete an event bus without rules.", false),
    ("get", "/rules", "ListRules", "List rules (?bus=).", false),
    ("post", "/rules", "PutRule", "Create a rule with an EventPattern or a ScheduleExpression.", true),
    ("get", "/rules/{name}", "DescribeRule", "Describe a rule and its targets (?bus=).", false),
    ("delete", "/rules/{name}", "DeleteRule", "Delete a rule without targets (?bus=).", false),
    ("post", "/rules/{name}/enable", "EnableRule", "Enable a rule (?bus=).", false),
    ("post", "/rules/{name}/disable", "DisableRule", "Disable a rule (?bus=).", false),
    ("get", "/rules/{name}/targets", "ListTargetsByRule", "List a rule's targets (?bus=).", false),
    ("post", "/rules/{name}/targets", "PutTargets", "Add or replace one target (?bus=).", true),
    ("delete", "/rules/{name}/targets/{id}", "RemoveTargets", "Remove a target (?bus=).", false),
    ("get", "/functions", "ListFunctions", "List functions.", false),
    ("post", "/functions", "CreateFunction", "Create a command function.", true),
    ("get", "/functions/{name}", "GetFunction", "Describe a function.", false),
    ("delete", "/functions/{name}", "DeleteFunction", "Delete a function no target uses.", false),
    ("post", "/functions/{name}/invoke", "Invoke", "Run a function synchronously on the body (an event).", true),
    ("get", "/functions/{name}/logs", "GetFunctionLogs", "Recent invocations with their logs.", false),
    ("get", "/dlq", "ListDeadLetters", "Deliveries that gave up.", false),
    ("post", "/dlq/redrive", "RedriveDeadLetters", "Send dead letters back for delivery.", true),
    ("get", "/deliveries/counts", "CountDeliveries", "Deliveries by state.", false),
    ("get", "/archives", "ListArchives", "List archives.", false),
    ("post", "/archives", "CreateArchive", "Archive a bus's events (optionally filtered).", true),
    ("get", "/archives/{name}", "DescribeArchive", "Describe an archive.", false),
    ("delete", "/archives/{name}", "DeleteArchive", "Delete an archive.", false),
    ("get", "/replays", "ListReplays", "List replays.", false),
    ("post", "/replays", "StartReplay", "Replay an archive's time range onto a bus (202).", true),
    ("get", "/replays/{name}", "DescribeReplay", "Describe a replay.", false),
    ("get", "/training-jobs", "ListTrainingJobs", "List training jobs (?status=, ?limit=).", false),
    ("post", "/training-jobs", "CreateTrainingJob", "Start a training job (SageMaker's request; 202).", true),
    ("get", "/training-jobs/{name}", "DescribeTrainingJob", "Describe a training job.", false),
    ("post", "/training-jobs/{name}/stop", "StopTrainingJob", "Stop a training job.", false),
    ("get", "/training-jobs/{name}/logs", "GetTrainingJobLogs", "The job's log from ?offset=.", false),
    ("get", "/training-jobs/{name}/metrics", "GetTrainingJobMetrics", "Every metric value the job reported.", false),
    ("get", "/sources", "ListSources", "Followed git branches.", false),
    ("post", "/sources", "AddSource", "Follow a branch (Name, Url, Branch, PollIntervalSeconds, WebhookSecret).", true),
    ("get", "/sources/{name}", "DescribeSource", "A followed branch and its last announced commit.", false),
    ("delete", "/sources/{name}", "DeleteSource", "Stop following a branch.", false),
    ("post", "/sources/{name}/poll", "PollSource", "Fetch the branch now; a new head becomes a Git Push event.", false),
    ("get", "/endpoints", "ListEndpoints", "List endpoints.", false),
    (
        "get",
        "/endpoints/{name}",
        "DescribeEndpoint",
        "An endpoint: status, live variants and weights, the deployment in progress.",
        false,
    ),
    ("delete", "/endpoints/{name}", "DeleteEndpoint", "Delete an endpoint that is not deploying.", false),
    (
        "post",
        "/endpoints/{name}/deployments",
        "DeployEndpoint",
        "Create the endpoint or deploy a new configuration blue/green (ProductionVariants, DeploymentConfig); 202.",
        true,
    ),
    (
        "post",
        "/endpoints/{name}/rollback",
        "RollbackEndpoint",
        "Stop the deployment in progress, or deploy the previous configuration.",
        false,
    ),
    (
        "post",
        "/endpoints/{name}/weights",
        "UpdateEndpointWeightsAndCapacities",
        "Change the live variants' weights at once.",
        true,
    ),
    ("get", "/processing-jobs", "ListProcessingJobs", "List processing jobs (?status=, ?limit=).", false),
    ("post", "/processing-jobs", "CreateProcessingJob", "Start a processing job (SageMaker's request; 202).", true),
    ("get", "/processing-jobs/{name}", "DescribeProcessingJob", "Describe a processing job.", false),
    ("post", "/processing-jobs/{name}/stop", "StopProcessingJob", "Stop a processing job.", false),
    ("get", "/processing-jobs/{name}/logs", "GetProcessingJobLogs", "The job's log from ?offset=.", false),
    (
        "post",
        "/model-evaluations",
        "StartModelEvaluation",
        "Evaluate a model (and the group's champion) with the built-in evaluator; 202.",
        true,
    ),
    (
        "get",
        "/model-evaluations/{name}",
        "DescribeModelEvaluation",
        "An evaluation's status, reports and gate decision.",
        false,
    ),
    ("get", "/model-package-groups", "ListModelPackageGroups", "List model package groups.", false),
    ("post", "/model-package-groups", "CreateModelPackageGroup", "Create a group (ApprovalMode auto|manual).", true),
    ("get", "/model-package-groups/{name}", "DescribeModelPackageGroup", "A group with its aliases.", false),
    (
        "delete",
        "/model-package-groups/{name}",
        "DeleteModelPackageGroup",
        "Delete a group (?force=true with versions).",
        false,
    ),
    ("get", "/model-package-groups/{name}/versions", "ListModelPackages", "A group's versions.", false),
    (
        "get",
        "/model-package-groups/{name}/versions/{version}",
        "DescribeModelPackage",
        "A version, by number or alias.",
        false,
    ),
    (
        "post",
        "/model-package-groups/{name}/versions/{version}/status",
        "UpdateModelPackage",
        "Change a version's approval status.",
        true,
    ),
    (
        "put",
        "/model-package-groups/{name}/aliases/{alias}",
        "SetModelPackageAlias",
        "Point an alias at a version.",
        true,
    ),
    ("post", "/model-packages", "CreateModelPackage", "Register a group's next version.", true),
];

fn operation(id: &str, summary: &str, path: &str, body: bool) -> Value {
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
    if body {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
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
