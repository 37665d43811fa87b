//! Functions and their invocations: round trips, what may be deleted, log tails.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use trainyard_events::{InputShape, RetryPolicy};
use trainyard_store::{from_millis, Bus, Destination, Error, Function, LambdaConfig, NewInvocation, Rule, Target};

use crate::backends::conformance;

const T0: i64 = 1_700_000_000_123;

fn at(millis: i64) -> DateTime<Utc> {
    from_millis(millis)
}

fn function(name: &str) -> Function {
    Function {
        function_name: name.into(),
        function_arn: format!("arn:aws:lambda:us-east-1:0:function:{name}"),
        command: "echo 'hi' \"there\" ü".into(),
        environment: BTreeMap::from([("KEY".to_string(), "välue=1".to_string()), ("EMPTY".into(), String::new())]),
        timeout: 30,
        description: "a function ✓".into(),
        creation_time: at(T0),
        role: None,
        lambda: None,
    }
}

fn lambda() -> LambdaConfig {
    LambdaConfig {
        runtime: "python3.12".into(),
        handler: "app.handler".into(),
        code_sha256: "q83vEjRWeJA=".into(),
        code_size: 5_000_000_000,
        code_dir: "functions/code/ü".into(),
        memory_size: 128,
        reserved_concurrency: Some(2),
        last_modified: at(T0 + 5),
    }
}

fn assert_same(got: &Function, want: &Function) {
    assert_eq!(
        (&got.function_name, &got.function_arn, &got.command),
        (&want.function_name, &want.function_arn, &want.command)
    );
    assert_eq!(got.environment, want.environment);
    assert_eq!(
        (got.timeout, &got.description, got.creation_time),
        (want.timeout, &want.description, want.creation_time)
    );
    assert_eq!(got.role, want.role);
    assert_eq!(got.lambda, want.lambda);
}

