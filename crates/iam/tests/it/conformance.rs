//! Runs every case of `conformance.json`: policies by layer, a request, the
//! expected outcome. Prints the name of every failing case.

use serde_json::Value;
use trainyard_iam::{evaluate, Caller, Context, NamedPolicy, Outcome, Policies, Policy, PolicyKind, Request};

const CASES: &str = include_str!("conformance.json");

fn policy(doc: &Value, kind: PolicyKind, case: &str) -> Policy {
    let text = serde_json::to_string_pretty(doc).expect("serialize");
    Policy::parse(&text, kind).unwrap_or_else(|e| panic!("{case}: policy does not parse: {e}"))
}

fn caller(raw: &Value) -> Caller {
    match raw {
        Value::String(s) if s == "root" => Caller::Root,
        Value::String(s) if s == "anonymous" => Caller::Anonymous,
        Value::Object(o) if o.contains_key("session") => Caller::AssumedRole {
            role_arn: o["role"].as_str().expect("role").into(),
            session_arn: o["session"].as_str().expect("session").into(),
        },
        Value::Object(o) if o.contains_key("user") => Caller::User { arn: o["user"].as_str().expect("user").into() },
        Value::Object(o) if o.contains_key("service") => {
            Caller::Service { name: o["service"].as_str().expect("service").into() }
        }
        other => panic!("unknown caller {other}"),
    }
}

fn context(raw: &Value) -> Context {
    let mut ctx = Context::new();
    for (key, value) in raw.as_object().expect("context object") {
        match value {
            Value::Array(items) => {
                ctx.set_multi(key, items.iter().map(|v| v.as_str().expect("string").to_string()).collect());
            }
            Value::String(s) => {
                ctx.set(key, s.as_str());
            }
            other => panic!("context value {other}"),
        }
    }
    ctx
}

fn outcome(raw: &str) -> Outcome {
    match raw {
        "Allowed" => Outcome::Allowed,
        "ImplicitlyDenied" => Outcome::ImplicitlyDenied,
        "ExplicitlyDenied" => Outcome::ExplicitlyDenied,
        other => panic!("unknown outcome {other}"),
    }
}

#[test]
fn every_documented_rule_holds() {
    let doc: Value = serde_json::from_str(CASES).expect("conformance.json");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 80, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        assert!(case["rule"].as_str().is_some_and(|r| r.contains("https://docs.aws.amazon.com/")), "{name}: rule");
        let layers = &case["policies"];
        let identity: Vec<Policy> = layers["identity"]
            .as_array()
            .map(|ps| ps.iter().map(|p| policy(p, PolicyKind::Identity, name)).collect())
            .unwrap_or_default();
        let resource_kind = if layers["resource_kind"] == "Trust" { PolicyKind::Trust } else { PolicyKind::Resource };
        let resource = layers.get("resource").map(|p| policy(p, resource_kind, name));
        let boundary = layers.get("boundary").map(|p| policy(p, PolicyKind::Boundary, name));
        let session = layers.get("session").map(|p| policy(p, PolicyKind::Session, name));
        let named: Vec<NamedPolicy> = identity
            .iter()
            .enumerate()
            .map(|(i, p)| NamedPolicy { name: ["p0", "p1", "p2"][i.min(2)], policy: p })
            .collect();
        let policies = Policies {
            identity: &named,
            resource: resource.as_ref().map(|p| NamedPolicy { name: "resource", policy: p }),
            boundary: boundary.as_ref().map(|p| NamedPolicy { name: "boundary", policy: p }),
            session: session.as_ref().map(|p| NamedPolicy { name: "session", policy: p }),
        };
        let request = &case["request"];
        let caller = caller(&request["caller"]);
        let ctx = context(&request["context"]);
        let req = Request {
            caller: &caller,
            action: request["action"].as_str().expect("action"),
            resource: request["resource"].as_str().expect("resource"),
            context: &ctx,
        };
        let decision = evaluate(&req, &policies);
        let expected = outcome(case["expected"].as_str().expect("expected"));
        if decision.outcome != expected {
            failures.push(format!("{name}: expected {expected:?}, got {decision:?}"));
        }
        // Optional: the layer that had no Allow, or the deciding statement's layer.
        if let Some(missing) = case["missing"].as_str() {
            if decision.missing.map(|l| format!("{l:?}")).as_deref() != Some(missing) {
                failures.push(format!("{name}: expected missing {missing}, got {decision:?}"));
            }
        }
        if let Some(layer) = case["deciding_layer"].as_str() {
            if decision.deciding.as_ref().map(|d| format!("{:?}", d.layer)).as_deref() != Some(layer) {
                failures.push(format!("{name}: expected deciding layer {layer}, got {decision:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
