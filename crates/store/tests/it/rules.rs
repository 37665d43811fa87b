//! Buses, rules and targets: uniqueness, ordering, the target limit and what may be deleted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use trainyard_events::{InputShape, InputTransformer, RetryPolicy};
use trainyard_store::{from_millis, Archive, Bus, Destination, Error, Rule, Store, Target};

use crate::backends::conformance;

const T0: i64 = 1_700_000_000_123;

fn at(millis: i64) -> DateTime<Utc> {
    from_millis(millis)
}

fn bus(name: &str) -> Bus {
    Bus { name: name.into(), arn: format!("arn:aws:events:us-east-1:0:event-bus/{name}"), creation_time: at(T0) }
}

fn rule(bus: &str, name: &str) -> Rule {
    Rule {
        name: name.into(),
        arn: format!("arn:aws:events:us-east-1:0:rule/{bus}/{name}"),
        event_bus_name: bus.into(),
        event_pattern: Some(r#"{"source":["ü"]}"#.into()),
        schedule_expression: None,
        state: "ENABLED".into(),
        description: "a rule ✓ with 'quotes'".into(),
        next_fire_time: None,
        creation_time: at(T0 + 1),
    }
}

fn http_target(bus: &str, rule: &str, id: &str) -> Target {
    let headers = BTreeMap::from([("X-Ünïcode".to_string(), "välue".to_string()), ("A".into(), "b".into())]);
    Target {
        id: id.into(),
        rule: rule.into(),
        event_bus_name: bus.into(),
        destination: Destination::Http { url: "http://127.0.0.1:9/hook?a=1&b=ü".into(), headers },
        input: InputShape {
            input: None,
            input_path: None,
            input_transformer: Some(InputTransformer {
                input_paths_map: BTreeMap::from([("s".to_string(), "$.source".to_string())]),
                input_template: r#"{"from": <s>}"#.into(),
            }),
        },
        retry_policy: RetryPolicy { maximum_retry_attempts: 3, maximum_event_age_in_seconds: 600 },
    }
}

fn function_target(bus: &str, rule: &str, id: &str, function: &str) -> Target {
    Target {
        id: id.into(),
        rule: rule.into(),
        event_bus_name: bus.into(),
        destination: Destination::Function { name: function.into() },
        input: InputShape { input: Some(r#"{"constant": true}"#.into()), ..Default::default() },
        retry_policy: RetryPolicy::default(),
    }
}

fn assert_same_rule(got: &Rule, want: &Rule) {
    assert_eq!(got.name, want.name);
    assert_eq!(got.arn, want.arn);
    assert_eq!(got.event_bus_name, want.event_bus_name);
    assert_eq!(got.event_pattern, want.event_pattern);
    assert_eq!(got.schedule_expression, want.schedule_expression);
    assert_eq!(got.state, want.state);
    assert_eq!(got.description, want.description);
    assert_eq!(got.next_fire_time, want.next_fire_time);
    assert_eq!(got.creation_time, want.creation_time);
}

fn assert_same_target(got: &Target, want: &Target) {
    assert_eq!((&got.id, &got.rule, &got.event_bus_name), (&want.id, &want.rule, &want.event_bus_name));
    assert_eq!(got.destination, want.destination);
    assert_eq!(got.input, want.input);
    assert_eq!(got.retry_policy, want.retry_policy);
}

fn names(rules: &[Rule]) -> Vec<(String, String)> {
    rules.iter().map(|r| (r.event_bus_name.clone(), r.name.clone())).collect()
}

async fn with_buses(store: &Store, names: &[&str]) {
    for name in names {
        store.create_bus(&bus(name)).await.unwrap();
    }
}

conformance! {
async fn buses_are_unique_listed_bytewise_and_deleted_only_when_unused(store) {
    with_buses(&store, &["b-ü", "B", "a", "a-c", "ab"]).await;
    assert!(matches!(store.create_bus(&bus("a")).await, Err(Error::AlreadyExists { .. })));
    // ensure_bus leaves an existing bus as it is and creates a missing one.
    store.ensure_bus(&Bus { arn: "other".into(), ..bus("a") }).await.unwrap();
    store.ensure_bus(&bus("default")).await.unwrap();
    store.ensure_bus(&bus("default")).await.unwrap();
    let listed: Vec<String> = store.list_buses().await.unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(listed, vec!["B", "a", "a-c", "ab", "b-ü", "default"]);
    let got = store.get_bus("b-ü").await.unwrap();
    assert_eq!((got.name.as_str(), got.arn.as_str(), got.creation_time), ("b-ü", bus("b-ü").arn.as_str(), at(T0)));
    assert_eq!(store.get_bus("a").await.unwrap().arn, bus("a").arn);
    assert!(matches!(store.get_bus("A").await, Err(Error::NotFound { .. })));

    store.create_rule(&rule("a", "r")).await.unwrap();
    assert!(matches!(store.delete_bus("a").await, Err(Error::InUse { .. })));
    let archive = Archive {
        archive_name: "keep".into(),
        archive_arn: "arn:archive".into(),
        event_source_arn: String::new(),
        event_bus_name: "ab".into(),
        event_pattern: None,
        retention_days: 0,
        description: String::new(),
        event_count: 0,
        creation_time: at(T0),
    };
    store.create_archive(&archive).await.unwrap();
    assert!(matches!(store.delete_bus("ab").await, Err(Error::InUse { .. })));
    assert!(matches!(store.delete_bus("nope").await, Err(Error::NotFound { .. })));
    store.delete_bus("a-c").await.unwrap();
    assert!(matches!(store.get_bus("a-c").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_bus("a-c").await, Err(Error::NotFound { .. })));
    store.delete_rule("a", "r").await.unwrap();
    store.delete_bus("a").await.unwrap();
    store.delete_archive("keep").await.unwrap();
    store.delete_bus("ab").await.unwrap();
    let listed: Vec<String> = store.list_buses().await.unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(listed, vec!["B", "b-ü", "default"]);
}

async fn rules_round_trip_and_list_per_bus_in_order(store) {
    with_buses(&store, &["default", "Z"]).await;
    assert!(matches!(store.create_rule(&rule("missing", "r")).await, Err(Error::NotFound { .. })));
    let pattern = rule("default", "r/ü.1");
    store.create_rule(&pattern).await.unwrap();
    assert!(matches!(store.create_rule(&pattern).await, Err(Error::AlreadyExists { .. })));
    let scheduled = Rule {
        event_pattern: None,
        schedule_expression: Some("rate(5 minutes)".into()),
        next_fire_time: Some(at(T0 + 300_000)),
        state: "DISABLED".into(),
        description: String::new(),
        ..rule("default", "R")
    };
    store.create_rule(&scheduled).await.unwrap();
    // The same name on another bus is another rule.
    store.create_rule(&rule("Z", "r/ü.1")).await.unwrap();
    store.create_rule(&rule("Z", "a")).await.unwrap();

    assert_same_rule(&store.get_rule("default", "r/ü.1").await.unwrap(), &pattern);
    assert_same_rule(&store.get_rule("default", "R").await.unwrap(), &scheduled);
    assert!(matches!(store.get_rule("default", "r/Ü.1").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.get_rule("nope", "R").await, Err(Error::NotFound { .. })));
    assert_eq!(
        names(&store.list_rules(None).await.unwrap()),
        vec![
            ("Z".to_string(), "a".to_string()),
            ("Z".into(), "r/ü.1".into()),
            ("default".into(), "R".into()),
            ("default".into(), "r/ü.1".into()),
        ]
    );
    assert_eq!(
        names(&store.list_rules(Some("default")).await.unwrap()),
        vec![("default".to_string(), "R".to_string()), ("default".into(), "r/ü.1".into())]
    );
    assert!(store.list_rules(Some("nope")).await.unwrap().is_empty());

    // update_rule writes pattern or schedule, state, description and next firing; not the ARN or creation time.
    let updated = Rule {
        arn: "ignored".into(),
        event_pattern: Some(r#"{"detail-type":["x"]}"#.into()),
        schedule_expression: None,
        state: "DISABLED".into(),
        description: "new ✓".into(),
        next_fire_time: None,
        creation_time: at(0),
        ..scheduled.clone()
    };
    store.update_rule(&updated, at(T0 + 5)).await.unwrap();
    let got = store.get_rule("default", "R").await.unwrap();
    assert_same_rule(&got, &Rule { arn: scheduled.arn.clone(), creation_time: scheduled.creation_time, ..updated.clone() });
    assert!(matches!(store.update_rule(&rule("default", "nope"), at(T0)).await, Err(Error::NotFound { .. })));

    store.set_rule_state("default", "R", "ENABLED", at(T0 + 6)).await.unwrap();
    assert!(store.get_rule("default", "R").await.unwrap().is_enabled());
    assert!(matches!(store.set_rule_state("default", "nope", "ENABLED", at(T0)).await, Err(Error::NotFound { .. })));

    store.set_next_fire("Z", "a", Some(at(T0 + 999))).await.unwrap();
    assert_eq!(store.get_rule("Z", "a").await.unwrap().next_fire_time, Some(at(T0 + 999)));
    store.set_next_fire("Z", "a", None).await.unwrap();
    assert_eq!(store.get_rule("Z", "a").await.unwrap().next_fire_time, None);
    // Setting the next firing of a missing rule is not an error (the scheduler may race a delete).
    store.set_next_fire("Z", "nope", None).await.unwrap();

    store.delete_rule("Z", "r/ü.1").await.unwrap();
    assert!(matches!(store.get_rule("Z", "r/ü.1").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete_rule("Z", "r/ü.1").await, Err(Error::NotFound { .. })));
    assert_same_rule(&store.get_rule("default", "r/ü.1").await.unwrap(), &pattern);
}

async fn targets_round_trip_replace_in_place_and_respect_the_limit(store) {
    with_buses(&store, &["default", "b"]).await;
    store.create_rule(&rule("default", "r")).await.unwrap();
    store.create_rule(&rule("b", "a")).await.unwrap();
    let http = http_target("default", "r", "t-2");
    let function = function_target("default", "r", "T-1", "fn");
    store.put_target(&http, 2, at(T0)).await.unwrap();
    store.put_target(&function, 2, at(T0)).await.unwrap();
    store.put_target(&function_target("b", "a", "x", "fn"), 5, at(T0)).await.unwrap();
    let listed = store.list_targets("default", "r").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_same_target(&listed[0], &function);
    assert_same_target(&listed[1], &http);
    // At the limit, a new id is refused, but an existing id is replaced.
    let third = http_target("default", "r", "t-3");
    assert!(matches!(store.put_target(&third, 2, at(T0)).await, Err(Error::InUse { .. })));
    let replaced = Target {
        destination: Destination::Function { name: "other".into() },
        input: InputShape { input_path: Some("$.detail".into()), ..Default::default() },
        retry_policy: RetryPolicy { maximum_retry_attempts: 0, maximum_event_age_in_seconds: 60 },
        ..http.clone()
    };
    store.put_target(&replaced, 2, at(T0 + 1)).await.unwrap();
    let listed = store.list_targets("default", "r").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_same_target(&listed[1], &replaced);
    // A target needs its rule.
    assert!(matches!(store.put_target(&http_target("default", "nope", "t"), 5, at(T0)).await, Err(Error::NotFound { .. })));
    assert!(matches!(store.put_target(&http_target("nope", "r", "t"), 5, at(T0)).await, Err(Error::NotFound { .. })));
    assert!(store.list_targets("default", "nope").await.unwrap().is_empty());

    let all: Vec<(String, String, String)> = store
        .all_targets()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.event_bus_name, t.rule, t.id))
        .collect();
    assert_eq!(
        all,
        vec![
            ("b".to_string(), "a".to_string(), "x".to_string()),
            ("default".into(), "r".into(), "T-1".into()),
            ("default".into(), "r".into(), "t-2".into()),
        ]
    );

    // A rule with targets cannot be deleted; removing them lets it go.
    assert!(matches!(store.delete_rule("default", "r").await, Err(Error::InUse { .. })));
    assert_eq!(store.list_targets("default", "r").await.unwrap().len(), 2);
    store.remove_target("default", "r", "T-1").await.unwrap();
    assert!(matches!(store.remove_target("default", "r", "T-1").await, Err(Error::NotFound { .. })));
    assert!(matches!(store.remove_target("default", "r", "t-2 ").await, Err(Error::NotFound { .. })));
    store.remove_target("default", "r", "t-2").await.unwrap();
    store.delete_rule("default", "r").await.unwrap();
    assert_eq!(store.all_targets().await.unwrap().len(), 1);
}

async fn concurrent_puts_never_exceed_the_target_limit(store) {
    store.create_bus(&bus("default")).await.unwrap();
    store.create_rule(&rule("default", "r")).await.unwrap();
    let puts = (0..12).map(|n| {
        let store = store.clone();
        async move { store.put_target(&http_target("default", "r", &format!("t{n}")), 5, at(T0)).await }
    });
    let results = futures::future::join_all(puts).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert!(results.iter().all(|r| r.is_ok() || matches!(r, Err(Error::InUse { .. }))), "{results:?}");
    assert_eq!(ok, 5);
    assert_eq!(store.list_targets("default", "r").await.unwrap().len(), 5);
}

    async fn a_target_put_racing_the_rule_s_delete_is_never_lost(store) {
        with_buses(&store, &["b"]).await;
        for round in 0..30 {
            let name = format!("r{round}");
            store.create_rule(&rule("b", &name)).await.unwrap();
            let target = http_target("b", &name, "t");
            let (put, deleted) =
                tokio::join!(store.put_target(&target, 5, at(round)), store.delete_rule("b", &name));
            match (put.is_ok(), deleted.is_ok()) {
                // The put came first: the delete saw the target and refused.
                (true, false) => assert_eq!(store.list_targets("b", &name).await.unwrap().len(), 1, "round {round}"),
                // The delete came first: the put found no rule.
                (false, true) => assert!(store.get_rule("b", &name).await.is_err(), "round {round}"),
                both => panic!("round {round}: put and delete both {both:?}: a target acknowledged and lost"),
            }
        }
    }
}
