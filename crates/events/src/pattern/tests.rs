//! Semantics tests: every case is checked on both the reference evaluator and the
//! compiled matcher.

use serde_json::{json, Value};

use super::{Matcher, Pattern};
use crate::Error;

#[track_caller]
fn check(pattern: Value, event: Value, want: bool) {
    let p = Pattern::parse(&pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    assert_eq!(p.matches(&event), want, "reference: {pattern} vs {event}");
    let mut m = Matcher::new();
    m.add_rule(7u32, &p);
    assert_eq!(m.matches(&event) == [7], want, "compiled: {pattern} vs {event}");
}

#[track_caller]
fn reject(pattern: Value, want_path: &str) -> String {
    match Pattern::parse(&pattern) {
        Err(Error::InvalidPattern { path, message }) => {
            assert_eq!(path, want_path, "{pattern}: {message}");
            message
        }
        other => panic!("{pattern} should be rejected at {want_path}, got {other:?}"),
    }
}

#[test]
fn literals_and_numbers() {
    check(json!({"source": ["a", "b"]}), json!({"source": "b"}), true);
    check(json!({"source": ["a"]}), json!({"source": "c"}), false);
    check(json!({"n": [5]}), json!({"n": 5.0}), true);
    check(json!({"n": [5.0]}), json!({"n": 5}), true);
    check(json!({"n": [0]}), json!({"n": -0.0}), true);
    check(json!({"n": [5]}), json!({"n": "5"}), false);
    check(json!({"n": ["5"]}), json!({"n": 5}), false);
    check(json!({"b": [true]}), json!({"b": true}), true);
    check(json!({"b": [false]}), json!({"b": true}), false);
    check(json!({"b": ["true"]}), json!({"b": true}), false);
    check(json!({"d": {"e": [1]}}), json!({"d": {"e": 1, "f": 2}}), true);
    check(json!({"d": {"e": [1]}}), json!({"d": [{"e": [3, [1]]}]}), true);
    check(json!({"a": []}), json!({"a": 1}), false);
    check(json!({"a": []}), json!({}), false);
}

#[test]
fn null_is_a_value_and_missing_is_not() {
    check(json!({"x": [null]}), json!({"x": null}), true);
    check(json!({"x": [null]}), json!({}), false);
    check(json!({"x": [null]}), json!({"x": "null"}), false);
    check(json!({"x": [{"exists": true}]}), json!({"x": null}), true);
    check(json!({"x": [{"exists": false}]}), json!({"x": null}), false);
    check(json!({"x": [{"exists": false}]}), json!({"y": null}), true);
    check(json!({"x": [{"anything-but": "a"}]}), json!({"x": null}), true);
    check(json!({"x": [{"anything-but": "a"}]}), json!({}), false);
}

#[test]
fn prefix_suffix_and_ignore_case() {
    check(json!({"s": [{"prefix": "ab"}]}), json!({"s": "abc"}), true);
    check(json!({"s": [{"prefix": "ab"}]}), json!({"s": "xabc"}), false);
    check(json!({"s": [{"prefix": ""}]}), json!({"s": ""}), true);
    check(json!({"s": [{"prefix": "1"}]}), json!({"s": 12}), false);
    check(json!({"s": [{"suffix": ".png"}]}), json!({"s": "a.png"}), true);
    check(json!({"s": [{"suffix": ".png"}]}), json!({"s": "a.PNG"}), false);
    check(json!({"s": [{"suffix": {"equals-ignore-case": ".png"}}]}), json!({"s": "a.PNG"}), true);
    check(json!({"s": [{"prefix": {"equals-ignore-case": "ÉT"}}]}), json!({"s": "étage"}), true);
    check(json!({"s": [{"prefix": {"equals-ignore-case": "ab"}}]}), json!({"s": "xAB"}), false);
    check(json!({"s": [{"equals-ignore-case": "Hello"}]}), json!({"s": "hELLO"}), true);
    check(json!({"s": [{"equals-ignore-case": "Hello"}]}), json!({"s": "hELLO!"}), false);
    check(json!({"s": [{"prefix": "é"}]}), json!({"s": "e"}), false);
}

#[test]
fn wildcard() {
    check(json!({"s": [{"wildcard": "a*c"}]}), json!({"s": "abbbc"}), true);
    check(json!({"s": [{"wildcard": "a*c"}]}), json!({"s": "ac"}), true);
    check(json!({"s": [{"wildcard": "a*c"}]}), json!({"s": "acb"}), false);
    check(json!({"s": [{"wildcard": "*.txt"}]}), json!({"s": "dir/a.txt"}), true);
    check(json!({"s": [{"wildcard": "*mid*"}]}), json!({"s": "a mid b"}), true);
    check(json!({"s": [{"wildcard": r"a\*b"}]}), json!({"s": "a*b"}), true);
    check(json!({"s": [{"wildcard": r"a\*b"}]}), json!({"s": "axb"}), false);
    check(json!({"s": [{"wildcard": r"a\\b"}]}), json!({"s": r"a\b"}), true);
    check(json!({"s": [{"wildcard": "*"}]}), json!({"s": 1}), false);
    reject(json!({"s": [{"wildcard": "a**b"}]}), "s[0].wildcard");
    reject(json!({"s": [{"wildcard": r"a\b"}]}), "s[0].wildcard");
}

#[test]
fn anything_but() {
    check(json!({"s": [{"anything-but": "a"}]}), json!({"s": "b"}), true);
    check(json!({"s": [{"anything-but": "a"}]}), json!({"s": "a"}), false);
    check(json!({"s": [{"anything-but": "a"}]}), json!({"s": 3}), true);
    check(json!({"s": [{"anything-but": ["a", 3]}]}), json!({"s": 3.0}), false);
    check(json!({"s": [{"anything-but": [3]}]}), json!({"s": "3"}), true);
    check(json!({"s": [{"anything-but": "a"}]}), json!({"s": ["a", "b"]}), true);
    check(json!({"s": [{"anything-but": "a"}]}), json!({"s": ["a"]}), false);
    check(json!({"s": [{"anything-but": {"prefix": "ab"}}]}), json!({"s": "abc"}), false);
    check(json!({"s": [{"anything-but": {"prefix": "ab"}}]}), json!({"s": "xab"}), true);
    check(json!({"s": [{"anything-but": {"prefix": "ab"}}]}), json!({"s": true}), true);
    check(json!({"s": [{"anything-but": {"suffix": "ab"}}]}), json!({"s": "cab"}), false);
    check(json!({"s": [{"anything-but": {"wildcard": ["a*", "*z"]}}]}), json!({"s": "xyz"}), false);
    check(json!({"s": [{"anything-but": {"wildcard": "a*"}}]}), json!({"s": "ba"}), true);
    let eic = json!({"s": [{"anything-but": {"equals-ignore-case": ["Foo", "BAR"]}}]});
    check(eic.clone(), json!({"s": "bar"}), false);
    check(eic, json!({"s": "baz"}), true);
    check(json!({"s": [{"anything-but": "a"}, {"anything-but": "b"}]}), json!({"s": "a"}), true);
}

#[test]
fn numeric() {
    let range = json!({"n": [{"numeric": [">", 0, "<=", 5]}]});
    for (n, want) in [(0.0, false), (0.001, true), (5.0, true), (5.01, false)] {
        check(range.clone(), json!({"n": n}), want);
    }
    check(range.clone(), json!({"n": "3"}), false);
    check(range, json!({"n": [9, 3]}), true);
    check(json!({"n": [{"numeric": ["=", 3.0e2]}]}), json!({"n": 300}), true);
    check(json!({"n": [{"numeric": ["<", -1]}]}), json!({"n": -1}), false);
    check(json!({"n": [{"numeric": ["<=", -1]}]}), json!({"n": -1}), true);
    check(json!({"n": [{"numeric": [">=", 1e300]}]}), json!({"n": 1.5e300}), true);
    reject(json!({"n": [{"numeric": ["<", 5, ">", 1]}]}), "n[0].numeric[0]");
    reject(json!({"n": [{"numeric": [">", 5, "<", 1]}]}), "n[0].numeric");
    reject(json!({"n": [{"numeric": [">", 5, ">", 6]}]}), "n[0].numeric[2]");
    reject(json!({"n": [{"numeric": ["=", 5, "<", 6]}]}), "n[0].numeric[0]");
    reject(json!({"n": [{"numeric": ["==", 5]}]}), "n[0].numeric[0]");
    reject(json!({"n": [{"numeric": [">", "5"]}]}), "n[0].numeric[1]");
    reject(json!({"n": [{"numeric": [">", 5, "<"]}]}), "n[0].numeric");
}

#[test]
fn cidr() {
    let p = json!({"ip": [{"cidr": "10.0.0.0/24"}]});
    check(p.clone(), json!({"ip": "10.0.0.255"}), true);
    check(p.clone(), json!({"ip": "10.0.1.1"}), false);
    check(p.clone(), json!({"ip": "not an ip"}), false);
    check(p, json!({"ip": 10}), false);
    check(json!({"ip": [{"cidr": "2001:db8::/32"}]}), json!({"ip": "2001:db8::1"}), true);
    check(json!({"ip": [{"cidr": "2001:db8::/32"}]}), json!({"ip": "2001:db9::1"}), false);
    reject(json!({"ip": [{"cidr": "10.0.0.0/40"}]}), "ip[0].cidr");
    reject(json!({"ip": [{"cidr": 10}]}), "ip[0].cidr");
}

#[test]
fn exists() {
    check(json!({"a": [{"exists": true}]}), json!({"a": "x"}), true);
    check(json!({"a": [{"exists": true}]}), json!({"a": {"b": 1}}), false);
    check(json!({"a": [{"exists": true}]}), json!({"a": []}), false);
    check(json!({"a": [{"exists": false}]}), json!({"a": []}), true);
    check(json!({"a": {"b": [{"exists": false}]}}), json!({"a": [{"c": 1}, {"b": 2}]}), false);
    check(json!({"a": [{"exists": false}], "b": [1]}), json!({"b": 1}), true);
    check(json!({"a": [{"exists": false}, "x"]}), json!({"a": "x"}), true);
    check(json!({"a": [{"exists": false}, "x"]}), json!({"a": "y"}), false);
    reject(json!({"a": [{"exists": "yes"}]}), "a[0].exists");
}

#[test]
fn array_consistency() {
    let event = json!({"a": [{"b": 1, "c": 2}, {"b": 3, "c": 4}]});
    check(json!({"a": {"b": [1], "c": [2]}}), event.clone(), true);
    check(json!({"a": {"b": [1], "c": [4]}}), event.clone(), false);
    check(json!({"a": {"b": [3], "c": [{"exists": true}]}}), event.clone(), true);
    check(json!({"a": {"b": [1], "c": [{"numeric": [">", 3]}]}}), event, false);
    // Different arrays do not constrain each other.
    let two = json!({"x": [{"k": 1}, {"k": 2}], "y": [{"k": 3}, {"k": 4}]});
    check(json!({"x": {"k": [2]}, "y": {"k": [3]}}), two, true);
    // Nested arrays: the outer element must agree too.
    let nested = json!({"a": [[{"b": 1}], [{"c": 2}]]});
    check(json!({"a": {"b": [1], "c": [2]}}), nested, false);
    let inner = json!({"a": [{"l": [{"b": 1, "c": 1}, {"b": 2, "c": 2}]}, {"l": [{"b": 3}]}]});
    check(json!({"a": {"l": {"b": [1], "c": [2]}}}), inner.clone(), false);
    check(json!({"a": {"l": {"b": [2], "c": [2]}}}), inner, true);
}

#[test]
fn or_alternatives() {
    let p = json!({"source": ["s"], "$or": [{"a": [1]}, {"b": {"c": [2]}}]});
    check(p.clone(), json!({"source": "s", "a": 1}), true);
    check(p.clone(), json!({"source": "s", "b": {"c": 2}}), true);
    check(p.clone(), json!({"source": "t", "a": 1}), false);
    check(p, json!({"source": "s", "a": 2}), false);
    let nested = json!({"d": {"$or": [{"x": [1]}, {"$or": [{"y": [2]}, {"z": [3]}]}]}});
    check(nested.clone(), json!({"d": {"z": 3}}), true);
    check(nested, json!({"z": 3}), false);
    // A key in both the object and an alternative: both conditions must hold.
    let both = json!({"a": [1], "$or": [{"a": [2]}, {"b": [1]}]});
    check(both.clone(), json!({"a": [1, 2]}), true);
    check(both.clone(), json!({"a": 1}), false);
    check(both, json!({"a": 1, "b": 1}), true);
    // Consistency holds within one alternative only.
    let ev = json!({"l": [{"p": 1, "q": 1}, {"p": 2, "q": 2}]});
    check(json!({"$or": [{"l": {"p": [1], "q": [2]}}, {"l": {"p": [2], "q": [2]}}]}), ev, true);
}

#[test]
fn validation_errors_name_the_path() {
    reject(json!("x"), "$");
    reject(json!([]), "$");
    reject(json!({}), "$");
    let m = reject(json!({"source": "x"}), "source");
    assert!(m.contains("must be an array of match values or an object"), "{m}");
    reject(json!({"detail": {"n": 5}}), "detail.n");
    reject(json!({"detail": {}}), "detail");
    reject(json!({"detail": {"state": [{"prefix": 5}]}}), "detail.state[0].prefix");
    reject(json!({"a": [{"prefix": {"equals-ignore-case": 1}}]}), "a[0].prefix.equals-ignore-case");
    reject(json!({"a": [{"prefix": {"foo": "x"}}]}), "a[0].prefix.foo");
    reject(json!({"a": [{"suffix": []}]}), "a[0].suffix");
    reject(json!({"a": [{"equals-ignore-case": null}]}), "a[0].equals-ignore-case");
    let m = reject(json!({"a": ["x", {"regex": "x"}]}), "a[1].regex");
    assert!(m.contains("unknown operator"), "{m}");
    reject(json!({"a": [{}]}), "a[0]");
    reject(json!({"a": [{"prefix": "x", "suffix": "y"}]}), "a[0]");
    reject(json!({"a": [["x"]]}), "a[0]");
    reject(json!({"$or": []}), "$or");
    reject(json!({"$or": [{"a": [1]}]}), "$or");
    reject(json!({"$or": {"a": [1]}}), "$or");
    reject(json!({"$or": [{"a": [1]}, {}]}), "$or[1]");
    reject(json!({"$or": [{"a": [1]}, 3]}), "$or[1]");
    reject(json!({"d": {"$or": [{"a": [1]}, {"b": "x"}]}}), "d.$or[1].b");
    reject(json!({"a": [{"anything-but": []}]}), "a[0].anything-but");
    reject(json!({"a": [{"anything-but": [true]}]}), "a[0].anything-but[0]");
    reject(json!({"a": [{"anything-but": null}]}), "a[0].anything-but");
    reject(json!({"a": [{"anything-but": {"prefix": ""}}]}), "a[0].anything-but.prefix");
    reject(json!({"a": [{"anything-but": {"numeric": [">", 1]}}]}), "a[0].anything-but.numeric");
    reject(json!({"a": [{"anything-but": {"wildcard": []}}]}), "a[0].anything-but.wildcard");
    reject(json!({"a": [{"anything-but": {"wildcard": ["ok", "a**"]}}]}), "a[0].anything-but.wildcard[1]");
    reject(json!({"a": [{"anything-but": {"equals-ignore-case": [1]}}]}), "a[0].anything-but.equals-ignore-case[0]");
    let wide: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("k{i}"), json!({"$or": [{"a": [1]}, {"b": [2]}]}))).collect();
    reject(Value::Object(wide), "$");
}

