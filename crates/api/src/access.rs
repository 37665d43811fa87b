//! The one table from every route to the AWS action and resource ARN it is authorized as.
//!
//! Real AWS action names where AWS has the operation (`sagemaker:CreateTrainingJob`,
//! `s3:PutObject`, `events:PutEvents`, …); routes with no AWS twin carry a trainyard name
//! in the nearest service's prefix (`events:ListDeadLetters`, `codebuild:AddSource`),
//! documented in `docs/security.md`. A resource template's `{x}` is filled from the path
//! parameter `x`, `{?x}` from the query parameter `x`, `{.X}` from the JSON body's
//! top-level field `X`; `{rule}` is an EventBridge rule's path (`NAME` on the default bus,
//! `BUS/NAME` on another) and `{buses}` each event bus a PutEvents call names.

/// How a route is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads: audited only when denied.
    Read,
    /// Management writes: always audited, and published on the bus.
    Write,
    /// Data writes (objects, invocations, events): audited, not published.
    Data,
    /// Data reads: audited only when denied.
    DataRead,
}

/// One route's authorization.
#[derive(Debug, Clone, Copy)]
pub struct RouteAccess {
    pub method: &'static str,
    pub path: &'static str,
    pub action: &'static str,
    pub resource: &'static str,
    pub kind: Kind,
}

macro_rules! arn {
    (s3, $rest:literal) => {
        concat!("arn:aws:s3:::", $rest)
    };
    (iam, $rest:literal) => {
        concat!("arn:aws:iam::000000000000:", $rest)
    };
    ($service:ident, $rest:literal) => {
        concat!("arn:aws:", stringify!($service), ":local:000000000000:", $rest)
    };
}

use Kind::{Data, DataRead, Read, Write};

const fn route(
    method: &'static str,
    path: &'static str,
    action: &'static str,
    resource: &'static str,
    kind: Kind,
) -> RouteAccess {
    RouteAccess { method, path, action, resource, kind }
}

