//! Random patterns and events over small alphabets, so that matches actually happen.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};

const KEYS: &[&str] = &["a", "b", "c"];
const STRINGS: &[&str] = &["", "a", "b", "ab", "ba", "abc", "A", "aB", "10.0.0.1", "10.0.1.7", "::1", "a*b", "É", "é"];
const NUMBERS: &[f64] = &[-1.0, 0.0, 0.5, 1.0, 2.0, 2.5, 5.0];

fn key() -> impl Strategy<Value = String> {
    select(KEYS).prop_map(str::to_string)
}

fn string() -> impl Strategy<Value = Value> {
    select(STRINGS).prop_map(|s| json!(s))
}

/// Numbers as integers or floats, so `5` and `5.0` both occur.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![select(NUMBERS).prop_map(|n| json!(n)), select(&[-1i64, 0, 1, 2, 5][..]).prop_map(|n| json!(n)),]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => string(),
        3 => number(),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ]
}

/// An object over [`KEYS`], each key present with probability `p`.
fn object_of(inner: impl Strategy<Value = Value> + Clone, p: f64) -> impl Strategy<Value = Value> {
    let slots: Vec<_> = KEYS.iter().map(|_| prop::option::weighted(p, inner.clone())).collect();
    slots.prop_map(|values| {
        let map: Map<String, Value> =
            KEYS.iter().zip(values).filter_map(|(k, v)| v.map(|v| (k.to_string(), v))).collect();
        Value::Object(map)
    })
}

/// An event: an object whose values nest objects and arrays (of objects, arrays
/// and scalars) a few levels deep.
pub fn event() -> impl Strategy<Value = Value> {
    let value = scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array), object_of(inner, 0.7),]
    });
    object_of(value, 0.9)
}

fn wildcard() -> impl Strategy<Value = &'static str> {
    select(&["*", "a*", "*b", "a*b", "*a*", "ab", r"a\*b", "A*", "*.1", "1*.*", ""][..])
}

/// One value matcher of every kind the language has.
pub fn matcher() -> impl Strategy<Value = Value> {
    let text = || select(STRINGS);
    prop_oneof![
        3 => scalar(),
        1 => select(&["", "a", "ab", "b", "10.", "A"][..]).prop_map(|s| json!({"prefix": s})),
        1 => select(&["a", "AB", "É", "b"][..]).prop_map(|s| json!({"prefix": {"equals-ignore-case": s}})),
        1 => select(&["", "b", "ab", "a", ".1"][..]).prop_map(|s| json!({"suffix": s})),
        1 => select(&["B", "Ab", "é", ".1"][..]).prop_map(|s| json!({"suffix": {"equals-ignore-case": s}})),
        1 => select(&["a", "AB", "É", "aB", ""][..]).prop_map(|s| json!({"equals-ignore-case": s})),
        1 => wildcard().prop_map(|s| json!({"wildcard": s})),
        1 => text().prop_map(|s| json!({"anything-but": s})),
        1 => number().prop_map(|n| json!({"anything-but": n})),
        1 => prop::collection::vec(prop_oneof![string(), number()], 1..3).prop_map(|l| json!({"anything-but": l})),
        1 => select(&["a", "b", "10."][..]).prop_map(|s| json!({"anything-but": {"prefix": s}})),
        1 => select(&["a", "b", ".1"][..]).prop_map(|s| json!({"anything-but": {"suffix": s}})),
        1 => prop_oneof![
            wildcard().prop_map(|w| json!(w)),
            prop::collection::vec(wildcard(), 1..3).prop_map(|w| json!(w)),
        ].prop_map(|w| json!({"anything-but": {"wildcard": w}})),
        1 => prop_oneof![
            text().prop_map(|s| json!(s)),
            prop::collection::vec(text(), 1..3).prop_map(|l| json!(l)),
        ].prop_map(|s| json!({"anything-but": {"equals-ignore-case": s}})),
        2 => numeric(),
        1 => select(&["10.0.0.0/24", "10.0.0.0/8", "::/0", "::1/128", "10.0.1.0/24", "0.0.0.0/0"][..])
            .prop_map(|c| json!({"cidr": c})),
        2 => any::<bool>().prop_map(|b| json!({"exists": b})),
    ]
}

fn numeric() -> impl Strategy<Value = Value> {
    let one =
        (select(&["=", "<", "<=", ">", ">="][..]), select(NUMBERS)).prop_map(|(op, n)| json!({"numeric": [op, n]}));
    let range = (select(&[">", ">="][..]), select(NUMBERS), select(&["<", "<="][..]), select(NUMBERS))
        .prop_filter_map("lower bound below upper", |(lo_op, lo, hi_op, hi)| {
            (lo < hi).then(|| json!({"numeric": [lo_op, lo, hi_op, hi]}))
        });
    prop_oneof![one, range]
}

fn match_array() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => prop::collection::vec(matcher(), 1..5).prop_map(Value::Array),
        1 => Just(json!([])),
    ]
}

