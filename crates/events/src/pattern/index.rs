//! The index of one (state, path) of the compiled automaton: given one leaf value,
//! which transitions (target states) does it enable? Keyed operators live in the
//! shared [`Table`]; this index records which tags it has there, and holds the
//! operators that need more than a probe (ranges, wildcard verification,
//! `anything-but`). Every structure is a hash or sorted lookup, so the cost depends
//! on the value and on how many transitions it enables, not on how many exist.

use std::net::IpAddr;

use super::affix::{AnythingBut, ExcludedOne, PackedGlob};
use super::bloom::{small_bit, Bloom};
use super::collections::SmallList;
use super::interval::{numeric_bounds, point, Hints, IntervalSet};
use super::table::{key_hash, Probe, Table, Tag};
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

/// Bits of `PathIndex::extra`: which parts of `Other` beyond its first cache line
/// (and `REST`: within it) are non-empty, so a lookup reads only those.
const RANGES: u8 = 1;
const SCAN: u8 = 2;
const REST: u8 = 4;
const CIDR: u8 = 8;

const FOLDED: u16 = Tag::PrefixFold.bit() | Tag::SuffixFold.bit() | Tag::EqualsFold.bit();

/// The transitions of one (state, path): 24 bytes, so that a state with one path
/// fits one cache line with it.
#[derive(Clone, Debug)]
pub(crate) struct PathIndex {
    pub(crate) path: u32,
    /// The [`Tag::bit`]s of the keys the table holds for this (state, path).
    pub(crate) tags: u16,
    /// Whether some lookup needs the folded (lowercased) value.
    folds: bool,
    /// What `other` holds beyond a Bloom filter: `RANGES`, `SCAN`, `REST` bits (0:
    /// nothing). Invariant: recomputed after every change to `other`.
    extra: u8,
    /// A one-word Bloom filter ([`small_bit`]) of the keys in the table, so that most
    /// values without a transition are rejected without probing it; replaced by
    /// `Other::bloom` once it fills up.
    bloom: u64,
    other: Option<Box<Other>>,
}

/// Operators beyond table probes; absent in most indexes. The first cache line
/// holds everything a string lookup usually reads (the Bloom filter, the affix
/// lengths, `anything-but`, a lone short `anything-but` itself), so that one miss
/// brings it all; what follows is read only when `PathIndex::extra` or a table hit
/// says it is needed.
#[derive(Clone, Debug, Default)]
#[repr(C, align(64))]
struct Other {
    /// The Bloom filter of the keys in the table, once there are too many for `PathIndex::bloom`.
    bloom: Option<Bloom>,
    /// `(tag, key length)` of the affix and wildcard keys in the table, sorted.
    /// Inline while there is one (the usual case), so reading it reads no other line.
    lens: SmallList<(Tag, u32)>,
    anything_but: Option<Box<AnythingBut>>,
    /// Invariant: set only while `anything_but` is not (the first exclusion, while
    /// it is the only one and short).
    excluded_one: Option<ExcludedOne>,
    numeric: LineStart<IntervalSet<u64>>,
    cidr: Option<Box<(IntervalSet<u64>, IntervalSet<u128>)>>,
    /// The mixed hashes of the keys in `bloom`, to rebuild it as it grows.
    bloom_keys: Vec<u64>,
    /// Glob id -> glob; the table maps wildcard heads and tails to glob ids.
    globs: Vec<PackedGlob>,
    /// Globs with neither a literal head nor tail (`*x*`), checked for every value.
    scan: Vec<u32>,
}

/// A field that starts a cache line (so reading it alone reads one line).
#[derive(Clone, Debug, Default)]
#[repr(align(64))]
struct LineStart<T>(T);