/// Every route of `/api/v1` (paths relative to it) and of the serving data plane
/// (absolute paths, starting `/endpoints/…/invocations`, `/v2/models`, `/metrics`).
pub const ROUTES: &[RouteAccess] = &[
    route("get", "/openapi.json", "trainyard:GetOpenApiDocument", "*", Read),
    // EventBridge
    route("post", "/events", "events:PutEvents", "{buses}", Data),
    route("get", "/events", "events:ListEvents", arn!(events, "event-bus/{?bus}"), Read),
    route("post", "/events/test-pattern", "events:TestEventPattern", "*", Read),
    route("get", "/events/{id}", "events:DescribeEvent", arn!(events, "event/{id}"), Read),
    route("get", "/buses", "events:ListEventBuses", "*", Read),
    route("post", "/buses", "events:CreateEventBus", arn!(events, "event-bus/{.Name}"), Write),
    route("get", "/buses/{name}", "events:DescribeEventBus", arn!(events, "event-bus/{name}"), Read),
    route("delete", "/buses/{name}", "events:DeleteEventBus", arn!(events, "event-bus/{name}"), Write),
    route("get", "/rules", "events:ListRules", "*", Read),
    route("post", "/rules", "events:PutRule", arn!(events, "rule/{rule}"), Write),
    route("get", "/rules/{name}", "events:DescribeRule", arn!(events, "rule/{rule}"), Read),
    route("delete", "/rules/{name}", "events:DeleteRule", arn!(events, "rule/{rule}"), Write),
    route("post", "/rules/{name}/enable", "events:EnableRule", arn!(events, "rule/{rule}"), Write),
    route("post", "/rules/{name}/disable", "events:DisableRule", arn!(events, "rule/{rule}"), Write),
    route("get", "/rules/{name}/targets", "events:ListTargetsByRule", arn!(events, "rule/{rule}"), Read),
    route("post", "/rules/{name}/targets", "events:PutTargets", arn!(events, "rule/{rule}"), Write),
    route("delete", "/rules/{name}/targets/{id}", "events:RemoveTargets", arn!(events, "rule/{rule}"), Write),
    route("get", "/dlq", "events:ListDeadLetters", "*", Read),
    route("post", "/dlq/redrive", "events:RedriveDeadLetters", "*", Write),
    route("get", "/deliveries/counts", "events:CountDeliveries", "*", Read),
    route("get", "/archives", "events:ListArchives", "*", Read),
    route("post", "/archives", "events:CreateArchive", arn!(events, "archive/{.ArchiveName}"), Write),
    route("get", "/archives/{name}", "events:DescribeArchive", arn!(events, "archive/{name}"), Read),
    route("delete", "/archives/{name}", "events:DeleteArchive", arn!(events, "archive/{name}"), Write),
    route("get", "/replays", "events:ListReplays", "*", Read),
    route("post", "/replays", "events:StartReplay", arn!(events, "replay/{.ReplayName}"), Write),
    route("get", "/replays/{name}", "events:DescribeReplay", arn!(events, "replay/{name}"), Read),
    // Lambda
    route("get", "/functions", "lambda:ListFunctions", "*", Read),
    route("post", "/functions", "lambda:CreateFunction", arn!(lambda, "function:{.FunctionName}"), Write),
    route("get", "/functions/{name}", "lambda:GetFunction", arn!(lambda, "function:{name}"), Read),
    route("delete", "/functions/{name}", "lambda:DeleteFunction", arn!(lambda, "function:{name}"), Write),
    route("post", "/functions/{name}/invoke", "lambda:InvokeFunction", arn!(lambda, "function:{name}"), Data),
    route("get", "/functions/{name}/logs", "lambda:GetFunctionLogs", arn!(lambda, "function:{name}"), Read),
    // SageMaker
    route("get", "/training-jobs", "sagemaker:ListTrainingJobs", "*", Read),
    route(
        "post",
        "/training-jobs",
        "sagemaker:CreateTrainingJob",
        arn!(sagemaker, "training-job/{.TrainingJobName}"),
        Write,
    ),
    route(
        "get",
        "/training-jobs/{name}",
        "sagemaker:DescribeTrainingJob",
        arn!(sagemaker, "training-job/{name}"),
        Read,
    ),
    route(
        "post",
        "/training-jobs/{name}/stop",
        "sagemaker:StopTrainingJob",
        arn!(sagemaker, "training-job/{name}"),
        Write,
    ),
    route(
        "get",
        "/training-jobs/{name}/logs",
        "sagemaker:GetTrainingJobLogs",
        arn!(sagemaker, "training-job/{name}"),
        Read,
    ),
    route(
        "get",
        "/training-jobs/{name}/metrics",
        "sagemaker:GetTrainingJobMetrics",
        arn!(sagemaker, "training-job/{name}"),
        Read,
    ),
    route("get", "/processing-jobs", "sagemaker:ListProcessingJobs", "*", Read),
    route(
        "post",
        "/processing-jobs",
        "sagemaker:CreateProcessingJob",
        arn!(sagemaker, "processing-job/{.ProcessingJobName}"),
        Write,
    ),
    route(
        "get",
        "/processing-jobs/{name}",
        "sagemaker:DescribeProcessingJob",
        arn!(sagemaker, "processing-job/{name}"),
        Read,
    ),
    route(
        "post",
        "/processing-jobs/{name}/stop",
        "sagemaker:StopProcessingJob",
        arn!(sagemaker, "processing-job/{name}"),
        Write,
    ),
    route(
        "get",
        "/processing-jobs/{name}/logs",
        "sagemaker:GetProcessingJobLogs",
        arn!(sagemaker, "processing-job/{name}"),
        Read,
    ),
    route("post", "/model-evaluations", "sagemaker:CreateProcessingJob", arn!(sagemaker, "processing-job/*"), Write),
    route(
        "get",
        "/model-evaluations/{name}",
        "sagemaker:DescribeProcessingJob",
        arn!(sagemaker, "processing-job/{name}"),
        Read,
    ),
    route("get", "/model-package-groups", "sagemaker:ListModelPackageGroups", "*", Read),
    route(
        "post",
        "/model-package-groups",
        "sagemaker:CreateModelPackageGroup",
        arn!(sagemaker, "model-package-group/{.ModelPackageGroupName}"),
        Write,
    ),
    route(
        "get",
        "/model-package-groups/{name}",
        "sagemaker:DescribeModelPackageGroup",
        arn!(sagemaker, "model-package-group/{name}"),
        Read,
    ),
    route(
        "delete",
        "/model-package-groups/{name}",
        "sagemaker:DeleteModelPackageGroup",
        arn!(sagemaker, "model-package-group/{name}"),
        Write,
    ),
    route(
        "get",
        "/model-package-groups/{name}/versions",
        "sagemaker:ListModelPackages",
        arn!(sagemaker, "model-package-group/{name}"),
        Read,
    ),
    route(
        "get",
        "/model-package-groups/{name}/versions/{version}",
        "sagemaker:DescribeModelPackage",
        arn!(sagemaker, "model-package/{name}/{version}"),
        Read,
    ),
    route(
        "post",
        "/model-package-groups/{name}/versions/{version}/status",
        "sagemaker:UpdateModelPackage",
        arn!(sagemaker, "model-package/{name}/{version}"),
        Write,
    ),
    route(
        "put",
        "/model-package-groups/{name}/aliases/{alias}",
        "sagemaker:SetModelPackageAlias",
        arn!(sagemaker, "model-package-group/{name}"),
        Write,
    ),
    route(
        "post",
        "/model-packages",
        "sagemaker:CreateModelPackage",
        arn!(sagemaker, "model-package/{.ModelPackageGroupName}/*"),
        Write,
    ),
    route("get", "/endpoints", "sagemaker:ListEndpoints", "*", Read),
    route("get", "/endpoints/{name}", "sagemaker:DescribeEndpoint", arn!(sagemaker, "endpoint/{name}"), Read),
    route("delete", "/endpoints/{name}", "sagemaker:DeleteEndpoint", arn!(sagemaker, "endpoint/{name}"), Write),
    route(
        "post",
        "/endpoints/{name}/deployments",
        "sagemaker:UpdateEndpoint",
        arn!(sagemaker, "endpoint/{name}"),
        Write,
    ),
    route("post", "/endpoints/{name}/rollback", "sagemaker:UpdateEndpoint", arn!(sagemaker, "endpoint/{name}"), Write),
    route(
        "post",
        "/endpoints/{name}/weights",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
        arn!(sagemaker, "endpoint/{name}"),
        Write,
    ),
    route("get", "/pipelines", "sagemaker:ListPipelines", "*", Read),
    route("post", "/pipelines", "sagemaker:CreatePipeline", arn!(sagemaker, "pipeline/*"), Write),
    route("get", "/pipelines/{name}", "sagemaker:DescribePipeline", arn!(sagemaker, "pipeline/{name}"), Read),
    route("delete", "/pipelines/{name}", "sagemaker:DeletePipeline", arn!(sagemaker, "pipeline/{name}"), Write),
    route(
        "get",
        "/pipelines/{name}/runs",
        "sagemaker:ListPipelineExecutions",
        arn!(sagemaker, "pipeline/{name}"),
        Read,
    ),
    route(
        "post",
        "/pipelines/{name}/start",
        "sagemaker:StartPipelineExecution",
        arn!(sagemaker, "pipeline/{name}"),
        Write,
    ),
    route(
        "get",
        "/pipeline-runs/{id}",
        "sagemaker:DescribePipelineExecution",
        arn!(sagemaker, "pipeline/*/execution/{id}"),
        Read,
    ),
    // CodeBuild (sources and builds)
    route("get", "/sources", "codebuild:ListSources", "*", Read),
    route("post", "/sources", "codebuild:AddSource", arn!(codebuild, "source/{.Name}"), Write),
    route("get", "/sources/{name}", "codebuild:DescribeSource", arn!(codebuild, "source/{name}"), Read),
    route("delete", "/sources/{name}", "codebuild:DeleteSource", arn!(codebuild, "source/{name}"), Write),
    route("post", "/sources/{name}/poll", "codebuild:PollSource", arn!(codebuild, "source/{name}"), Write),
    route("get", "/builds", "codebuild:ListBuilds", "*", Read),
    route("get", "/builds/{id}", "codebuild:BatchGetBuilds", arn!(codebuild, "build/{id}"), Read),
    route("get", "/builds/{id}/logs", "codebuild:GetBuildLogs", arn!(codebuild, "build/{id}"), Read),
    // ECR
    route("get", "/repositories", "ecr:DescribeRepositories", "*", Read),
    route("post", "/repositories", "ecr:CreateRepository", arn!(ecr, "repository/{.RepositoryName}"), Write),
    route("delete", "/repositories", "ecr:DeleteRepository", arn!(ecr, "repository/{?name}"), Write),
    route("get", "/images", "ecr:ListImages", arn!(ecr, "repository/{?repository}"), Read),
    route("delete", "/images", "ecr:BatchDeleteImage", arn!(ecr, "repository/{?repository}"), Write),
    route("get", "/images/describe", "ecr:DescribeImages", arn!(ecr, "repository/{?repository}"), Read),
    // S3
    route("get", "/buckets", "s3:ListAllMyBuckets", "*", Read),
    route("put", "/buckets/{bucket}", "s3:CreateBucket", arn!(s3, "{bucket}"), Write),
    route("get", "/buckets/{bucket}", "s3:ListBucket", arn!(s3, "{bucket}"), Read),
    route("delete", "/buckets/{bucket}", "s3:DeleteBucket", arn!(s3, "{bucket}"), Write),
    route("get", "/buckets/{bucket}/objects", "s3:ListBucket", arn!(s3, "{bucket}"), Read),
    route("put", "/buckets/{bucket}/objects/{key}", "s3:PutObject", arn!(s3, "{bucket}/{key}"), Data),
    route("get", "/buckets/{bucket}/objects/{key}", "s3:GetObject", arn!(s3, "{bucket}/{key}"), DataRead),
    route("head", "/buckets/{bucket}/objects/{key}", "s3:GetObject", arn!(s3, "{bucket}/{key}"), DataRead),
    route("delete", "/buckets/{bucket}/objects/{key}", "s3:DeleteObject", arn!(s3, "{bucket}/{key}"), Data),
    // IAM and STS
    route("get", "/iam/{kind}", "iam:List{Kind}s", "*", Read),
    route("post", "/iam/{kind}", "iam:Create{Kind}", arn!(iam, "{kind-arn}/{.Name}"), Write),
    route("get", "/iam/{kind}/{name}", "iam:Get{Kind}", arn!(iam, "{kind-arn}/{name}"), Read),
    route("delete", "/iam/{kind}/{name}", "iam:Delete{Kind}", arn!(iam, "{kind-arn}/{name}"), Write),
    route("post", "/iam/{kind}/{name}/tags", "iam:Tag{Kind}", arn!(iam, "{kind-arn}/{name}"), Write),
    route("delete", "/iam/{kind}/{name}/tags", "iam:Untag{Kind}", arn!(iam, "{kind-arn}/{name}"), Write),
    route(
        "put",
        "/iam/{kind}/{name}/trust-policy",
        "iam:UpdateAssumeRolePolicy",
        arn!(iam, "{kind-arn}/{name}"),
        Write,
    ),
    route(
        "put",
        "/iam/{kind}/{name}/permissions-boundary",
        "iam:Put{Kind}PermissionsBoundary",
        arn!(iam, "{kind-arn}/{name}"),
        Write,
    ),
    route(
        "delete",
        "/iam/{kind}/{name}/permissions-boundary",
        "iam:Delete{Kind}PermissionsBoundary",
        arn!(iam, "{kind-arn}/{name}"),
        Write,
    ),
    route("get", "/iam/{kind}/{name}/policies", "iam:List{Kind}Policies", arn!(iam, "{kind-arn}/{name}"), Read),
    route("get", "/iam/{kind}/{name}/policies/{policy}", "iam:Get{Kind}Policy", arn!(iam, "{kind-arn}/{name}"), Read),
    route("put", "/iam/{kind}/{name}/policies/{policy}", "iam:Put{Kind}Policy", arn!(iam, "{kind-arn}/{name}"), Write),
    route(
        "delete",
        "/iam/{kind}/{name}/policies/{policy}",
        "iam:Delete{Kind}Policy",
        arn!(iam, "{kind-arn}/{name}"),
        Write,
    ),
    route(
        "put",
        "/iam/{kind}/{name}/attached-policies/{policy}",
        "iam:Attach{Kind}Policy",
        arn!(iam, "{kind-arn}/{name}"),
        Write,
    ),
    route(
        "delete",
        "/iam/{kind}/{name}/attached-policies/{policy}",
        "iam:Detach{Kind}Policy",
        arn!(iam, "{kind-arn}/{name}"),
        Write,
    ),
    route("get", "/iam/{kind}/{name}/access-keys", "iam:ListAccessKeys", arn!(iam, "{kind-arn}/{name}"), Read),
    route("post", "/iam/{kind}/{name}/access-keys", "iam:CreateAccessKey", arn!(iam, "{kind-arn}/{name}"), Write),
    route("post", "/iam/{kind}/{name}/access-keys/{id}", "iam:UpdateAccessKey", arn!(iam, "{kind-arn}/{name}"), Write),
    route(
        "delete",
        "/iam/{kind}/{name}/access-keys/{id}",
        "iam:DeleteAccessKey",
        arn!(iam, "{kind-arn}/{name}"),
        Write,
    ),
    route("get", "/iam/policies", "iam:ListPolicies", "*", Read),
    route("post", "/iam/policies", "iam:CreatePolicy", arn!(iam, "policy/{.PolicyName}"), Write),
    route("get", "/iam/policies/{name}", "iam:GetPolicy", arn!(iam, "policy/{name}"), Read),
    route("put", "/iam/policies/{name}", "iam:CreatePolicyVersion", arn!(iam, "policy/{name}"), Write),
    route("delete", "/iam/policies/{name}", "iam:DeletePolicy", arn!(iam, "policy/{name}"), Write),
    route("post", "/iam/simulate", "iam:SimulatePrincipalPolicy", "{.PolicySourceArn}", Read),
    route("post", "/sts/assume-role", "sts:AssumeRole", "{.RoleArn}", Write),
    route("get", "/sts/caller-identity", "sts:GetCallerIdentity", "*", Read),
    route("post", "/sts/session-token", "sts:GetSessionToken", "*", Write),
    route("get", "/audit", "cloudtrail:LookupEvents", "*", Read),
    // The serving data plane (outside /api/v1).
    route(
        "post",
        "/endpoints/{name}/invocations",
        "sagemaker:InvokeEndpoint",
        arn!(sagemaker, "endpoint/{name}"),
        DataRead,
    ),
    route("post", "/v2/models/{name}/infer", "sagemaker:InvokeEndpoint", arn!(sagemaker, "endpoint/{name}"), DataRead),
    route(
        "post",
        "/v2/models/{name}/versions/{version}/infer",
        "sagemaker:InvokeEndpoint",
        arn!(sagemaker, "endpoint/{name}"),
        DataRead,
    ),
    route("get", "/v2/models/{name}", "sagemaker:DescribeEndpoint", arn!(sagemaker, "endpoint/{name}"), Read),
    route("get", "/v2/models/{name}/ready", "sagemaker:DescribeEndpoint", arn!(sagemaker, "endpoint/{name}"), Read),
    route("get", "/metrics", "cloudwatch:GetMetricData", "*", Read),
];

