//! The operations this endpoint implements, per service: the one list dispatch consults
//! (an operation of a json or query service not here is the protocol's unknown-operation
//! error, before any handler) and `docs/aws-api.md`'s table is generated from, so the two
//! cannot drift. S3 and sagemaker-runtime route by method and path; their rows document.

/// A service as clients address it.
pub struct Service {
    /// The boto3 client name.
    pub client: &'static str,
    /// The wire protocol and how an operation is named on it.
    pub protocol: &'static str,
    pub operations: &'static [&'static str],
}

pub const SERVICES: &[Service] = &[
    Service {
        client: "s3",
        protocol: "rest-xml, path style",
        operations: &[
            "ListBuckets",
            "CreateBucket",
            "HeadBucket",
            "GetBucketLocation",
            "DeleteBucket",
            "PutBucketPolicy",
            "GetBucketPolicy",
            "DeleteBucketPolicy",
            "PutObject",
            "GetObject",
            "HeadObject",
            "CopyObject",
            "DeleteObject",
            "DeleteObjects",
            "ListObjectsV2",
            "ListObjects",
            "PutObjectTagging",
            "GetObjectTagging",
            "DeleteObjectTagging",
            "CreateMultipartUpload",
            "UploadPart",
            "CompleteMultipartUpload",
            "AbortMultipartUpload",
            "ListParts",
        ],
    },
    Service {
        client: "sagemaker",
        protocol: "json 1.1, `SageMaker.<Op>`",
        operations: &[
            "CreateTrainingJob",
            "DescribeTrainingJob",
            "ListTrainingJobs",
            "StopTrainingJob",
            "CreateProcessingJob",
            "DescribeProcessingJob",
            "ListProcessingJobs",
            "StopProcessingJob",
            "CreateModelPackageGroup",
            "DescribeModelPackageGroup",
            "ListModelPackageGroups",
            "DeleteModelPackageGroup",
            "CreateModelPackage",
            "DescribeModelPackage",
            "ListModelPackages",
            "UpdateModelPackage",
            "CreateModel",
            "DescribeModel",
            "ListModels",
            "DeleteModel",
            "CreateEndpointConfig",
            "DescribeEndpointConfig",
            "ListEndpointConfigs",
            "DeleteEndpointConfig",
            "CreateEndpoint",
            "UpdateEndpoint",
            "DescribeEndpoint",
            "ListEndpoints",
            "DeleteEndpoint",
            "UpdateEndpointWeightsAndCapacities",
            "AddTags",
            "ListTags",
            "DeleteTags",
            "Search",
        ],
    },
    Service {
        client: "sagemaker-runtime",
        protocol: "rest-json, `POST /endpoints/NAME/invocations`",
        operations: &["InvokeEndpoint"],
    },
    Service {
        client: "events",
        protocol: "json 1.1, `AWSEvents.<Op>`",
        operations: &[
            "PutEvents",
            "PutRule",
            "DescribeRule",
            "ListRules",
            "EnableRule",
            "DisableRule",
            "DeleteRule",
            "PutTargets",
            "RemoveTargets",
            "ListTargetsByRule",
            "ListRuleNamesByTarget",
            "TestEventPattern",
            "CreateEventBus",
            "DescribeEventBus",
            "ListEventBuses",
            "DeleteEventBus",
            "CreateArchive",
            "DescribeArchive",
            "ListArchives",
            "DeleteArchive",
            "StartReplay",
            "DescribeReplay",
            "ListReplays",
        ],
    },
    Service {
        client: "ecr",
        protocol: "json 1.1, `AmazonEC2ContainerRegistry_V20150921.<Op>`",
        operations: &[
            "GetAuthorizationToken",
            "CreateRepository",
            "DescribeRepositories",
            "DeleteRepository",
            "DescribeImages",
            "ListImages",
            "BatchGetImage",
            "BatchDeleteImage",
            "PutImageTagMutability",
        ],
    },
    Service {
        client: "logs",
        protocol: "json 1.1, `Logs_20140328.<Op>`",
        operations: &["DescribeLogGroups", "DescribeLogStreams", "GetLogEvents", "FilterLogEvents"],
    },
    Service {
        client: "lambda",
        protocol: "rest-json, `/2015-03-31/functions…`",
        operations: &[
            "CreateFunction",
            "GetFunction",
            "GetFunctionConfiguration",
            "ListFunctions",
            "UpdateFunctionCode",
            "UpdateFunctionConfiguration",
            "DeleteFunction",
            "Invoke",
            "AddPermission",
            "GetPolicy",
            "PutFunctionConcurrency",
            "GetFunctionConcurrency",
            "DeleteFunctionConcurrency",
        ],
    },
    Service { client: "sts", protocol: "query, `Action=`", operations: &["GetCallerIdentity", "AssumeRole"] },
    Service {
        client: "iam",
        protocol: "query, `Action=`",
        operations: &[
            "CreateUser",
            "GetUser",
            "ListUsers",
            "DeleteUser",
            "CreateRole",
            "GetRole",
            "ListRoles",
            "DeleteRole",
            "CreatePolicy",
            "PutUserPolicy",
            "PutRolePolicy",
            "AttachUserPolicy",
            "AttachRolePolicy",
            "DetachUserPolicy",
            "DetachRolePolicy",
            "CreateAccessKey",
            "ListAccessKeys",
        ],
    },
];

/// Whether `operation` of the service a client names `client` is implemented.
pub fn implements(client: &str, operation: &str) -> bool {
    SERVICES.iter().any(|s| s.client == client && s.operations.contains(&operation))
}

/// The table `docs/aws-api.md` holds between its `operations` markers.
pub fn markdown() -> String {
    let mut out = String::from("| client | protocol | operations |\n|---|---|---|\n");
    for service in SERVICES {
        out.push_str(&format!("| `{}` | {} | {} |\n", service.client, service.protocol, service.operations.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_hold_the_table_of_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/aws-api.md");
        let docs = std::fs::read_to_string(path).unwrap();
        let (begin, end) = ("<!-- operations:begin -->\n", "<!-- operations:end -->");
        let start = docs.find(begin).expect("docs/aws-api.md has the operations:begin marker") + begin.len();
        let stop = docs.find(end).expect("docs/aws-api.md has the operations:end marker");
        if std::env::var_os("TRAINYARD_BLESS").is_some() {
            std::fs::write(path, format!("{}{}{}", &docs[..start], markdown(), &docs[stop..])).unwrap();
            return;
        }
        assert_eq!(
            &docs[start..stop],
            markdown(),
            "docs/aws-api.md's operations table differs from the code's: TRAINYARD_BLESS=1 cargo test -p trainyard-aws"
        );
        for service in SERVICES {
            let mut seen = std::collections::BTreeSet::new();
            assert!(service.operations.iter().all(|o| seen.insert(o)), "{} lists an operation twice", service.client);
        }
    }
}