/// The table key of an operator whose transitions are table entries to the target
/// state (not wildcards, whose table entries lead to glob ids), if it has one.
pub(crate) fn table_key(op: &Op) -> Option<(Tag, Vec<u8>)> {
    Some(match op {
        Op::Literal(Literal::Null) => (Tag::Null, Vec::new()),
        Op::Literal(Literal::Bool(true)) => (Tag::True, Vec::new()),
        Op::Literal(Literal::Bool(false)) => (Tag::False, Vec::new()),
        Op::Exists(true) => (Tag::Exists, Vec::new()),
        Op::Exists(false) => (Tag::Absent, Vec::new()),
        Op::Literal(Literal::Num(n)) => (Tag::Num, n.bits().to_le_bytes().to_vec()),
        Op::Literal(Literal::Str(s)) => (Tag::Str, s.as_bytes().to_vec()),
        Op::EqualsIgnoreCase(s) => (Tag::EqualsFold, s.as_bytes().to_vec()),
        // `["=", n]` is exactly the literal number n.
        Op::Numeric(r) if r.lower == r.upper && matches!(r.lower, Some((_, true))) => {
            (Tag::Num, r.lower.map_or(0, |(n, _)| n.bits()).to_le_bytes().to_vec())
        }
        Op::Prefix(p) => (Tag::Prefix, p.as_bytes().to_vec()),
        Op::Suffix(p) => (Tag::Suffix, p.as_bytes().to_vec()),
        Op::PrefixIgnoreCase(p) => (Tag::PrefixFold, p.as_bytes().to_vec()),
        Op::SuffixIgnoreCase(p) => (Tag::SuffixFold, p.as_bytes().to_vec()),
        Op::Numeric(_) | Op::Wildcard(_) | Op::Cidr(_) | Op::AnythingBut(_) => return None,
    })
}

impl PathIndex {
    pub(crate) fn new(path: u32) -> PathIndex {
        PathIndex { path, tags: 0, folds: false, extra: 0, bloom: 0, other: None }
    }

    /// Registers that a leaf accepted by `op` enables `state -> target`.
    pub(crate) fn insert(&mut self, table: &mut Table, state: u32, op: &Op, target: u32) {
        if let Some((tag, key)) = table_key(op) {
            self.add_key(table, state, tag, &key, target);
            if matches!(tag, Tag::Prefix | Tag::Suffix | Tag::PrefixFold | Tag::SuffixFold) {
                self.add_len(tag, key.len());
            }
        }
        match op {
            Op::Numeric(r) if table_key(op).is_none() => {
                let (lo, hi) = numeric_bounds(r);
                self.other().numeric.0.insert(lo, hi, target);
            }
            Op::Wildcard(g) => {
                let globs = &mut self.other().globs;
                let id = u32::try_from(globs.len()).unwrap_or(u32::MAX);
                globs.push(PackedGlob::new(g, target));
                let (head, tail) = (g.pieces.first(), g.pieces.last().filter(|_| g.pieces.len() > 1));
                match (head.filter(|h| !h.is_empty()), tail.filter(|t| !t.is_empty())) {
                    (Some(key), _) | (None, Some(key)) => {
                        let tag = if head.is_some_and(|h| !h.is_empty()) { Tag::WildHead } else { Tag::WildTail };
                        self.add_key(table, state, tag, key.as_bytes(), id);
                        self.add_len(tag, key.len());
                    }
                    (None, None) => self.other().scan.push(id),
                }
            }
            Op::Cidr(c) => {
                let (lo, hi) = c.range();
                let cidr = self.other().cidr.get_or_insert_with(Box::default);
                match (c.v6, u64::try_from(lo), u64::try_from(hi)) {
                    (false, Ok(lo), Ok(hi)) => cidr.0.insert(lo, hi, target),
                    _ => cidr.1.insert(lo, hi, target),
                }
            }
            Op::AnythingBut(x) => {
                let other = self.other();
                match ExcludedOne::new(x, target) {
                    Some(one) if other.anything_but.is_none() && other.excluded_one.is_none() => {
                        other.excluded_one = Some(one);
                    }
                    _ => {
                        let ab = other.anything_but.get_or_insert_with(Box::default);
                        if let Some(one) = other.excluded_one.take() {
                            ab.insert(&one.excluded(), one.target());
                            ab.set_accept(one.target(), one.accept());
                        }
                        ab.insert(x, target);
                        self.folds |= ab.folds();
                    }
                }
            }
            _ => {}
        }
        self.folds |= self.tags & FOLDED != 0;
        self.extra = match &self.other {
            None => 0,
            Some(o) => {
                let rest = !o.lens.as_slice().is_empty()
                    || !o.globs.is_empty()
                    || o.anything_but.is_some()
                    || o.excluded_one.is_some();
                let bit = |set: bool, bit: u8| if set { bit } else { 0 };
                bit(!o.numeric.0.is_empty(), RANGES)
                    | bit(!o.scan.is_empty(), SCAN)
                    | bit(rest, REST)
                    | bit(o.cidr.is_some(), CIDR)
            }
        };
    }