#[test]
fn parse_str_and_round_trip() {
    let e = Pattern::parse_str("{\"a\": [").unwrap_err();
    assert!(matches!(e, Error::InvalidPattern { ref path, .. } if path == "$"), "{e:?}");
    let text = r#"{"detail":{"state":[{"prefix":"run"}]},"source":["aws.ec2"]}"#;
    let p = Pattern::parse_str(text).unwrap();
    assert_eq!(p.to_json().to_string(), text);
    assert!(format!("{p:?}").contains("aws.ec2"));
}

#[test]
fn matcher_bookkeeping() {
    let a = Pattern::parse(&json!({"k": ["a"]})).unwrap();
    let any = Pattern::parse(&json!({"k": [{"exists": true}]})).unwrap();
    let mut m: Matcher<String> = Matcher::default();
    assert!(m.is_empty());
    m.add_rule("r2".into(), &a);
    m.add_rule("r1".into(), &any);
    m.add_rule("r3".into(), &a);
    assert_eq!(m.len(), 3);
    assert_eq!(m.matches(&json!({"k": "a"})), ["r1", "r2", "r3"]);
    m.remove_rule(&"r2".to_string());
    m.remove_rule(&"nope".to_string());
    assert_eq!(m.matches(&json!({"k": "a"})), ["r1", "r3"]);
    m.add_rule("r3".into(), &any); // replace
    assert_eq!(m.matches(&json!({"k": "b"})), ["r1", "r3"]);
    for i in 0..200 {
        m.add_rule(format!("t{i}"), &a);
        m.remove_rule(&format!("t{i}"));
    }
    assert_eq!(m.len(), 2);
    assert_eq!(m.matches(&json!({"k": "a"})), ["r1", "r3"]);
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Matcher<String>>();
}

