//! The value index of one (state, path) of the compiled automaton: given one leaf
//! value, which transitions (target states) does it enable? Every structure is a
//! hash or sorted lookup, so the cost depends on the value and on how many
//! transitions it enables, not on how many transitions exist.

use std::net::IpAddr;

use super::affix::{AffixMap, AnythingBut, GlobIndex};
use super::collections::{IdMap, Key};
use super::interval::{numeric_bounds, point, Hints, IntervalSet};
use super::value::{num_bits, Leaf, Literal, Op};

/// Reusable buffers for lookups. Invariant: `hints` belong to the one index being
/// probed; [`LookupScratch::start`] must be called before probing another.
#[derive(Default)]
pub(crate) struct LookupScratch {
    candidates: Vec<u32>,
    excluded: Vec<u32>,
    folded: String,
    hints: Hints<u64>,
}

impl LookupScratch {
    /// Prepares for a run of lookups on one index.
    pub(crate) fn start(&mut self) {
        self.hints.clear();
    }
}

/// Invariant (memory): every vector here grows by exactly one element at a time,
/// since there is one index per (state, path) and most hold a single transition.
#[derive(Debug, Default)]
pub(crate) struct ValueIndex {
    strings: IdMap<Key>,
    /// Keyed by [`num_bits`], so 5 and 5.0 share a key.
    numbers: IdMap<u64>,
    /// `null`, `true`, `false`, `exists: true` and `exists: false` transitions.
    specials: Vec<(Special, u32)>,
    /// One entry per kind of other operator present (usually none).
    extra: Vec<Extra>,
    /// Some entry of `extra` looks up the folded (lowercased) value.
    folds: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Special {
    Null,
    True,
    False,
    /// `exists: true`: taken for any leaf value.
    Exists,
    /// `exists: false`: taken when the event has no leaf at the path at all.
    Absent,
}

impl Special {
    fn accepts(self, leaf: &Leaf<'_>) -> bool {
        matches!(
            (self, leaf),
            (Special::Exists, _)
                | (Special::Null, Leaf::Null)
                | (Special::True, Leaf::Bool(true))
                | (Special::False, Leaf::Bool(false))
        )
    }
}

/// The index of one kind of operator; large ones are boxed to keep `Extra` small.
#[derive(Debug)]
enum Extra {
    Prefix(AffixMap),
    Suffix(AffixMap),
    /// Folded keys, looked up with the folded value.
    PrefixFold(AffixMap),
    SuffixFold(AffixMap),
    EqualsFold(IdMap<Key>),
    Wildcard(Box<GlobIndex>),
    Numeric(Box<IntervalSet<u64>>),
    CidrV4(Box<IntervalSet<u64>>),
    CidrV6(Box<IntervalSet<u128>>),
    AnythingBut(Box<AnythingBut>),
}

impl Extra {
    /// Index of the variant, to find an existing entry of the same kind.
    fn kind(&self) -> u8 {
        match self {
            Extra::Prefix(_) => 0,
            Extra::Suffix(_) => 1,
            Extra::PrefixFold(_) => 2,
            Extra::SuffixFold(_) => 3,
            Extra::EqualsFold(_) => 4,
            Extra::Wildcard(_) => 5,
            Extra::Numeric(_) => 6,
            Extra::CidrV4(_) => 7,
            Extra::CidrV6(_) => 8,
            Extra::AnythingBut(_) => 9,
        }
    }