/// Calls that name a role for a service to act as: (method, path, body field, service).
/// Each is checked for `iam:PassRole` and the role's trust (`Identities::check_pass_role`).
pub const PASSED_ROLES: &[(&str, &str, &str, &str)] = &[
    ("post", "/training-jobs", "RoleArn", "sagemaker.amazonaws.com"),
    ("post", "/processing-jobs", "RoleArn", "sagemaker.amazonaws.com"),
    ("post", "/model-evaluations", "RoleArn", "sagemaker.amazonaws.com"),
    ("post", "/functions", "Role", "lambda.amazonaws.com"),
];

/// Where pipelines' roles live.
const PIPELINE_ROLES: &str = "arn:aws:iam::000000000000:role/trainyard-pipeline/*";

/// An (action, resource) a call needs.
pub type Need = (&'static str, &'static str);

/// Actions a call needs besides its own: applying a pipeline makes its roles and passes
/// them to Lambda and SageMaker; deleting one deletes them.
pub const ALSO_NEEDS: &[(&str, &str, &[Need])] = &[
    (
        "post",
        "/pipelines",
        &[("iam:CreateRole", PIPELINE_ROLES), ("iam:PutRolePolicy", PIPELINE_ROLES), ("iam:PassRole", PIPELINE_ROLES)],
    ),
    ("delete", "/pipelines/{name}", &[("iam:DeleteRole", PIPELINE_ROLES)]),
];

