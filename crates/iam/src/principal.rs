//! Callers and the `Principal` element of resource and trust policies.

use crate::error::{Problems, SYNTAX};
use crate::json::Json;
use crate::{ACCOUNT, PARTITION};

/// Who makes a request, as the evaluator needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The account root: `arn:aws:iam::000000000000:root`; always allowed.
    Root,
    /// An IAM user or service account: `arn:aws:iam::000000000000:user/NAME`.
    User { arn: String },
    /// A role session: the role `arn:aws:iam::…:role/R` and the session
    /// `arn:aws:sts::…:assumed-role/R/S`.
    AssumedRole { role_arn: String, session_arn: String },
    /// A service assuming a role, such as `sagemaker.amazonaws.com` (trust policies).
    Service { name: String },
    /// An unauthenticated request.
    Anonymous,
}

impl Caller {
    /// The ARN the caller is reported by (a session's ARN for a role session, the
    /// service name for a service, `anonymous` for an anonymous caller).
    pub fn arn(&self) -> String {
        match self {
            Caller::Root => format!("arn:{PARTITION}:iam::{ACCOUNT}:root"),
            Caller::User { arn } => arn.clone(),
            Caller::AssumedRole { session_arn, .. } => session_arn.clone(),
            Caller::Service { name } => name.clone(),
            Caller::Anonymous => "anonymous".into(),
        }
    }
}

/// How strongly a resource-policy principal names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Named {
    /// Not at all: the statement does not apply.
    No,
    /// Through the account: applies (for Deny), but an Allow grants nothing by itself;
    /// the identity policy must allow too.
    Account,
    /// Through the role (a session's role ARN, or `*` for a session): an Allow grants,
    /// still limited by the boundary and the session policy.
    Role,
    /// The user, the session, the service or `*` itself: an Allow grants outright.
    Direct,
}

/// One entry of `{"AWS": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AwsPrincipal {
    Everyone,
    /// An account ID or its root ARN.
    Account(String),
    /// A user, role or session ARN (compared ASCII-case-insensitively).
    Arn(String),
}

/// A compiled `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalSet {
    Everyone,
    Listed { aws: Vec<AwsPrincipal>, services: Vec<String> },
}

impl PrincipalSet {
    /// Parses a `Principal` value; wildcards other than a whole `*` are invalid.
    pub(crate) fn parse(raw: &Json, path: &str, problems: &mut Problems) -> PrincipalSet {
        let members = match raw {
            Json::String(s) if s == "*" => return PrincipalSet::Everyone,
            Json::Object(members) => members,
            _ => {
                problems.push(path, SYNTAX);
                return PrincipalSet::Everyone;
            }
        };
        crate::policy::check_duplicates(members, path, problems);
        let (mut aws, mut services) = (Vec::new(), Vec::new());
        for (kind, values) in members {
            let kind_path = format!("{path}.{kind}");
            let Some(values) = crate::policy::string_list(values, &kind_path, problems) else { continue };
            for (value_path, value) in values {
                match kind.as_str() {
                    "AWS" => match aws_principal(&value) {
                        Some(p) => aws.push(p),
                        None => problems.push(value_path, format!("Invalid principal in policy: \"AWS\":\"{value}\"")),
                    },
                    "Service" if value.contains(['*', '?']) => {
                        problems.push(value_path, format!("Invalid principal in policy: \"Service\":\"{value}\""))
                    }
                    "Service" => services.push(value.to_ascii_lowercase()),
                    // Valid, but no trainyard caller is federated or a canonical user.
                    "Federated" | "CanonicalUser" => {}
                    _ => problems.push(kind_path.clone(), SYNTAX),
                }
            }
        }
        PrincipalSet::Listed { aws, services }
    }

    /// How this principal set names `caller`.
    pub(crate) fn names(&self, caller: &Caller) -> Named {
        let (aws, services) = match self {
            PrincipalSet::Everyone => return everyone(caller),
            PrincipalSet::Listed { aws, services } => (aws, services),
        };
        let mut best = Named::No;
        for p in aws {
            let named = match (p, caller) {
                (AwsPrincipal::Everyone, _) => everyone(caller),
                (AwsPrincipal::Account(a), Caller::User { .. } | Caller::AssumedRole { .. }) if a == ACCOUNT => {
                    Named::Account
                }
                (AwsPrincipal::Arn(a), Caller::User { arn }) if a.eq_ignore_ascii_case(arn) => Named::Direct,
                (AwsPrincipal::Arn(a), Caller::AssumedRole { session_arn, .. })
                    if a.eq_ignore_ascii_case(session_arn) =>
                {
                    Named::Direct
                }
                (AwsPrincipal::Arn(a), Caller::AssumedRole { role_arn, .. }) if a.eq_ignore_ascii_case(role_arn) => {
                    Named::Role
                }
                _ => Named::No,
            };
            best = best.max(named);
        }
        if let Caller::Service { name } = caller {
            if services.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                best = Named::Direct;
            }
        }
        best
    }
}

/// `*`: everyone, anonymous included. For a role session it counts as naming the
/// role (boundary and session policy still apply), the conservative reading.
fn everyone(caller: &Caller) -> Named {
    match caller {
        Caller::AssumedRole { .. } => Named::Role,
        _ => Named::Direct,
    }
}

/// `*`, a 12-digit account ID, or an IAM/STS ARN without wildcards.
fn aws_principal(value: &str) -> Option<AwsPrincipal> {
    if value == "*" {
        return Some(AwsPrincipal::Everyone);
    }
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(AwsPrincipal::Account(value.into()));
    }
    if value.contains(['*', '?']) {
        return None;
    }
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    match parts[..] {
        ["arn", _, "iam", "", account, "root"] => Some(AwsPrincipal::Account(account.into())),
        ["arn", _, "iam" | "sts", "", _, resource] if !resource.is_empty() => Some(AwsPrincipal::Arn(value.into())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(json: &str) -> PrincipalSet {
        let mut problems = Problems::default();
        let p = PrincipalSet::parse(&Json::parse(json).unwrap(), "Principal", &mut problems);
        assert!(problems.0.is_empty(), "{:?}", problems.0);
        p
    }

    #[test]
    fn naming_levels() {
        let role = "arn:aws:iam::000000000000:role/r";
        let session = Caller::AssumedRole {
            role_arn: role.into(),
            session_arn: "arn:aws:sts::000000000000:assumed-role/r/s".into(),
        };
        assert_eq!(set(&format!(r#"{{"AWS":"{role}"}}"#)).names(&session), Named::Role);
        assert_eq!(set(r#"{"AWS":"arn:aws:sts::000000000000:assumed-role/r/s"}"#).names(&session), Named::Direct);
        assert_eq!(set(r#"{"AWS":"000000000000"}"#).names(&session), Named::Account);
        assert_eq!(set(r#"{"AWS":"111111111111"}"#).names(&session), Named::No);
        assert_eq!(
            set(r#"{"Service":"lambda.amazonaws.com"}"#)
                .names(&Caller::Service { name: "lambda.amazonaws.com".into() }),
            Named::Direct
        );
        assert_eq!(set(r#""*""#).names(&Caller::Anonymous), Named::Direct);
    }

    #[test]
    fn wildcards_in_arns_are_invalid() {
        let mut problems = Problems::default();
        PrincipalSet::parse(
            &Json::parse(r#"{"AWS":["arn:aws:iam::000000000000:user/*"]}"#).unwrap(),
            "P",
            &mut problems,
        );
        assert_eq!(problems.0[0].path, "P.AWS[0]");
    }
}
