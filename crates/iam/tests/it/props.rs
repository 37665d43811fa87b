//! Property tests: the evaluator's monotonicity (an explicit deny always wins, an
//! added Allow never takes an allow away, an added Deny never grants), the glob
//! matcher against a recursive reference, and no panics on arbitrary input.

use proptest::prelude::*;
use serde_json::{json, Value};
use trainyard_iam::{
    action_matches, arn_matches, evaluate, Caller, Context, Decision, NamedPolicy, Outcome, Policies, Policy,
    PolicyKind, Request,
};

const USER: &str = "arn:aws:iam::000000000000:user/alice";
const ROLE: &str = "arn:aws:iam::000000000000:role/trainer";
const SESSION: &str = "arn:aws:sts::000000000000:assumed-role/trainer/s1";

const ACTIONS: &[&str] = &["s3:GetObject", "s3:PutObject", "iam:CreateUser", "sagemaker:DescribeTrainingJob"];
const RESOURCES: &[&str] = &["arn:aws:s3:::bucket/a/x", "arn:aws:s3:::other/k", "arn:aws:s3:::home/alice/f", "*"];
const ACTION_PATTERNS: &[&str] =
    &["s3:GetObject", "s3:*", "s3:Get*", "iam:*", "*", "sagemaker:Describe*", "S3:put?bject"];
const RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "arn:aws:s3:::bucket/*",
    "arn:aws:s3:::bucket/a/*",
    "arn:aws:s3:::other/*",
    "arn:aws:s3:::home/${aws:username}/*",
    "arn:aws:sagemaker:*:*:training-job/*",
];

fn conditions() -> Vec<Value> {
    vec![
        json!({"StringEquals": {"aws:PrincipalTag/team": "ml"}}),
        json!({"StringNotEquals": {"aws:PrincipalTag/team": "ml"}}),
        json!({"Bool": {"aws:SecureTransport": "true"}}),
        json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        json!({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}),
        json!({"ForAllValues:StringLike": {"aws:TagKeys": ["e*"]}}),
        json!({"NumericLessThanIfExists": {"s3:max-keys": "10"}}),
        json!({"Null": {"aws:TokenIssueTime": "true"}}),
    ]
}

fn principals() -> Vec<Value> {
    vec![
        json!("*"),
        json!({"AWS": USER}),
        json!({"AWS": ROLE}),
        json!({"AWS": SESSION}),
        json!({"AWS": "000000000000"}),
    ]
}

/// One statement (mostly Allow, mostly positive forms); `principal` for resource policies.
fn statement(principal: bool) -> impl Strategy<Value = Value> {
    (
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.2),
        prop::sample::subsequence(ACTION_PATTERNS, 1..3),
        prop::bool::weighted(0.2),
        prop::sample::subsequence(RESOURCE_PATTERNS, 1..3),
        prop::option::of(prop::sample::select(conditions())),
        prop::sample::select(principals()),
    )
        .prop_map(move |(allow, not_action, actions, not_resource, resources, condition, who)| {
            let mut s = json!({"Effect": if allow { "Allow" } else { "Deny" }});
            s[if not_action { "NotAction" } else { "Action" }] = json!(actions);
            s[if not_resource { "NotResource" } else { "Resource" }] = json!(resources);
            if let Some(c) = condition {
                s["Condition"] = c;
            }
            if principal {
                s["Principal"] = who;
            }
            s
        })
}

fn statements(principal: bool) -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(statement(principal), 1..4)
}

#[derive(Debug, Clone)]
struct Scenario {
    identity: Vec<Vec<Value>>,
    resource: Option<Vec<Value>>,
    boundary: Option<Vec<Value>>,
    session: Option<Vec<Value>>,
    caller: Caller,
    action: &'static str,
    resource_arn: &'static str,
    context: Vec<(&'static str, &'static str)>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let callers = vec![
        Caller::User { arn: USER.into() },
        Caller::AssumedRole { role_arn: ROLE.into(), session_arn: SESSION.into() },
        Caller::Anonymous,
        Caller::Service { name: "events.amazonaws.com".into() },
    ];
    let context_entries = vec![
        ("aws:PrincipalTag/team", "ml"),
        ("aws:username", "alice"),
        ("aws:SecureTransport", "true"),
        ("aws:SourceIp", "10.1.2.3"),
        ("aws:TokenIssueTime", "2026-01-01T00:00:00Z"),
    ];
    (
        prop::collection::vec(statements(false), 0..3),
        prop::option::of(statements(true)),
        prop::option::weighted(0.3, statements(false)),
        prop::option::weighted(0.3, statements(false)),
        prop::sample::select(callers),
        prop::sample::select(ACTIONS),
        prop::sample::select(RESOURCES),
        prop::sample::subsequence(context_entries, 0..5),
    )
        .prop_map(|(identity, resource, boundary, session, caller, action, resource_arn, context)| Scenario {
            identity,
            resource,
            boundary,
            session,
            caller,
            action,
            resource_arn,
            context,
        })
}

fn parse(statements: &[Value], kind: PolicyKind) -> Policy {
    let doc = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    Policy::parse(&doc, kind).unwrap_or_else(|e| panic!("generated policy {doc}: {e}"))
}