    fn folds(&self) -> bool {
        match self {
            Extra::PrefixFold(_) | Extra::SuffixFold(_) | Extra::EqualsFold(_) => true,
            Extra::AnythingBut(ab) => !ab.equals_fold.is_empty(),
            _ => false,
        }
    }
}

/// Pushes onto a vector that is usually tiny, without over-allocating.
fn push_exact<T>(v: &mut Vec<T>, item: T) {
    if v.len() == v.capacity() && v.len() < 8 {
        v.reserve_exact(1);
    }
    v.push(item);
}

impl ValueIndex {
    /// Registers that a leaf accepted by `op` enables the transition to `target`.
    pub(crate) fn insert(&mut self, op: &Op, target: u32) {
        let special = |s| (s, target);
        match op {
            Op::Literal(Literal::Null) => push_exact(&mut self.specials, special(Special::Null)),
            Op::Literal(Literal::Bool(true)) => push_exact(&mut self.specials, special(Special::True)),
            Op::Literal(Literal::Bool(false)) => push_exact(&mut self.specials, special(Special::False)),
            Op::Exists(true) => push_exact(&mut self.specials, special(Special::Exists)),
            Op::Exists(false) => push_exact(&mut self.specials, special(Special::Absent)),
            Op::Literal(Literal::Num(n)) => self.numbers.push(n.bits(), target),
            Op::Literal(Literal::Str(s)) => self.strings.push(Key::new(s), target),
            Op::Numeric(r) => match (r.lower, r.upper) {
                // `["=", n]` is exactly the literal number n.
                (Some((lo, true)), Some((hi, true))) if lo == hi => self.numbers.push(lo.bits(), target),
                _ => {
                    let (lo, hi) = numeric_bounds(r);
                    if let Extra::Numeric(set) = self.slot(|| Extra::Numeric(Box::default())) {
                        set.insert(lo, hi, target);
                    }
                }
            },
            Op::Prefix(p) => {
                if let Extra::Prefix(m) = self.slot(|| Extra::Prefix(AffixMap::default())) {
                    m.insert(p, target);
                }
            }
            Op::Suffix(p) => {
                if let Extra::Suffix(m) = self.slot(|| Extra::Suffix(AffixMap::default())) {
                    m.insert(p, target);
                }
            }
            Op::PrefixIgnoreCase(p) => {
                if let Extra::PrefixFold(m) = self.slot(|| Extra::PrefixFold(AffixMap::default())) {
                    m.insert(p, target);
                }
            }
            Op::SuffixIgnoreCase(p) => {
                if let Extra::SuffixFold(m) = self.slot(|| Extra::SuffixFold(AffixMap::default())) {
                    m.insert(p, target);
                }
            }
            Op::EqualsIgnoreCase(p) => {
                if let Extra::EqualsFold(m) = self.slot(|| Extra::EqualsFold(IdMap::default())) {
                    m.push(Key::new(p), target);
                }
            }
            Op::Wildcard(g) => {
                if let Extra::Wildcard(w) = self.slot(|| Extra::Wildcard(Box::default())) {
                    w.insert(g, target);
                }
            }
            Op::Cidr(c) => {
                let (lo, hi) = c.range();
                match (c.v6, u64::try_from(lo), u64::try_from(hi)) {
                    (false, Ok(lo), Ok(hi)) => {
                        if let Extra::CidrV4(set) = self.slot(|| Extra::CidrV4(Box::default())) {
                            set.insert(lo, hi, target);
                        }
                    }
                    _ => {
                        if let Extra::CidrV6(set) = self.slot(|| Extra::CidrV6(Box::default())) {
                            set.insert(lo, hi, target);
                        }
                    }
                }
            }
            Op::AnythingBut(x) => {
                if let Extra::AnythingBut(ab) = self.slot(|| Extra::AnythingBut(Box::default())) {
                    ab.insert(x, target);
                }
            }
        }
        self.folds = self.extra.iter().any(Extra::folds);
    }

    /// The entry of the kind `make` builds, created if missing.
    fn slot(&mut self, make: impl FnOnce() -> Extra) -> &mut Extra {
        let fresh = make();
        let at = match self.extra.iter().position(|e| e.kind() == fresh.kind()) {
            Some(at) => at,
            None => {
                push_exact(&mut self.extra, fresh);
                self.extra.len() - 1
            }
        };
        &mut self.extra[at]
    }

    /// Targets of `exists: false` transitions.
    pub(crate) fn absent(&self) -> impl Iterator<Item = u32> + '_ {
        self.specials.iter().filter(|(k, _)| *k == Special::Absent).map(|&(_, t)| t)
    }

    /// Appends the target of every transition `leaf` enables (possibly repeated).
    pub(crate) fn lookup(&self, leaf: &Leaf<'_>, sc: &mut LookupScratch, out: &mut Vec<u32>) {
        for &(special, target) in &self.specials {
            if special.accepts(leaf) {
                out.push(target);
            }
        }
        match leaf {
            Leaf::Num(x) if !self.numbers.is_empty() => {
                if let Some(ids) = self.numbers.get(&num_bits(*x)) {
                    ids.append_to(out);
                }
            }
            Leaf::Str(s) if !self.strings.is_empty() => {
                if let Some(ids) = self.strings.get(s.as_bytes()) {
                    ids.append_to(out);
                }
            }
            _ => {}
        }
        if self.extra.is_empty() {
            return;
        }
        let LookupScratch { candidates, excluded, folded, hints } = sc;
        folded.clear();
        if let (true, Leaf::Str(s)) = (self.folds, leaf) {
            folded.extend(s.chars().flat_map(char::to_lowercase));
        }
        for extra in &self.extra {
            match (extra, leaf) {
                (Extra::Numeric(set), Leaf::Num(x)) => {
                    let before = out.len();
                    set.stab_near(point(*x), hints, out);
                    super::event::STATS[1].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    super::event::STATS[2].fetch_add(out.len() - before, std::sync::atomic::Ordering::Relaxed);
                }
                (Extra::Prefix(m), Leaf::Str(s)) => m.prefixes_of(s, out),
                (Extra::Suffix(m), Leaf::Str(s)) => m.suffixes_of(s, out),
                (Extra::PrefixFold(m), Leaf::Str(_)) => m.prefixes_of(folded, out),
                (Extra::SuffixFold(m), Leaf::Str(_)) => m.suffixes_of(folded, out),
                (Extra::EqualsFold(m), Leaf::Str(_)) => {
                    if let Some(ids) = m.get(folded.as_bytes()) {
                        ids.append_to(out);
                    }
                }
                (Extra::Wildcard(w), Leaf::Str(s)) => w.matches(s, candidates, out),
                (Extra::CidrV4(set), Leaf::Str(s)) => {
                    if let Ok(IpAddr::V4(a)) = s.parse::<IpAddr>() {
                        set.stab(u64::from(u32::from(a)), out);
                    }
                }
                (Extra::CidrV6(set), Leaf::Str(s)) => {
                    if let Ok(IpAddr::V6(a)) = s.parse::<IpAddr>() {
                        set.stab(u128::from(a), out);
                    }
                }
                (Extra::AnythingBut(ab), _) => ab.enabled(leaf, folded, candidates, excluded, out),
                _ => {}
            }
        }
    }
}