/// A pattern object of the given nesting depth, sometimes with `$or`.
pub fn pattern(depth: u32) -> BoxedStrategy<Value> {
    let field = if depth == 0 {
        match_array().boxed()
    } else {
        prop_oneof![3 => match_array(), 1 => pattern(depth - 1)].boxed()
    };
    let fields = prop::collection::btree_map(key(), field, 1..3);
    if depth == 0 {
        return fields.prop_map(|m| Value::Object(m.into_iter().collect())).boxed();
    }
    let alternatives = prop::option::weighted(0.3, prop::collection::vec(pattern(depth - 1), 2..4));
    (fields, alternatives)
        .prop_map(|(fields, alternatives)| {
            let mut obj: Map<String, Value> = fields.into_iter().collect();
            if let Some(alts) = alternatives {
                obj.insert("$or".into(), Value::Array(alts));
            }
            Value::Object(obj)
        })
        .boxed()
}

/// Tiny deterministic generator for [`witness`] (proptest supplies the seed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[(self.next() as usize) % items.len()]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// An event built to satisfy `pattern` (one matcher of each field, one `$or`
/// alternative) on top of the random event `base`, then perturbed: values are
/// sometimes wrapped in arrays and objects sometimes split across array elements
/// (which breaks array consistency), so both outcomes occur.
pub fn witness(pattern: &Value, seed: u64, base: &Value) -> Value {
    let mut rng = Lcg(seed);
    let mut event = base.clone();
    if let (Value::Object(p), Value::Object(e)) = (pattern, &mut event) {
        fill(p, &mut rng, e);
    }
    perturb(&mut event, &mut rng);
    event
}

fn fill(pattern: &Map<String, Value>, rng: &mut Lcg, event: &mut Map<String, Value>) {
    for (key, spec) in pattern {
        match spec {
            Value::Array(alts) if key == "$or" => {
                if let Value::Object(alt) = rng.pick(alts) {
                    fill(alt, rng, event);
                }
            }
            Value::Object(inner) => {
                let slot = event.entry(key.clone()).or_insert_with(|| json!({}));
                if !slot.is_object() {
                    *slot = json!({});
                }
                if let Value::Object(obj) = slot {
                    fill(inner, rng, obj);
                }
            }
            Value::Array(matchers) if !matchers.is_empty() => match satisfy(rng.pick(matchers), rng) {
                Some(v) => {
                    event.insert(key.clone(), v);
                }
                None => {
                    event.remove(key);
                }
            },
            _ => {}
        }
    }
}

/// A value likely accepted by one matcher; `None` for `exists: false`.
fn satisfy(matcher: &Value, rng: &mut Lcg) -> Option<Value> {
    let Value::Object(op) = matcher else {
        return Some(matcher.clone());
    };
    let (name, arg) = op.iter().next()?;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => o.values().next().and_then(Value::as_str).unwrap_or("").to_uppercase(),
        _ => String::new(),
    };
    let fill_in = *rng.pick(&["", "x", "b", "A"]);
    let value = match name.as_str() {
        "prefix" => json!(format!("{}{fill_in}", text(arg))),
        "suffix" => json!(format!("{fill_in}{}", text(arg))),
        "equals-ignore-case" => json!(text(arg).to_uppercase()),
        "wildcard" => {
            let w = arg.as_str().unwrap_or("");
            json!(w.replace(r"\*", "\u{1}").replace('*', fill_in).replace('\u{1}', "*"))
        }
        "numeric" => {
            let nums: Vec<f64> = arg.as_array()?.iter().filter_map(Value::as_f64).collect();
            let ops: Vec<&str> = arg.as_array()?.iter().filter_map(Value::as_str).collect();
            let x = match (nums.as_slice(), ops.first()) {
                ([lo, hi], _) => (lo + hi) / 2.0,
                ([n], Some(&">")) => n + 0.5,
                ([n], Some(&"<")) => n - 0.5,
                ([n], _) => *n,
                _ => 0.0,
            };
            json!(x)
        }
        "cidr" => json!(if arg.as_str()?.contains(':') { "::1" } else { *rng.pick(&["10.0.0.1", "10.0.1.7"]) }),
        "exists" if arg == &json!(false) => return None,
        _ => json!(*rng.pick(STRINGS)),
    };
    Some(value)
}

fn perturb(value: &mut Value, rng: &mut Lcg) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                perturb(v, rng);
            }
            if map.len() >= 2 && rng.chance(8) {
                // Split the object's fields over two array elements.
                let (left, right): (Vec<_>, Vec<_>) =
                    std::mem::take(map).into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
                let half =
                    |kv: Vec<(usize, (String, Value))>| Value::Object(kv.into_iter().map(|(_, kv)| kv).collect());
                *value = json!([half(left), half(right)]);
            } else if rng.chance(15) {
                *value = json!([value.take(), {"a": "ab"}]);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| perturb(v, rng)),
        scalar => {
            if rng.chance(15) {
                *scalar = json!([scalar.take(), *rng.pick(STRINGS)]);
            }
        }
    }
}
