//! The matcher against the reference evaluator with a rule set large enough to
//! reach the code paths small property-test cases never do: indexes with thousands
//! of keys (the big Bloom filters), more than a handful of numeric ranges on one
//! path (searched rather than scanned), large `anything-but` maps, and accepting
//! states that later gain more conditions (final-state shortcuts being withdrawn), and
//! a matcher compacted, then grown further.

use serde_json::{json, Value};
use trainyard_events::{Matcher, Pattern};

/// Deterministic generator (no proptest: one fixed, large case).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn string(&mut self) -> String {
        let k = self.below(400);
        if self.below(8) == 0 {
            format!("S{k}")
        } else {
            format!("s{k}")
        }
    }
    fn number(&mut self) -> f64 {
        self.below(400) as f64 / 4.0
    }
}

/// One value matcher of a kind chosen by `kind`.
fn matcher(kind: u64, rng: &mut Lcg) -> Value {
    let s = rng.string();
    match kind {
        0..=2 => json!(s),
        3 => json!({"prefix": &s[..s.len().min(3)]}),
        4 => json!({"suffix": &s[s.len() - s.len().min(2)..]}),
        5 => json!({"wildcard": format!("{}*{}", &s[..2], rng.below(10))}),
        6 => json!({"wildcard": format!("*{}*", rng.below(40))}),
        7 => json!({"equals-ignore-case": s.to_uppercase()}),
        8 => json!({"prefix": {"equals-ignore-case": &s[..s.len().min(2)]}}),
        9 => json!({"anything-but": [s, rng.string()]}),
        10 => json!({"anything-but": {"prefix": &s[..s.len().min(3)]}}),
        11 => {
            let lo = rng.number();
            json!({"numeric": [">=", lo, "<", lo + 0.25 + rng.below(3) as f64]})
        }
        12 => json!(rng.number()),
        13 => json!({"numeric": ["=", rng.number()]}),
        14 => json!({"exists": rng.below(3) != 0}),
        _ => json!({"suffix": {"equals-ignore-case": &s[s.len() - 1..]}}),
    }
}

/// Rule `i`: its first condition is often shared with earlier rules, so that
/// accepting states gain further conditions as rules are added.
fn rule(i: u64, rng: &mut Lcg) -> Value {
    let field = |rng: &mut Lcg| ["a", "b", "n"][rng.below(3) as usize];
    let cond = |rng: &mut Lcg| {
        let kind = rng.below(16);
        let kind = if (11..=13).contains(&kind) { kind } else { kind % 11 };
        Value::Array((0..1 + rng.below(2)).map(|_| matcher(kind, rng)).collect())
    };
    let mut rule = serde_json::Map::new();
    let first = if i % 3 == 0 { json!([format!("s{}", i % 50)]) } else { cond(rng) };
    rule.insert(field(rng).to_string(), first);
    for _ in 0..rng.below(3) {
        rule.insert(field(rng).to_string(), cond(rng));
    }
    if rng.below(6) == 0 {
        rule.insert("o".into(), json!({"c": cond(rng), "d": cond(rng)}));
    }
    Value::Object(rule)
}

fn event(rng: &mut Lcg) -> Value {
    let scalar = |rng: &mut Lcg| if rng.below(4) == 0 { json!(rng.number()) } else { json!(rng.string()) };
    let a = if rng.below(4) == 0 { json!([scalar(rng), scalar(rng)]) } else { scalar(rng) };
    let b = scalar(rng);
    let n = Value::Array((0..rng.below(6)).map(|_| json!(rng.number())).collect());
    let o = json!([{"c": scalar(rng), "d": scalar(rng)}, {"c": scalar(rng), "d": scalar(rng)}]);
    let mut e = json!({"a": a, "b": b, "n": n, "o": o});
    if rng.below(5) == 0 {
        e.as_object_mut().map(|m| m.remove("b"));
    }
    e
}

#[test]
fn matcher_agrees_with_reference_at_scale() {
    let mut rng = Lcg(0x5ca1e);
    let rules: Vec<Value> = (0..1500).map(|i| rule(i, &mut rng)).collect();
    let patterns: Vec<Pattern> =
        rules.iter().map(|r| Pattern::parse(r).unwrap_or_else(|e| panic!("generated {r}: {e}"))).collect();
    let mut matcher = Matcher::new();
    for (id, p) in patterns.iter().enumerate() {
        matcher.add_rule(id, p);
    }
    let events: Vec<Value> = (0..120).map(|_| event(&mut rng)).collect();
    let mut matched = 0;
    for e in &events {
        let want: Vec<usize> = (0..patterns.len()).filter(|&id| patterns[id].matches(e)).collect();
        assert_eq!(matcher.matches(e), want, "event {e}");
        matched += want.len();
    }
    println!("matches: {matched}");
    assert!(matched > events.len(), "the generated rules should match now and then ({matched})");
    for id in (0..patterns.len()).step_by(7) {
        matcher.remove_rule(&id);
    }
    for e in events.iter().take(40) {
        let want: Vec<usize> = (0..patterns.len()).filter(|&id| id % 7 != 0 && patterns[id].matches(e)).collect();
        assert_eq!(matcher.matches(e), want, "after removals, event {e}");
    }
    // Compacted, then grown further: still exactly the reference's matches.
    matcher.compact();
    let mut all = patterns;
    all.extend((1500..1800).map(|i| Pattern::parse(&rule(i, &mut rng)).expect("valid")));
    for (id, p) in all.iter().enumerate().skip(1500) {
        matcher.add_rule(id, p);
    }
    for e in &events {
        let want: Vec<usize> = (0..all.len()).filter(|&id| (id >= 1500 || id % 7 != 0) && all[id].matches(e)).collect();
        assert_eq!(matcher.matches(e), want, "after compacting and adding, event {e}");
    }
}