fn decide(s: &Scenario) -> Decision {
    let identity: Vec<Policy> = s.identity.iter().map(|p| parse(p, PolicyKind::Identity)).collect();
    let named: Vec<NamedPolicy> = identity.iter().map(|p| NamedPolicy { name: "identity", policy: p }).collect();
    let resource = s.resource.as_deref().map(|p| parse(p, PolicyKind::Resource));
    let boundary = s.boundary.as_deref().map(|p| parse(p, PolicyKind::Boundary));
    let session = s.session.as_deref().map(|p| parse(p, PolicyKind::Session));
    let mut ctx = Context::new();
    for (k, v) in &s.context {
        ctx.set(k, *v);
    }
    ctx.set_multi("aws:TagKeys", vec!["env".into()]);
    let policies = Policies {
        identity: &named,
        resource: resource.as_ref().map(|p| NamedPolicy { name: "resource", policy: p }),
        boundary: boundary.as_ref().map(|p| NamedPolicy { name: "boundary", policy: p }),
        session: session.as_ref().map(|p| NamedPolicy { name: "session", policy: p }),
    };
    let request = Request { caller: &s.caller, action: s.action, resource: s.resource_arn, context: &ctx };
    evaluate(&request, &policies)
}

/// Adds `statement` to layer `layer % 4` (creating the policy if absent).
fn add(s: &Scenario, layer: usize, statement: Value) -> Scenario {
    let mut s = s.clone();
    let target = match layer % 4 {
        0 => {
            s.identity.push(Vec::new());
            s.identity.last_mut()
        }
        1 => Some(s.resource.get_or_insert_with(Vec::new)),
        2 => Some(s.boundary.get_or_insert_with(Vec::new)),
        _ => Some(s.session.get_or_insert_with(Vec::new)),
    };
    target.expect("layer").push(statement);
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn explicit_deny_always_wins(s in scenario(), layer in 0usize..4) {
        let mut deny = json!({"Effect": "Deny", "Action": s.action, "Resource": "*"});
        if layer % 4 == 1 {
            deny["Principal"] = json!("*");
        }
        let denied = add(&s, layer, deny);
        prop_assert_eq!(decide(&denied).outcome, Outcome::ExplicitlyDenied);
    }

    #[test]
    fn an_added_identity_allow_never_denies(s in scenario(), extra in statement(false)) {
        let mut allow = extra;
        allow["Effect"] = json!("Allow");
        if decide(&s).outcome == Outcome::Allowed {
            prop_assert_eq!(decide(&add(&s, 0, allow)).outcome, Outcome::Allowed);
        }
    }

    #[test]
    fn an_added_deny_never_allows(s in scenario(), extra in statement(true), layer in 0usize..4) {
        let mut deny = extra;
        deny["Effect"] = json!("Deny");
        if layer % 4 != 1 {
            deny.as_object_mut().expect("object").remove("Principal");
        }
        if decide(&s).outcome != Outcome::Allowed {
            prop_assert_ne!(decide(&add(&s, layer, deny)).outcome, Outcome::Allowed);
        }
    }

    #[test]
    fn glob_agrees_with_reference(pattern in "[ab*?]{0,8}", text in "[abé]{0,8}") {
        let expected = reference(&pattern.chars().collect::<Vec<_>>(), &text.chars().collect::<Vec<_>>());
        prop_assert_eq!(action_matches(&pattern, &text), expected);
        let arn = format!("arn:aws:s3:::{text}");
        prop_assert_eq!(arn_matches(&format!("arn:aws:s3:::{pattern}"), &arn), expected);
    }

    #[test]
    fn matchers_never_panic(pattern in ".{0,40}", text in ".{0,40}") {
        let _ = action_matches(&pattern, &text);
        let _ = arn_matches(&pattern, &text);
    }

    #[test]
    fn parse_never_panics(text in ".{0,200}") {
        let _ = Policy::parse(&text, PolicyKind::Identity);
    }

    #[test]
    fn parse_never_panics_on_policy_like_text(
        parts in prop::collection::vec(prop::sample::select(vec![
            "{", "}", "[", "]", ",", ":", "\"Version\"", "\"2012-10-17\"", "\"Statement\"", "\"Effect\"",
            "\"Allow\"", "\"Action\"", "\"s3:*\"", "\"Resource\"", "\"arn:aws:s3:::b/${aws:username}\"",
            "\"Condition\"", "\"StringLike\"", "\"k\"", "\"Principal\"", "\"*\"", "1", "null", "true",
        ]), 0..60),
        kind in prop::sample::select(vec![PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust]),
    ) {
        let _ = Policy::parse(&parts.concat(), kind);
    }
}

/// The textbook recursive wildcard matcher, as the reference.
fn reference(p: &[char], t: &[char]) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some('*'), _) => reference(&p[1..], t) || (!t.is_empty() && reference(p, &t[1..])),
        (Some(_), None) => false,
        (Some('?'), Some(_)) => reference(&p[1..], &t[1..]),
        (Some(c), Some(d)) => c.eq_ignore_ascii_case(d) && reference(&p[1..], &t[1..]),
    }
}
