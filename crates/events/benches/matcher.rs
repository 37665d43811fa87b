//! Throughput of the compiled pattern [`Matcher`] against the `quamina` crate on a
//! deterministic, city-lots-like corpus (GeoJSON features of about 1 KB), with rule
//! sets of 10, 1 000 and 100 000 rules of mixed operators. Every 50th rule takes its
//! values from a corpus event ("hot": it matches at least that event); the others
//! draw values from the same distribution as the corpus and match only by chance.
//! So events match a handful of rules at 100 000 rules, as on a real bus; with
//! `MATCHER_BENCH_HOT_EVERY=5` (every 5th rule hot) they match about 20 each.
//!
//! Groups: `shared_<n>` runs both engines on the same events and patterns, using
//! only operators quamina supports (ours takes parsed `serde_json::Value`s as on the
//! bus; `ours_with_parse` adds `serde_json::from_slice`, quamina takes bytes);
//! `extended_<n>` adds `$or` and the operators only ours has.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-pattern cargo bench -p trainyard-events --bench matcher`
//! (`MATCHER_BENCH_SIZES=1000,100000` restricts the rule-set sizes, setup included;
//! `MATCHER_BENCH_EVENTS=50` cycles only the first 50 events, so that what a match
//! reads stays cached).
//! Setup prints each engine's build time and the matches both find over the corpus.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quamina::{Quamina, QuaminaBuilder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use trainyard_events::{Matcher, Pattern};

const EVENTS: usize = 1_000;
const SIZES: [usize; 3] = [10, 1_000, 100_000];
/// Every how many rules one takes its values from a corpus event.
const HOT_EVERY: usize = 50;

const STREETS: &[&str] = &[
    "UNKNOWN",
    "MARKET",
    "MISSION",
    "VALENCIA",
    "GEARY",
    "FOLSOM",
    "HOWARD",
    "BRYANT",
    "HARRISON",
    "OCTAVIA",
    "FRANKLIN",
    "GOUGH",
    "LAGUNA",
    "BUCHANAN",
    "WEBSTER",
    "FILLMORE",
    "STEINER",
    "PIERCE",
    "SCOTT",
    "DIVISADERO",
    "BRODERICK",
    "BAKER",
    "LYON",
    "CENTRAL",
    "MASONIC",
    "ASHBURY",
    "CLAYTON",
    "COLE",
    "SHRADER",
    "STANYAN",
    "ARGUELLO",
    "FUNSTON",
    "CRANLEIGH",
    "JEFFERSON",
    "BEACH",
    "NORTH POINT",
    "BAY",
    "CHESTNUT",
    "LOMBARD",
    "GREENWICH",
    "FILBERT",
    "UNION",
    "GREEN",
    "VALLEJO",
    "BROADWAY",
    "PACIFIC",
    "JACKSON",
    "WASHINGTON",
    "CLAY",
    "SACRAMENTO",
    "CALIFORNIA",
    "PINE",
    "BUSH",
    "SUTTER",
    "POST",
    "OFARRELL",
    "ELLIS",
    "EDDY",
    "TURK",
    "GOLDEN GATE",
];
const ST_TYPES: &[&str] = &["ST", "AVE", "BLVD", "WAY", "TER", "PL"];

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// One feature; `TO_ST` is missing from about one in ten.
fn feature(rng: &mut StdRng) -> Value {
    let block = format!("{:04}", rng.gen_range(1..=7000));
    let lot = format!("{:03}", rng.gen_range(1..=150));
    let blklot = format!("{block}{lot}");
    let from = rng.gen_range(0..300) * 10;
    let st_type = if rng.gen_bool(0.15) { Value::Null } else { json!(ST_TYPES[rng.gen_range(0..ST_TYPES.len())]) };
    let mut properties = json!({
        "MAPBLKLOT": blklot, "BLKLOT": blklot, "BLOCK_NUM": block, "LOT_NUM": lot,
        "FROM_ST": from.to_string(), "TO_ST": (from + rng.gen_range(1..40) * 2).to_string(),
        "STREET": STREETS[rng.gen_range(0..STREETS.len())], "ST_TYPE": st_type,
        "ODD_EVEN": if rng.gen_bool(0.5) { "E" } else { "O" },
    });
    if rng.gen_bool(0.1) {
        properties.as_object_mut().map(|p| p.remove("TO_ST"));
    }
    let (lon, lat) = (rng.gen_range(-122.52..-122.36), rng.gen_range(37.70..37.81));
    let ring: Vec<Value> = (0..rng.gen_range(16..24))
        .map(|_| json!([round6(lon + rng.gen_range(0.0..0.0015)), round6(lat + rng.gen_range(0.0..0.0015)), 0]))
        .collect();
    json!({"type": "Feature", "properties": properties, "geometry": {"type": "Polygon", "coordinates": [ring]}})
}