    /// Inserts a table key, and notes it in the Bloom filter.
    fn add_key(&mut self, table: &mut Table, state: u32, tag: Tag, key: &[u8], target: u32) {
        table.insert(state, self.path, tag, key, target);
        self.tags |= tag.bit();
        let hash = key_hash(key);
        if let Some(Other { bloom: Some(bloom), bloom_keys, .. }) = self.other.as_deref_mut() {
            return bloom.insert(bloom_keys, tag, hash);
        }
        self.bloom |= small_bit(tag, hash);
        if self.bloom.count_ones() >= 24 {
            let keys = table.keys_at(state, self.path);
            let other = self.other();
            other.bloom = Some(Bloom::new(keys, &mut other.bloom_keys));
        }
    }

    /// Whether the table may have the key `(tag, hash)` for this index.
    #[inline]
    fn may_have(&self, tag: Tag, hash: u64) -> bool {
        match self.other.as_ref().and_then(|o| o.bloom.as_ref()) {
            Some(bloom) => bloom.may_contain(tag, hash),
            None => self.bloom & small_bit(tag, hash) != 0,
        }
    }

    /// Makes the `anything-but` and wildcard transitions to `target` yield `accept`
    /// (`FINAL | rule slot` while `target` is final, else 0: the state itself).
    pub(crate) fn set_accept(&mut self, target: u32, accept: u32) {
        if let Some(other) = &mut self.other {
            if let Some(ab) = &mut other.anything_but {
                ab.set_accept(target, accept);
            }
            if let Some(one) = &mut other.excluded_one {
                one.set_accept(target, accept);
            }
            other.globs.iter_mut().for_each(|g| g.set_accept(target, accept));
        }
    }

    fn other(&mut self) -> &mut Other {
        self.other.get_or_insert_with(Box::default)
    }

    /// Records the length of a prefix-like key, to probe the table with.
    fn add_len(&mut self, tag: Tag, len: usize) {
        let lens = &mut self.other().lens;
        let entry = (tag, u32::try_from(len).unwrap_or(u32::MAX));
        if let Err(at) = lens.as_slice().binary_search(&entry) {
            lens.insert(at, entry);
        }
    }

    /// The index's ranges, when ranges are all it has.
    #[inline]
    pub(crate) fn numeric_only(&self) -> Option<&IntervalSet<u64>> {
        self.other.as_ref().filter(|_| self.extra == RANGES && self.tags == 0).map(|o| &o.numeric.0)
    }