/// The other (action, resource) pairs `route` needs.
pub fn also_needs(route: &RouteAccess) -> &'static [Need] {
    ALSO_NEEDS.iter().find(|(m, p, _)| *m == route.method && *p == route.path).map_or(&[], |(_, _, needs)| needs)
}

/// The role a call passes and the service it passes it to, if it names one.
pub fn passed_role<'a>(route: &RouteAccess, parameters: &Parameters<'a>) -> Option<(&'a str, &'static str)> {
    let (_, _, field, service) = PASSED_ROLES.iter().find(|(m, p, ..)| *m == route.method && *p == route.path)?;
    Some((parameters.body(field)?, service))
}

/// The route of `method` and `path` (a router's matched path), if it has an entry. HEAD
/// is authorized as GET where it has no entry of its own.
pub fn lookup(method: &str, path: &str) -> Option<&'static RouteAccess> {
    let method = method.to_ascii_lowercase();
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    // The router writes a catch-all parameter `{*key}`; the table, like OpenAPI, `{key}`.
    let normalized;
    let path = if path.contains("{*") {
        normalized = path.replace("{*", "{");
        normalized.as_str()
    } else {
        path
    };
    let find = |m: &str| ROUTES.iter().find(|r| r.method == m && r.path == path);
    find(&method).or_else(|| if method == "head" { find("get") } else { None })
}

