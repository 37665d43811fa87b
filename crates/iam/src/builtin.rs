//! Built-in managed policies (`arn:aws:iam::aws:policy/NAME`).

/// `(name, ARN, document)` of every built-in managed policy; all of them parse as
/// identity policies.
pub fn builtin_policies() -> Vec<(&'static str, String, &'static str)> {
    BUILTIN.iter().map(|(name, doc)| (*name, format!("arn:aws:iam::aws:policy/{name}"), *doc)).collect()
}

const BUILTIN: &[(&str, &str)] = &[
    ("AdministratorAccess", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#),
    (
        "ReadOnlyAccess",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[
"sagemaker:Describe*","sagemaker:List*","sagemaker:Get*",
"s3:Get*","s3:List*","s3:Head*",
"ecr:BatchGet*","ecr:Describe*","ecr:List*","ecr:Get*","ecr:BatchCheck*",
"events:Describe*","events:List*","events:Test*",
"lambda:Get*","lambda:List*",
"iam:Get*","iam:List*",
"trainyard:Describe*","trainyard:List*","trainyard:Get*"],"Resource":"*"}]}"#,
    ),
    (
        "AmazonSageMakerFullAccess",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sagemaker:*","Resource":"*"}]}"#,
    ),
    (
        "AmazonS3FullAccess",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
    ),
    (
        "AmazonEC2ContainerRegistryFullAccess",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#,
    ),
    (
        "AmazonEventBridgeFullAccess",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"events:*","Resource":"*"}]}"#,
    ),
    (
        "AWSLambda_FullAccess",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:*","Resource":"*"}]}"#,
    ),
    (
        "IAMFullAccess",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","sts:*"],"Resource":"*"}]}"#,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Policy, PolicyKind};

    #[test]
    fn all_parse() {
        let all = builtin_policies();
        assert!(all.len() >= 8);
        for (name, arn, doc) in all {
            assert!(arn.ends_with(name));
            Policy::parse(doc, PolicyKind::Identity).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