    /// Appends the target of every transition `leaf` enables from `state` (possibly
    /// repeated; `FINAL | rule slot` for final states). `hash` is the leaf's
    /// [`key_hash`] when it is a string.
    pub(crate) fn lookup(
        &self,
        table: &Table,
        state: u32,
        leaf: &Leaf<'_>,
        hash: u64,
        sc: &mut LookupScratch,
        out: &mut Vec<u32>,
    ) {
        let (path, tags) = (self.path, self.tags);
        match leaf {
            Leaf::Str(s) if tags & Tag::Str.bit() != 0 && self.may_have(Tag::Str, hash) => {
                table.get(state, path, Tag::Str, &Probe::with_hash(s.as_bytes(), hash), out);
            }
            Leaf::Num(x) if tags & Tag::Num.bit() != 0 => {
                let probe = Probe::number(num_bits(*x));
                if self.may_have(Tag::Num, probe.hash()) {
                    table.get(state, path, Tag::Num, &probe, out);
                }
            }
            Leaf::Null if tags & Tag::Null.bit() != 0 => table.get(state, path, Tag::Null, &Probe::empty(), out),
            Leaf::Bool(true) if tags & Tag::True.bit() != 0 => table.get(state, path, Tag::True, &Probe::empty(), out),
            Leaf::Bool(false) if tags & Tag::False.bit() != 0 => {
                table.get(state, path, Tag::False, &Probe::empty(), out);
            }
            _ => {}
        }
        if tags & Tag::Exists.bit() != 0 {
            table.get(state, path, Tag::Exists, &Probe::empty(), out);
        }
        if !self.folds && self.extra == 0 {
            return;
        }
        let LookupScratch { candidates, excluded, folded, hints } = sc;
        folded.clear();
        if let (true, Leaf::Str(s)) = (self.folds, leaf) {
            if s.is_ascii() {
                folded.push_str(s);
                folded.make_ascii_lowercase();
            } else {
                folded.extend(s.chars().flat_map(char::to_lowercase));
            }
            let probe = Probe::new(folded.as_bytes());
            if tags & Tag::EqualsFold.bit() != 0 && self.may_have(Tag::EqualsFold, probe.hash()) {
                table.get(state, path, Tag::EqualsFold, &probe, out);
            }
        }
        let Some(other) = &self.other else {
            return;
        };
        if let Leaf::Str(s) = leaf {
            candidates.clear();
            for &(tag, len) in other.lens.as_slice() {
                let text = if matches!(tag, Tag::PrefixFold | Tag::SuffixFold) { folded.as_str() } else { s };
                let len = len as usize;
                let key = match tag {
                    Tag::Prefix | Tag::PrefixFold | Tag::WildHead => text.get(..len),
                    _ => text.len().checked_sub(len).and_then(|at| text.get(at..)),
                };
                let Some(probe) = key.map(|k| Probe::new(k.as_bytes())) else { continue };
                if !self.may_have(tag, probe.hash()) {
                    continue;
                }
                let dest = if matches!(tag, Tag::WildHead | Tag::WildTail) { &mut *candidates } else { &mut *out };
                table.get(state, path, tag, &probe, dest);
            }
            if self.extra & SCAN != 0 {
                candidates.extend_from_slice(&other.scan);
            }
            for &id in candidates.iter() {
                let glob = &other.globs[id as usize];
                if glob.is_match(s) {
                    out.push(glob.out);
                }
            }
            // The bit first: `cidr` lies beyond the first line.
            let cidr = if self.extra & CIDR != 0 { other.cidr.as_deref() } else { None };
            if let Some(cidr) = cidr {
                match s.parse::<IpAddr>() {
                    Ok(IpAddr::V4(a)) => cidr.0.stab(u64::from(u32::from(a)), out),
                    Ok(IpAddr::V6(a)) => cidr.1.stab(u128::from(a), out),
                    Err(_) => {}
                }
            }
        }
        if let (Leaf::Num(x), true) = (leaf, self.extra & RANGES != 0) {
            other.numeric.0.stab_near(point(*x), hints, out);
        }
        if let Some(one) = &other.excluded_one {
            out.extend(one.enabled(leaf));
        } else if let Some(ab) = &other.anything_but {
            ab.enabled(leaf, folded, candidates, excluded, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_lookup_reads_one_line_of_other() {
        use std::mem::offset_of;
        assert!(offset_of!(Other, excluded_one) + std::mem::size_of::<Option<ExcludedOne>>() <= 64);
        assert_eq!(offset_of!(Other, numeric), 64);
    }
}
