//! Leaf values of events and the value operators of patterns, with the direct
//! (unindexed) predicate of every operator. The compiled matcher indexes the same
//! operators; the reference evaluator calls [`Op::matches`] directly.

use std::cmp::Ordering;
use std::net::IpAddr;

use super::operand::wildcard_reference;
pub(crate) use super::operand::{Cidr, Glob, NumRange};

/// One leaf value of a flattened event. Objects and arrays never appear here.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Leaf<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(&'a str),
}

impl<'a> Leaf<'a> {
    /// The leaf for a scalar JSON value; `None` for objects and arrays.
    pub(crate) fn from_json(value: &'a serde_json::Value) -> Option<Leaf<'a>> {
        use serde_json::Value;
        match value {
            Value::Null => Some(Leaf::Null),
            Value::Bool(b) => Some(Leaf::Bool(*b)),
            // Invariant: without `arbitrary_precision` every Number has an f64 view.
            Value::Number(n) => n.as_f64().map(Leaf::Num),
            Value::String(s) => Some(Leaf::Str(s)),
            Value::Array(_) | Value::Object(_) => None,
        }
    }
}

/// An f64 with total equality/order (`-0.0 == 0.0`), so operators can be hashed,
/// sorted and deduplicated. JSON never yields NaN.
#[derive(Clone, Copy, Debug)]
pub(crate) struct F64(pub(crate) f64);

impl F64 {
    /// Canonical bits: equal numbers (5 and 5.0, 0 and -0) have equal bits.
    pub(crate) fn bits(self) -> u64 {
        num_bits(self.0)
    }
}
impl PartialEq for F64 {
    fn eq(&self, other: &Self) -> bool {
        self.bits() == other.bits()
    }
}
impl Eq for F64 {}
impl std::hash::Hash for F64 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bits().hash(state);
    }
}
impl PartialOrd for F64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for F64 {
    fn cmp(&self, other: &Self) -> Ordering {
        ordered_bits(self.0).cmp(&ordered_bits(other.0))
    }
}

/// Canonical bit pattern of a number, used as the hash key of exact numbers.
pub(crate) fn num_bits(x: f64) -> u64 {
    if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

/// Bits of `x` mapped so that unsigned order equals numeric order.
pub(crate) fn ordered_bits(x: f64) -> u64 {
    let b = num_bits(x);
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// Case folding used by every ignore-case operator: per-character Unicode lowercase.
/// Per character (not `str::to_lowercase`, which is context sensitive for final
/// sigma) so that `fold(a + b) == fold(a) + fold(b)`, which prefix/suffix need.
pub(crate) fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// A literal match value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Num(F64),
    Str(String),
}

/// What an `anything-but` excludes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Excluded {
    /// Exact strings and numbers (sorted, deduplicated).
    Values {
        strings: Vec<String>,
        numbers: Vec<F64>,
    },
    Prefix(String),
    Suffix(String),
    Wildcard(Vec<Glob>),
    /// Folded strings compared with the folded value.
    EqualsIgnoreCase(Vec<String>),
}

impl Excluded {
    /// Whether the leaf is one of the excluded values. Following event-ruler, only a
    /// string can be excluded by a string form and only a number by a number, so any
    /// other present value (null, booleans, the other type) is "anything but" it.
    pub(crate) fn excludes(&self, leaf: &Leaf<'_>) -> bool {
        match (self, leaf) {
            (Excluded::Values { strings, .. }, Leaf::Str(s)) => strings.iter().any(|x| x == s),
            (Excluded::Values { numbers, .. }, Leaf::Num(x)) => numbers.iter().any(|n| n.0 == *x),
            (Excluded::Prefix(p), Leaf::Str(s)) => s.starts_with(p.as_str()),
            (Excluded::Suffix(p), Leaf::Str(s)) => s.ends_with(p.as_str()),
            (Excluded::Wildcard(globs), Leaf::Str(s)) => globs.iter().any(|g| wildcard_reference(&g.pieces, s)),
            (Excluded::EqualsIgnoreCase(list), Leaf::Str(s)) => {
                let f = fold(s);
                list.contains(&f)
            }
            _ => false,
        }
    }
}

/// One value matcher of a pattern leaf array.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Op {
    Literal(Literal),
    Prefix(String),
    /// Folded prefix.
    PrefixIgnoreCase(String),
    Suffix(String),
    /// Folded suffix.
    SuffixIgnoreCase(String),
    /// Folded value.
    EqualsIgnoreCase(String),
    Wildcard(Glob),
    AnythingBut(Excluded),
    Numeric(NumRange),
    Cidr(Cidr),
    Exists(bool),
}

impl Op {
    /// Whether this operator accepts one present leaf value. `exists: false` never
    /// accepts a value (it is satisfied by absence, which the callers check).
    pub(crate) fn matches(&self, leaf: &Leaf<'_>) -> bool {
        match (self, leaf) {
            (Op::Literal(Literal::Null), Leaf::Null) => true,
            (Op::Literal(Literal::Bool(a)), Leaf::Bool(b)) => a == b,
            (Op::Literal(Literal::Num(a)), Leaf::Num(b)) => a.0 == *b,
            (Op::Literal(Literal::Str(a)), Leaf::Str(b)) => a == b,
            (Op::Prefix(p), Leaf::Str(s)) => s.starts_with(p.as_str()),
            (Op::Suffix(p), Leaf::Str(s)) => s.ends_with(p.as_str()),
            (Op::PrefixIgnoreCase(p), Leaf::Str(s)) => fold(s).starts_with(p.as_str()),
            (Op::SuffixIgnoreCase(p), Leaf::Str(s)) => fold(s).ends_with(p.as_str()),
            (Op::EqualsIgnoreCase(p), Leaf::Str(s)) => fold(s) == *p,
            (Op::Wildcard(g), Leaf::Str(s)) => wildcard_reference(&g.pieces, s),
            (Op::AnythingBut(x), leaf) => !x.excludes(leaf),
            (Op::Numeric(r), Leaf::Num(x)) => r.contains(*x),
            (Op::Cidr(c), Leaf::Str(s)) => s.parse::<IpAddr>().is_ok_and(|a| c.contains(a)),
            (Op::Exists(e), _) => *e,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_keys_are_canonical_and_ordered() {
        assert_eq!(num_bits(0.0), num_bits(-0.0));
        assert_eq!(F64(5.0), F64(5.0_f64));
        let xs = [-1e300, -2.5, -0.0, 1e-300, 3.0, 1e300];
        for w in xs.windows(2) {
            assert!(ordered_bits(w[0]) < ordered_bits(w[1]), "{w:?}");
        }
    }

    #[test]
    fn fold_is_per_character() {
        assert_eq!(fold("ΣΑΣ"), "σασ");
        assert_eq!(fold("ABC"), "abc");
    }
}
