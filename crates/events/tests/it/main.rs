//! Integration tests of the event-pattern matcher: property tests requiring the
//! compiled `Matcher` to return exactly the rules the reference `Pattern::matches`
//! accepts, over random rule sets (with removals and replacements) and events.

mod gen;
mod scale;

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::Value;
use trainyard_events::{Matcher, Pattern};

use gen::{event, pattern, witness};

fn parse_all(rules: &[Value]) -> Vec<Pattern> {
    rules.iter().map(|r| Pattern::parse(r).unwrap_or_else(|e| panic!("generated {r}: {e}"))).collect()
}

/// Adds every rule, removes some, and compares on every event, plus one witness
/// event (built to match) per seed. With `compact`, the matcher is compacted after
/// the adds and again before matching.
fn check(
    rules: &[Value],
    removals: &[Index],
    readd: &[Index],
    events: &[Value],
    seeds: &[(Index, u64)],
    compact: bool,
) -> Result<(), TestCaseError> {
    let patterns = parse_all(rules);
    let mut events = events.to_vec();
    for (i, (rule, seed)) in seeds.iter().enumerate() {
        events.push(witness(&rules[rule.index(rules.len())], *seed, &events[i % events.len()]));
    }
    let mut matcher = Matcher::new();
    for (id, p) in patterns.iter().enumerate() {
        matcher.add_rule(id, p);
    }
    if compact {
        matcher.compact();
    }
    let mut live: BTreeSet<usize> = (0..patterns.len()).collect();
    for r in removals {
        let id = r.index(patterns.len());
        matcher.remove_rule(&id);
        live.remove(&id);
    }
    // Re-adding an id under another rule's pattern replaces whatever it had.
    let mut effective: Vec<Pattern> = patterns.clone();
    for r in readd {
        let id = r.index(patterns.len());
        let other = (id * 7 + 3) % patterns.len();
        effective[id] = patterns[other].clone();
        matcher.add_rule(id, &patterns[other]);
        live.insert(id);
    }
    if compact {
        matcher.compact();
    }
    prop_assert_eq!(matcher.len(), live.len());
    for e in &events {
        let want: Vec<usize> = live.iter().copied().filter(|&id| effective[id].matches(e)).collect();
        let got = matcher.matches(e);
        prop_assert_eq!(&got, &want, "event {}", e);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn matcher_agrees_with_reference(
        rules in prop::collection::vec(pattern(2), 1..30),
        removals in prop::collection::vec(any::<Index>(), 0..8),
        readd in prop::collection::vec(any::<Index>(), 0..3),
        events in prop::collection::vec(event(), 1..5),
        seeds in prop::collection::vec((any::<Index>(), any::<u64>()), 4..10),
        compact in any::<bool>(),
    ) {
        check(&rules, &removals, &readd, &events, &seeds, compact)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Enough removals to force the matcher's rebuild path.
    #[test]
    fn matcher_agrees_after_rebuilds(
        rules in prop::collection::vec(pattern(1), 140..180),
        removals in prop::collection::vec(any::<Index>(), 100..140),
        readd in prop::collection::vec(any::<Index>(), 0..20),
        events in prop::collection::vec(event(), 4..10),
        seeds in prop::collection::vec((any::<Index>(), any::<u64>()), 10..20),
        compact in any::<bool>(),
    ) {
        check(&rules, &removals, &readd, &events, &seeds, compact)?;
    }
}

/// The generators must produce a healthy share of matching (pattern, event) pairs,
/// or the property tests above would prove little.
#[test]
fn generated_cases_match_often_enough() {
    let mut runner = TestRunner::deterministic();
    let (mut pairs, mut random_hits, mut witness_hits) = (0u32, 0u32, 0u32);
    for seed in 0..1500u64 {
        let p = pattern(2).new_tree(&mut runner).expect("pattern").current();
        let e = event().new_tree(&mut runner).expect("event").current();
        let compiled = Pattern::parse(&p).expect("valid");
        pairs += 1;
        random_hits += u32::from(compiled.matches(&e));
        witness_hits += u32::from(compiled.matches(&witness(&p, seed, &e)));
    }
    let random = f64::from(random_hits) / f64::from(pairs);
    let witnessed = f64::from(witness_hits) / f64::from(pairs);
    println!("matching pairs: random events {random:.3}, witness events {witnessed:.3} (of {pairs})");
    assert!((0.05..0.95).contains(&random), "random match ratio {random} is too extreme");
    assert!((0.3..0.95).contains(&witnessed), "witness match ratio {witnessed} is too extreme");
}