/// The IAM kinds of principal a `{kind}` path segment names: (segment, action word, ARN word).
pub const PRINCIPAL_KINDS: &[(&str, &str, &str)] =
    &[("users", "User", "user"), ("service-accounts", "User", "user"), ("roles", "Role", "role")];

/// Everything a template may be filled from.
#[derive(Debug, Default)]
pub struct Parameters<'a> {
    pub path: Vec<(&'a str, &'a str)>,
    pub query: Vec<(String, String)>,
    pub body: Option<&'a serde_json::Value>,
}

impl<'a> Parameters<'a> {
    fn path(&self, name: &str) -> Option<&'a str> {
        self.path.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn body(&self, field: &str) -> Option<&'a str> {
        self.body?.get(field)?.as_str()
    }

    /// The bus a rule route acts on, read where its handler reads it. Invariant: the guard
    /// and the handler never disagree on the bus: a rule named in the path has its bus in
    /// `?bus` (a body's `EventBusName` is not looked at); a rule created (`PutRule`) has it
    /// in the body.
    fn bus(&self) -> &str {
        let bus = if self.path("name").is_some() { self.query("bus") } else { self.body("EventBusName") };
        bus.filter(|b| !b.is_empty()).unwrap_or("default")
    }
}

/// Whether authorizing `route` needs the request's JSON body (a resource or a passed
/// role named in it).
pub fn needs_body(route: &RouteAccess) -> bool {
    let template = route.resource;
    template.contains("{.")
        || template == "{buses}"
        || template.contains("{rule}")
        || (route.method == "post" && route.path.starts_with("/iam/{kind}"))
        || PASSED_ROLES.iter().any(|(m, p, ..)| *m == route.method && *p == route.path)
}

