//! Decision latency of [`evaluate`] for a caller with 10 and with 1 000 attached
//! policies of realistic shape: each allows a service's actions on its own team's
//! resources (ARNs with wildcards), one in three has a condition, one in ten has a
//! Deny with a condition. The request either matches only the last policy
//! (`match_last`: every Deny is checked, then every Allow up to the end) or matches
//! nothing (`no_match`).
//!
//! Before criterion runs, a manual loop times 20 000 single decisions per setup and
//! prints p50/p99/max (criterion reports means and medians only).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-iam cargo bench -p trainyard-iam --bench decide`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use trainyard_iam::{evaluate, Caller, Context, NamedPolicy, Outcome, Policies, Policy, PolicyKind, Request};

const SERVICES: &[(&str, &str, &[&str])] = &[
    ("s3", "arn:aws:s3:::bucket-{i}/*", &["s3:Get*", "s3:List*", "s3:PutObject"]),
    (
        "sagemaker",
        "arn:aws:sagemaker:local:000000000000:training-job/team-{i}-*",
        &["sagemaker:Describe*", "sagemaker:CreateTrainingJob"],
    ),
    (
        "ecr",
        "arn:aws:ecr:*:000000000000:repository/team-{i}/*",
        &["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:Put*"],
    ),
    ("lambda", "arn:aws:lambda:local:000000000000:function:team-{i}-*", &["lambda:InvokeFunction", "lambda:Get*"]),
    ("events", "arn:aws:events:local:000000000000:rule/team-{i}/*", &["events:PutRule", "events:Describe*"]),
];

/// Policy number `i`: realistic, deterministic, and matching the `match_last` request
/// only when `i` is the last one.
fn policy_text(i: usize) -> String {
    let (_, resource, actions) = SERVICES[i % SERVICES.len()];
    let resource = resource.replace("{i}", &i.to_string());
    let mut statements = vec![format!(
        r#"{{"Sid":"Team{i}","Effect":"Allow","Action":{actions:?},"Resource":["{resource}","{resource}/archive/*"]}}"#
    )];
    if i % 3 == 0 {
        statements.push(format!(
            r#"{{"Effect":"Allow","Action":"sagemaker:List*","Resource":"*","Condition":{{"StringEquals":{{"aws:PrincipalTag/team":"team-{i}"}},"IpAddress":{{"aws:SourceIp":["10.{}.0.0/16","192.168.0.0/24"]}}}}}}"#,
            i % 256
        ));
    }
    if i % 10 == 0 {
        statements.push(format!(
            r#"{{"Effect":"Deny","Action":["s3:DeleteObject","s3:PutBucketPolicy"],"Resource":"arn:aws:s3:::prod-{i}/*","Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}"#
        ));
    }
    format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","))
}

struct Setup {
    policies: Vec<Policy>,
    names: Vec<String>,
    caller: Caller,
    context: Context,
}

impl Setup {
    fn new(count: usize) -> Setup {
        let policies: Vec<Policy> = (0..count)
            .map(|i| Policy::parse(&policy_text(i), PolicyKind::Identity).unwrap_or_else(|e| panic!("policy {i}: {e}")))
            .collect();
        let names = (0..count).map(|i| format!("arn:aws:iam::000000000000:policy/team-{i}")).collect();
        let mut context = Context::new();
        context
            .set("aws:SourceIp", "172.16.4.2")
            .set("aws:SecureTransport", "true")
            .set("aws:PrincipalTag/team", "team-x")
            .set("aws:username", "alice")
            .set("aws:CurrentTime", "2026-12-06T12:00:00Z");
        Setup { policies, names, caller: Caller::User { arn: "arn:aws:iam::000000000000:user/alice".into() }, context }
    }

    /// Action and resource of a request matching only the last policy (`last`), or none at all.
    fn request(&self, last: bool) -> (&'static str, String) {
        let i = self.policies.len() - 1;
        let resource = match (last, SERVICES[i % SERVICES.len()].0) {
            (true, "s3") => format!("arn:aws:s3:::bucket-{i}/data/x.csv"),
            (true, "sagemaker") => format!("arn:aws:sagemaker:local:000000000000:training-job/team-{i}-run"),
            (true, "ecr") => format!("arn:aws:ecr:local:000000000000:repository/team-{i}/app"),
            (true, "lambda") => format!("arn:aws:lambda:local:000000000000:function:team-{i}-f"),
            (true, _) => format!("arn:aws:events:local:000000000000:rule/team-{i}/nightly"),
            (false, _) => "arn:aws:s3:::nowhere/x".to_string(),
        };
        let action = match SERVICES[i % SERVICES.len()].0 {
            "s3" => "s3:GetObject",
            "sagemaker" => "sagemaker:DescribeTrainingJob",
            "ecr" => "ecr:BatchGetImage",
            "lambda" => "lambda:InvokeFunction",
            _ => "events:PutRule",
        };
        (action, resource)
    }

    fn decide(&self, named: &[NamedPolicy], (action, resource): &(&str, String)) -> Outcome {
        let request = Request { caller: &self.caller, action, resource, context: &self.context };
        evaluate(&request, &Policies { identity: named, ..Policies::default() }).outcome
    }

    fn named(&self) -> Vec<NamedPolicy<'_>> {
        self.policies.iter().zip(&self.names).map(|(policy, name)| NamedPolicy { name, policy }).collect()
    }
}

fn percentiles(count: usize, last: bool) {
    let setup = Setup::new(count);
    let named = setup.named();
    let expected = if last { Outcome::Allowed } else { Outcome::ImplicitlyDenied };
    let request = setup.request(last);
    assert_eq!(setup.decide(&named, &request), expected);
    let mut samples: Vec<Duration> = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let start = Instant::now();
        black_box(setup.decide(black_box(&named), &request));
        samples.push(start.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "decide/{count}_policies/{}: p50 {:?}  p99 {:?}  max {:?}  (20 000 decisions)",
        if last { "match_last" } else { "no_match" },
        at(0.50),
        at(0.99),
        samples[samples.len() - 1]
    );
}

fn bench(c: &mut Criterion) {
    for count in [10, 1_000] {
        let setup = Setup::new(count);
        let named = setup.named();
        let (hit, miss) = (setup.request(true), setup.request(false));
        c.bench_function(&format!("decide/{count}_policies/match_last"), |b| {
            b.iter(|| setup.decide(black_box(&named), &hit))
        });
        c.bench_function(&format!("decide/{count}_policies/no_match"), |b| {
            b.iter(|| setup.decide(black_box(&named), &miss))
        });
    }
    c.bench_function("parse/policy", |b| {
        let text = policy_text(30);
        b.iter(|| Policy::parse(black_box(&text), PolicyKind::Identity).is_ok())
    });
}

criterion_group!(benches, bench);

fn main() {
    for count in [10, 1_000] {
        percentiles(count, true);
        percentiles(count, false);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