/// A lone short `anything-but` string is kept inline; a second exclusion on the same
/// path moves it into the full index, keeping what it leads to (here a rule that
/// was already accepted directly, and a deeper state).
#[test]
fn anything_but_kept_inline_then_moved() {
    let mut m = Matcher::new();
    m.add_rule(1u32, &Pattern::parse(&json!({"s": [{"anything-but": "x"}]})).unwrap());
    assert_eq!(m.matches(&json!({"s": "x"})), Vec::<u32>::new());
    assert_eq!(m.matches(&json!({"s": "xy"})), [1]);
    assert_eq!(m.matches(&json!({"s": 7})), [1]);
    assert_eq!(m.matches(&json!({"s": null})), [1]);
    assert_eq!(m.matches(&json!({"t": "x"})), Vec::<u32>::new());
    // Shares rule 1's edge, whose state is then no longer final.
    let deeper = json!({"s": [{"anything-but": "x"}], "v": [{"exists": true}]});
    m.add_rule(2, &Pattern::parse(&deeper).unwrap());
    assert_eq!(m.matches(&json!({"s": "y", "v": 0})), [1, 2]);
    assert_eq!(m.matches(&json!({"s": "x", "v": 0})), Vec::<u32>::new());
    m.add_rule(3, &Pattern::parse(&json!({"s": [{"anything-but": "a longer string"}]})).unwrap());
    m.add_rule(4, &Pattern::parse(&json!({"s": [{"anything-but": ["x", "y"]}]})).unwrap());
    assert_eq!(m.matches(&json!({"s": "x", "v": 0})), [3]);
    assert_eq!(m.matches(&json!({"s": "y", "v": 0})), [1, 2, 3]);
    assert_eq!(m.matches(&json!({"s": "y"})), [1, 3]);
    assert_eq!(m.matches(&json!({"s": "a longer string"})), [1, 4]);
    assert_eq!(m.matches(&json!({"s": "z"})), [1, 3, 4]);
    assert_eq!(m.matches(&json!({"s": ["x", "q"], "v": 0})), [1, 2, 3, 4]);
}