/// The tags a request puts on what it creates or tags (`aws:RequestTag/*`): a JSON body's
/// `Tags` object.
pub fn request_tags(parameters: &Parameters<'_>) -> std::collections::BTreeMap<String, String> {
    parameters
        .body
        .and_then(|body| body.get("Tags"))
        .and_then(|tags| tags.as_object())
        .map(|tags| tags.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

/// The principal (kind segment, name) an IAM route acts on, for `aws:ResourceTag/*`.
pub fn principal_of<'a>(route: &RouteAccess, parameters: &Parameters<'a>) -> Option<(&'a str, &'a str)> {
    route.path.starts_with("/iam/{kind}/{name}").then(|| Some((parameters.path("kind")?, parameters.path("name")?)))?
}

/// The action of `route` for this request (`{Kind}` filled from the path).
pub fn action(route: &RouteAccess, parameters: &Parameters<'_>) -> String {
    match parameters.path("kind").and_then(kind_words) {
        Some((word, _)) => route.action.replace("{Kind}", word),
        None => route.action.to_string(),
    }
}

fn kind_words(segment: &str) -> Option<(&'static str, &'static str)> {
    PRINCIPAL_KINDS.iter().find(|(s, _, _)| *s == segment).map(|(_, action, arn)| (*action, *arn))
}

/// The resource ARNs `route` names for this request; a placeholder with no value makes
/// the request name nothing (and so match no policy but `*`-free denials).
pub fn resources(route: &RouteAccess, parameters: &Parameters<'_>) -> Vec<String> {
    if route.resource == "{buses}" {
        return event_buses(parameters);
    }
    let mut out = String::new();
    let mut rest = route.resource;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e);
        let placeholder = &rest[start + 1..end];
        out.push_str(&fill(placeholder, parameters));
        rest = rest.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    vec![out]
}