fn invocation(function: &str, n: i64, logs: &str) -> NewInvocation {
    NewInvocation {
        function: function.into(),
        event_id: (n % 2 == 0).then(|| format!("event-{n}")),
        started: at(T0 + n),
        duration_ms: n * 10,
        outcome: if n % 2 == 0 { "succeeded".into() } else { "failed".into() },
        result: (n % 2 == 0).then(|| format!(r#"{{"n":{n},"ü":"✓"}}"#)),
        logs: logs.into(),
    }
}

conformance! {
async fn functions_round_trip_update_and_list_in_order(store) {
    let command = function("fn-ü");
    let with_lambda = Function {
        role: Some("arn:aws:iam::0:role/runner".into()),
        lambda: Some(lambda()),
        timeout: u32::MAX,
        environment: BTreeMap::new(),
        ..function("Lambda")
    };
    store.create_function(&command).await.unwrap();
    store.create_function(&with_lambda).await.unwrap();
    store.create_function(&function("a-b")).await.unwrap();
    assert!(matches!(store.create_function(&function("fn-ü")).await, Err(Error::AlreadyExists { .. })));
    assert_same(&store.get_function("fn-ü").await.unwrap(), &command);
    assert_same(&store.get_function("Lambda").await.unwrap(), &with_lambda);
    assert!(matches!(store.get_function("lambda").await, Err(Error::NotFound { .. })));
    let names: Vec<String> = store.list_functions().await.unwrap().into_iter().map(|f| f.function_name).collect();
    assert_eq!(names, vec!["Lambda", "a-b", "fn-ü"]);

    // An update replaces the definition; the name, ARN and creation time stay.
    let updated = Function {
        function_arn: "ignored".into(),
        creation_time: at(0),
        command: "true".into(),
        environment: BTreeMap::from([("NEW".to_string(), "1".to_string())]),
        timeout: 1,
        description: String::new(),
        role: Some("arn:aws:iam::0:role/r".into()),
        lambda: Some(LambdaConfig { reserved_concurrency: None, ..lambda() }),
        ..command.clone()
    };
    store.update_function(&updated).await.unwrap();
    let want = Function { function_arn: command.function_arn.clone(), creation_time: command.creation_time, ..updated.clone() };
    assert_same(&store.get_function("fn-ü").await.unwrap(), &want);
    // And back to a command function without a role.
    store.update_function(&command).await.unwrap();
    assert_same(&store.get_function("fn-ü").await.unwrap(), &command);
    assert!(matches!(store.update_function(&function("nope")).await, Err(Error::NotFound { .. })));
    assert!(matches!(store.get_function("nope").await, Err(Error::NotFound { .. })));
}

async fn a_function_is_deleted_only_when_no_target_refers_to_it(store) {
    store.create_function(&function("fn")).await.unwrap();
    store.create_function(&function("other")).await.unwrap();
    let now = at(T0);
    store.create_bus(&Bus { name: "default".into(), arn: "arn:bus".into(), creation_time: now }).await.unwrap();
    let rule = Rule {
        name: "r".into(),
        arn: "arn:r".into(),
        event_bus_name: "default".into(),
        event_pattern: Some("{}".into()),
        schedule_expression: None,
        state: "ENABLED".into(),
        description: String::new(),
        next_fire_time: None,
        creation_time: now,
    };
    store.create_rule(&rule).await.unwrap();
    let target = Target {
        id: "t".into(),
        rule: "r".into(),
        event_bus_name: "default".into(),
        destination: Destination::Function { name: "fn".into() },
        input: InputShape::default(),
        retry_policy: RetryPolicy::default(),
    };
    store.put_target(&target, 5, now).await.unwrap();
    // An HTTP target whose URL happens to be the name does not count.
    let http = Target {
        id: "h".into(),
        destination: Destination::Http { url: "other".into(), headers: BTreeMap::new() },
        ..target.clone()
    };
    store.put_target(&http, 5, now).await.unwrap();
    assert!(matches!(store.delete_function("fn").await, Err(Error::InUse { .. })));
    store.get_function("fn").await.unwrap();
    store.delete_function("other").await.unwrap();
    store.remove_target("default", "r", "t").await.unwrap();
    store.delete_function("fn").await.unwrap();
    assert!(matches!(store.get_function("fn").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_function("fn").await, Err(Error::NotFound { .. })));
    assert!(store.list_functions().await.unwrap().is_empty());
}

async fn invocations_round_trip_newest_last_with_log_tails(store) {
    store.record_invocations(&[invocation("fn", 0, "line 1\nline ü\n"), invocation("fn", 1, "")]).await.unwrap();
    store.record_invocations(&[]).await.unwrap();
    store.record_invocations(&[invocation("other", 2, "x"), invocation("fn", 2, "z")]).await.unwrap();
    let list = store.list_invocations("fn", 10).await.unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.windows(2).all(|w| w[0].id < w[1].id), "newest last");
    let first = &list[0];
    assert_eq!((first.function_name.as_str(), first.event_id.as_deref()), ("fn", Some("event-0")));
    assert_eq!((first.start_time, first.duration_ms, first.outcome.as_str()), (at(T0), 0, "succeeded"));
    assert_eq!((first.result.as_deref(), first.logs.as_str()), (Some(r#"{"n":0,"ü":"✓"}"#), "line 1\nline ü\n"));
    let second = &list[1];
    assert_eq!((second.event_id.as_deref(), second.result.as_deref(), second.logs.as_str()), (None, None, ""));
    assert_eq!((second.start_time, second.duration_ms, second.outcome.as_str()), (at(T0 + 1), 10, "failed"));
    // The limit keeps the most recent.
    let recent = store.list_invocations("fn", 2).await.unwrap();
    assert_eq!(recent.iter().map(|i| i.id).collect::<Vec<_>>(), vec![list[1].id, list[2].id]);
    assert_eq!(store.list_invocations("fn", 0).await.unwrap().len(), 1);
    assert_eq!(store.list_invocations("other", 10).await.unwrap().len(), 1);
    assert!(store.list_invocations("nope", 10).await.unwrap().is_empty());

    // Long output keeps its last 64 KiB, cut on a character boundary.
    let long = format!("{}{}", "é".repeat(40_000), "the end");
    let mut big = invocation("big", 2, &long);
    big.result = Some(long.clone());
    store.record_invocations(&[big]).await.unwrap();
    let got = store.list_invocations("big", 1).await.unwrap().remove(0);
    assert!(got.logs.len() <= 64 * 1024 && got.logs.len() > 64 * 1024 - 4);
    assert!(long.ends_with(&got.logs) && got.logs.ends_with("the end"));
    assert_eq!(got.result.as_deref(), Some(got.logs.as_str()));

    // Raw process output may hold NUL bytes; recording it must not fail the batch.
    store.record_invocations(&[invocation("nul", 2, "before\0after"), invocation("nul", 3, "ok")]).await.unwrap();
    let got = store.list_invocations("nul", 10).await.unwrap();
    assert_eq!(got.len(), 2);
    assert!(got[0].logs.starts_with("before") && got[0].logs.ends_with("after"));
    assert_eq!(got[0].logs.chars().count(), "before".len() + 1 + "after".len());
}
}
