//! Validating and compiling `Resource`/`NotResource` entries, with AWS's messages.

use crate::arn::ArnPattern;
use crate::error::{Problems, LEGACY};
use crate::glob::Glob;
use crate::json::Json;
use crate::policy::string_list;
use crate::template::Template;

/// One entry of `Resource`/`NotResource`.
#[derive(Debug, Clone)]
pub(crate) enum ResourcePattern {
    Any,
    /// Pre-compiled (no variables).
    Fixed(ArnPattern),
    /// Has variables in its resource part: compiled per request.
    Variable(Template),
}

const IAM_RESOURCE_TYPES: &[&str] = &[
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
];

pub(crate) fn parse_resources(
    raw: &Json,
    path: &str,
    variables: bool,
    problems: &mut Problems,
) -> Vec<ResourcePattern> {
    let Some(list) = string_list(raw, path, problems) else { return Vec::new() };
    let mut out = Vec::with_capacity(list.len());
    for (item_path, resource) in list {
        if let Some(pattern) = parse_resource(&resource, &item_path, variables, problems) {
            out.push(pattern);
        }
    }
    out
}

fn parse_resource(resource: &str, path: &str, variables: bool, problems: &mut Problems) -> Option<ResourcePattern> {
    if resource == "*" {
        return Some(ResourcePattern::Any);
    }
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    if parts[0] != "arn" {
        problems.push(path, format!("Resource {resource} must be in ARN format or \"*\"."));
        return None;
    }
    if parts.len() <= 2 {
        problems.push(path, "Resource vendor must be fully qualified and cannot contain regexes.");
        return None;
    }
    if parts.len() < 6 || parts[2].is_empty() {
        problems.push(path, LEGACY);
        return None;
    }
    let (partition, service, region, rest) = (parts[1], parts[2], parts[3], parts[5]);
    if !Glob::new(partition).matches(crate::PARTITION) {
        problems.push(path, format!("Partition \"{partition}\" is not valid for resource \"{resource}\"."));
        return None;
    }
    match service {
        "iam" if !region.is_empty() => {
            problems.push(path, format!("IAM resource {resource} cannot contain region information."));
            return None;
        }
        "iam" if rest != "*" && !IAM_RESOURCE_TYPES.iter().any(|t| rest.starts_with(t)) => {
            let types = IAM_RESOURCE_TYPES.join(", ");
            problems.push(path, format!("IAM resource path must either be \"*\" or start with {types}."));
            return None;
        }
        "s3" if !region.is_empty() && !rest.starts_with("accesspoint/") => {
            problems.push(path, format!("Resource {resource} can not contain region information."));
            return None;
        }
        _ => {}
    }
    let head_len = resource.len() - rest.len();
    let template = Template::with_fixed_prefix(&resource[..head_len], rest, variables);
    if template.fixed().is_some() {
        // Escapes such as `${*}` are already literal tokens here.
        let toks = template.resolve_toks(&crate::Context::new()).unwrap_or_default();
        ArnPattern::from_toks(&toks, true).map(ResourcePattern::Fixed)
    } else {
        Some(ResourcePattern::Variable(template))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(resource: &str) -> String {
        let mut problems = Problems::default();
        assert!(parse_resource(resource, "R", true, &mut problems).is_none(), "{resource} accepted");
        problems.0.remove(0).message
    }

    #[test]
    fn aws_messages() {
        assert_eq!(problem("bucket"), "Resource bucket must be in ARN format or \"*\".");
        assert_eq!(problem("arn:aws"), "Resource vendor must be fully qualified and cannot contain regexes.");
        assert_eq!(problem("arn:aws:s3::b"), LEGACY);
        assert_eq!(problem("arn:gov:s3:::b"), "Partition \"gov\" is not valid for resource \"arn:gov:s3:::b\".");
        assert!(problem("arn:aws:iam:local:000000000000:user/x").contains("cannot contain region information"));
        assert!(problem("arn:aws:iam::000000000000:bucket").starts_with("IAM resource path must either be"));
    }

    #[test]
    fn variables_only_in_the_resource_part() {
        let mut problems = Problems::default();
        let p = parse_resource("arn:aws:s3:::home/${aws:username}", "R", true, &mut problems);
        assert!(matches!(p, Some(ResourcePattern::Variable(_))));
        let p = parse_resource("arn:aws:s3:::home/${aws:username}", "R", false, &mut problems);
        assert!(matches!(p, Some(ResourcePattern::Fixed(_))));
        assert!(problems.0.is_empty());
    }
}
