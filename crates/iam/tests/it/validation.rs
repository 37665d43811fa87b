//! The validation fixture (`validation.json`): invalid documents with the problems
//! they must report (every one, with its path), and valid documents that must parse.

use serde_json::Value;
use trainyard_iam::{Policy, PolicyKind, PolicyProblem, MAX_POLICY_CHARS};

const FIXTURE: &str = include_str!("validation.json");

fn kind(case: &Value) -> PolicyKind {
    match case["kind"].as_str().unwrap_or("Identity") {
        "Identity" => PolicyKind::Identity,
        "Resource" => PolicyKind::Resource,
        "Trust" => PolicyKind::Trust,
        "Boundary" => PolicyKind::Boundary,
        "Session" => PolicyKind::Session,
        other => panic!("kind {other}"),
    }
}

#[test]
fn invalid_documents_report_their_problems() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("validation.json");
    let mut failures = Vec::new();
    let cases = fixture["invalid"].as_array().expect("invalid");
    for case in cases {
        let source = case["source"].as_str().expect("source");
        let text = case["text"].as_str().expect("text");
        let problems = match Policy::parse(text, kind(case)) {
            Ok(_) => {
                failures.push(format!("{source}: parsed, expected an error"));
                continue;
            }
            Err(e) => e.0,
        };
        if let Some(expected) = case.get("problems").and_then(Value::as_array) {
            let expected: Vec<PolicyProblem> = expected
                .iter()
                .map(|p| PolicyProblem {
                    path: p["path"].as_str().expect("path").into(),
                    message: p["message"].as_str().expect("message").into(),
                })
                .collect();
            if problems != expected {
                failures.push(format!("{source}: expected {expected:?}\n    got {problems:?}"));
            }
        } else {
            let message = case["message"].as_str().expect("message");
            if !problems.iter().any(|p| p.message == message) {
                failures.push(format!("{source}: no problem says {message:?}; got {problems:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn valid_documents_parse() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("validation.json");
    let mut failures = Vec::new();
    let cases = fixture["valid"].as_array().expect("valid");
    for case in cases {
        let text = case["text"].as_str().expect("text");
        if let Err(e) = Policy::parse(text, kind(case)) {
            failures.push(format!("{}: {e}", case["source"]));
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn size_limit_ignores_whitespace() {
    let statement = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/k"}"#;
    let mut doc = String::from(r#"{"Version":"2012-10-17","Statement":["#);
    while doc.len() < MAX_POLICY_CHARS {
        doc.push_str(statement);
        doc.push(',');
    }
    doc.push_str(statement);
    doc.push_str("]}");
    let errors = Policy::parse(&doc, PolicyKind::Identity).expect_err("too long");
    assert_eq!(errors.0[0].path, "");
    let spaced = doc.replace(',', ",                ");
    let small = format!(r#"{{"Version":"2012-10-17",{}"Statement":{statement}}}"#, " ".repeat(20_000));
    assert!(Policy::parse(&small, PolicyKind::Identity).is_ok());
    assert_eq!(Policy::parse(&spaced, PolicyKind::Identity).expect_err("too long").0[0].path, "");
}