struct Corpus {
    values: Vec<Value>,
    bytes: Vec<Vec<u8>>,
}

fn corpus() -> Corpus {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let values: Vec<Value> = (0..EVENTS).map(|_| feature(&mut rng)).collect();
    let bytes = values.iter().map(|v| serde_json::to_vec(v).expect("serialise")).collect();
    Corpus { values, bytes }
}

/// Rule `i` of the deterministic rule sequence (the 10-rule set is a prefix of the
/// 1 000-rule set, and so on). `kinds` is 11 for the shared operators, 14 with ours-only ones.
fn rule(i: usize, kinds: usize, hot_every: usize, corpus: &Corpus, rng: &mut StdRng) -> Value {
    let source = if i % hot_every == 0 { corpus.values[rng.gen_range(0..EVENTS)].clone() } else { feature(rng) };
    let p = &source["properties"];
    let text = |k: &str| p[k].as_str().unwrap_or("").to_string();
    let (blklot, block, lot, street) = (text("BLKLOT"), text("BLOCK_NUM"), text("LOT_NUM"), text("STREET"));
    let coord = source["geometry"]["coordinates"][0][0][rng.gen_range(0..2)].as_f64().unwrap_or(0.0);
    match i % kinds {
        0 => json!({"properties": {"BLKLOT": [blklot]}}),
        1 => json!({"properties": {"MAPBLKLOT": [{"prefix": &blklot[..5]}]}}),
        2 => json!({"properties": {"STREET": [street], "BLOCK_NUM": [block]}}),
        3 => json!({"properties": {"BLOCK_NUM": [block], "ODD_EVEN": [{"anything-but": [p["ODD_EVEN"]]}]}}),
        4 => json!({"properties": {"LOT_NUM": [lot], "BLOCK_NUM": [block], "TO_ST": [{"exists": false}]}}),
        5 => json!({"geometry": {"coordinates": [{"numeric": [">=", coord, "<", round6(coord + 0.000002)]}]},
                    "properties": {"BLOCK_NUM": [block]}}),
        6 => json!({"properties": {"MAPBLKLOT": [{"wildcard": format!("{}*{}", &blklot[..4], &blklot[6..])}]}}),
        7 => json!({"properties": {"MAPBLKLOT": [{"suffix": &blklot[3..]}], "STREET": [street]}}),
        8 => json!({"properties": {"STREET": [{"equals-ignore-case": street.to_lowercase()}], "LOT_NUM": [lot]}}),
        9 => json!({"properties": {"BLKLOT": [blklot], "ST_TYPE": [{"exists": true}]}}),
        10 => json!({"properties": {"FROM_ST": [p["FROM_ST"]], "TO_ST": [p["TO_ST"]], "STREET": [street]}}),
        11 => json!({"properties": {"BLOCK_NUM": [block], "$or": [{"STREET": [street]}, {"LOT_NUM": [lot]}]}}),
        12 => json!({"properties": {"LOT_NUM": [lot], "BLOCK_NUM": [block],
                     "STREET": [{"anything-but": {"prefix": &street[..2]}}]}}),
        _ => json!({"properties": {"BLKLOT": [blklot],
                    "STREET": [{"prefix": {"equals-ignore-case": street[..3].to_lowercase()}}]}}),
    }
}

fn rules(n: usize, kinds: usize, corpus: &Corpus) -> Vec<Value> {
    let hot_every = env_list("MATCHER_BENCH_HOT_EVERY").first().copied().unwrap_or(HOT_EVERY).max(1);
    let mut rng = StdRng::seed_from_u64(0x7a11 + kinds as u64);
    (0..n).map(|i| rule(i, kinds, hot_every, corpus, &mut rng)).collect()
}