fn fill(placeholder: &str, parameters: &Parameters<'_>) -> String {
    let value = if let Some(field) = placeholder.strip_prefix('.') {
        parameters.body(field).map(str::to_string)
    } else if let Some(name) = placeholder.strip_prefix('?') {
        parameters.query(name).map(str::to_string)
    } else if placeholder == "rule" {
        let name = parameters.path("name").or_else(|| parameters.body("Name")).unwrap_or("");
        Some(match parameters.bus() {
            "default" => name.to_string(),
            bus => format!("{bus}/{name}"),
        })
    } else if placeholder == "kind-arn" {
        parameters.path("kind").and_then(kind_words).map(|(_, arn)| arn.to_string())
    } else {
        parameters.path(placeholder).map(str::to_string)
    };
    match (placeholder, value) {
        (_, Some(value)) => value,
        // Events listed without `?bus` are every bus's.
        ("?bus", None) => "*".to_string(),
        (_, None) => String::new(),
    }
}

/// Each distinct bus a PutEvents body names (the default bus for entries that name none).
fn event_buses(parameters: &Parameters<'_>) -> Vec<String> {
    let mut buses: Vec<String> = parameters
        .body
        .and_then(|body| body.get("Entries"))
        .and_then(|entries| entries.as_array())
        .map(|entries| {
            entries
                .iter()
                .map(|entry| {
                    let bus = entry.get("EventBusName").and_then(|b| b.as_str()).filter(|b| !b.is_empty());
                    let bus = bus.map(|b| b.rsplit('/').next().unwrap_or(b)).unwrap_or("default");
                    format!("arn:aws:events:local:000000000000:event-bus/{bus}")
                })
                .collect()
        })
        .unwrap_or_default();
    buses.sort();
    buses.dedup();
    if buses.is_empty() {
        buses.push("arn:aws:events:local:000000000000:event-bus/default".to_string());
    }
    buses
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_fill_from_path_query_and_body() {
        let training = lookup("POST", "/api/v1/training-jobs").unwrap();
        let body = json!({"TrainingJobName": "churn-1"});
        let parameters = Parameters { body: Some(&body), ..Default::default() };
        assert_eq!(resources(training, &parameters), ["arn:aws:sagemaker:local:000000000000:training-job/churn-1"]);
        let rule = lookup("get", "/rules/{name}").unwrap();
        let parameters = Parameters { path: vec![("name", "r1")], ..Default::default() };
        assert_eq!(resources(rule, &parameters), ["arn:aws:events:local:000000000000:rule/r1"]);
        let parameters =
            Parameters { path: vec![("name", "r1")], query: vec![("bus".into(), "ops".into())], ..Default::default() };
        assert_eq!(resources(rule, &parameters), ["arn:aws:events:local:000000000000:rule/ops/r1"]);
        // A body cannot move the rule the guard decides on to another bus.
        let body = json!({"EventBusName": "mine"});
        let parameters = Parameters { path: vec![("name", "victim")], body: Some(&body), ..Default::default() };
        assert_eq!(resources(rule, &parameters), ["arn:aws:events:local:000000000000:rule/victim"]);
        let create = lookup("post", "/rules").unwrap();
        let body = json!({"Name": "r2", "EventBusName": "ops"});
        let parameters =
            Parameters { query: vec![("bus".into(), "mine".into())], body: Some(&body), ..Default::default() };
        assert_eq!(resources(create, &parameters), ["arn:aws:events:local:000000000000:rule/ops/r2"]);
        let events = lookup("get", "/events").unwrap();
        assert_eq!(resources(events, &Parameters::default()), ["arn:aws:events:local:000000000000:event-bus/*"]);
        let object = lookup("head", "/api/v1/buckets/{bucket}/objects/{*key}").unwrap();
        let parameters = Parameters { path: vec![("bucket", "data"), ("key", "a/b.csv")], ..Default::default() };
        assert_eq!(resources(object, &parameters), ["arn:aws:s3:::data/a/b.csv"]);
        let key = lookup("post", "/iam/{kind}/{name}/access-keys").unwrap();
        let parameters = Parameters { path: vec![("kind", "service-accounts"), ("name", "ci")], ..Default::default() };
        assert_eq!(action(key, &parameters), "iam:CreateAccessKey");
        assert_eq!(resources(key, &parameters), ["arn:aws:iam::000000000000:user/ci"]);
        let create = lookup("post", "/iam/{kind}").unwrap();
        let parameters = Parameters { path: vec![("kind", "roles")], ..Default::default() };
        assert_eq!(action(create, &parameters), "iam:CreateRole");
    }

    #[test]
    fn put_events_names_each_bus_once() {
        let put = lookup("post", "/events").unwrap();
        let body = json!({"Entries": [{"EventBusName": "ops"}, {}, {"EventBusName": "arn:aws:events:local:000000000000:event-bus/ops"}]});
        let parameters = Parameters { body: Some(&body), ..Default::default() };
        assert_eq!(
            resources(put, &parameters),
            ["arn:aws:events:local:000000000000:event-bus/default", "arn:aws:events:local:000000000000:event-bus/ops"]
        );
    }
}