fn env_list(name: &str) -> Vec<usize> {
    std::env::var(name).map_or_else(|_| Vec::new(), |v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
}

/// Built as the bus builds a bus's matcher: every rule added, then compacted.
fn ours(rules: &[Value]) -> Matcher<usize> {
    let mut m = Matcher::new();
    for (i, r) in rules.iter().enumerate() {
        m.add_rule(i, &Pattern::parse(r).expect("bench patterns are valid"));
    }
    m.compact();
    m
}

fn quamina(rules: &[Value]) -> Quamina<usize> {
    // The default 10 MB automaton budget is too small for 100 000 rules.
    let mut q = QuaminaBuilder::new().with_arena_byte_budget(1 << 32).build().expect("quamina builder");
    for (i, r) in rules.iter().enumerate() {
        q.add_pattern(i, &r.to_string()).expect("quamina accepts the shared patterns");
    }
    q
}

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, n: usize, events: usize) {
    group.throughput(Throughput::Elements(events as u64));
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(if n >= 100_000 { 4 } else { 3 }));
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    let avg = corpus.bytes.iter().map(Vec::len).sum::<usize>() / EVENTS;
    eprintln!("corpus: {EVENTS} events, {avg} bytes on average");
    // The events each measurement cycles through: all, or the first few (the rules
    // stay the same), to see what cold caches cost.
    let cycled = env_list("MATCHER_BENCH_EVENTS").first().map_or(EVENTS, |&k| k.clamp(1, EVENTS));
    let (values, bytes) = (&corpus.values[..cycled], &corpus.bytes[..cycled]);
    let mut sizes = env_list("MATCHER_BENCH_SIZES");
    if sizes.is_empty() {
        sizes = SIZES.to_vec();
    }
    for n in sizes {
        let shared = rules(n, 11, &corpus);
        let started = Instant::now();
        let m = ours(&shared);
        let ours_setup = started.elapsed();
        let started = Instant::now();
        let q = quamina(&shared);
        eprintln!("shared_{n}: setup ours {ours_setup:.2?}, quamina {:.2?}", started.elapsed());
        let (mut ours_hits, mut quamina_hits) = (0, 0);
        for (value, bytes) in corpus.values.iter().zip(&corpus.bytes) {
            let mine = m.matches(value);
            let mut theirs = q.matches_for_event(bytes).expect("valid event");
            theirs.sort_unstable();
            theirs.dedup();
            if mine != theirs {
                eprintln!("  engines disagree: ours {mine:?}, quamina {theirs:?} on {value}");
            }
            ours_hits += mine.len();
            quamina_hits += theirs.len();
        }
        eprintln!("  matches over the {EVENTS} events: ours {ours_hits}, quamina {quamina_hits}");
        if n <= 1_000 {
            let patterns: Vec<Pattern> = shared.iter().map(|r| Pattern::parse(r).expect("valid")).collect();
            for v in corpus.values.iter().take(100) {
                let want: Vec<usize> = (0..n).filter(|&i| patterns[i].matches(v)).collect();
                assert_eq!(m.matches(v), want, "matcher disagrees with the reference evaluator");
            }
        }

        let mut group = c.benchmark_group(format!("shared_{n}"));
        configure(&mut group, n, cycled);
        group.bench_function("ours", |b| b.iter(|| values.iter().map(|e| m.matches(e).len()).sum::<usize>()));
        group.bench_function("ours_with_parse", |b| {
            b.iter(|| {
                let parse = |raw: &Vec<u8>| serde_json::from_slice::<Value>(raw).expect("valid");
                bytes.iter().map(|e| m.matches(&parse(e)).len()).sum::<usize>()
            })
        });
        group.bench_function("quamina", |b| {
            b.iter(|| bytes.iter().map(|e| q.matches_for_event(e).map_or(0, |v| v.len())).sum::<usize>())
        });
        group.finish();
        drop((m, q));

        let extended = ours(&rules(n, 14, &corpus));
        let mut group = c.benchmark_group(format!("extended_{n}"));
        configure(&mut group, n, cycled);
        group.bench_function("ours", |b| {
            b.iter(|| black_box(values).iter().map(|e| extended.matches(e).len()).sum::<usize>())
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
