//! The value index of one (state, path) of the compiled automaton: given one leaf
//! value, which transitions (target states) does it enable? Every structure is a
//! hash or sorted lookup, so the cost depends on the value and on how many
//! transitions it enables, not on how many transitions exist.

use std::net::IpAddr;

use super::collections::{IdMap, Key};
use super::interval::{numeric_bounds, point, Hints, IntervalSet};
use super::value::{num_bits, Excluded, Glob, Leaf, Literal, Op};

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
            (Special::Exists, _) | (Special::Null, Leaf::Null) | (Special::True, Leaf::Bool(true)) | (Special::False, Leaf::Bool(false))
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
                (Extra::Numeric(set), Leaf::Num(x)) => set.stab_near(point(*x), hints, out),
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

/// Keys grouped by length, so all prefixes (or suffixes) of a value are found with
/// one hash probe per distinct key length.
#[derive(Debug, Default)]
struct AffixMap {
    /// Sorted by length.
    by_len: Vec<(usize, IdMap<Key>)>,
}

impl AffixMap {
    fn insert(&mut self, key: &str, id: u32) {
        let at = match self.by_len.binary_search_by_key(&key.len(), |e| e.0) {
            Ok(at) => at,
            Err(at) => {
                if self.by_len.len() == self.by_len.capacity() {
                    self.by_len.reserve_exact(1);
                }
                self.by_len.insert(at, (key.len(), IdMap::default()));
                at
            }
        };
        self.by_len[at].1.push(Key::new(key), id);
    }

    fn prefixes_of(&self, s: &str, out: &mut Vec<u32>) {
        for (len, map) in &self.by_len {
            let Some(head) = s.get(..*len) else {
                if *len > s.len() {
                    break;
                }
                continue;
            };
            if let Some(ids) = map.get(head.as_bytes()) {
                ids.append_to(out);
            }
        }
    }

    fn suffixes_of(&self, s: &str, out: &mut Vec<u32>) {
        for (len, map) in &self.by_len {
            if *len > s.len() {
                break;
            }
            if let Some(ids) = s.get(s.len() - len..).and_then(|tail| map.get(tail.as_bytes())) {
                ids.append_to(out);
            }
        }
    }
}

/// Wildcards indexed by their literal head (text before the first `*`), or when that
/// is empty by their literal tail; only the rest (`*x*` shapes) is scanned. The
/// full glob is verified for every candidate.
#[derive(Debug, Default)]
struct GlobIndex {
    globs: Vec<(Glob, u32)>,
    by_head: AffixMap,
    by_tail: AffixMap,
    scan: Vec<u32>,
}

impl GlobIndex {
    fn insert(&mut self, glob: &Glob, id: u32) {
        let at = u32::try_from(self.globs.len()).unwrap_or(u32::MAX);
        let head = glob.pieces.first().map_or("", String::as_str);
        let tail = glob.pieces.last().filter(|_| glob.pieces.len() > 1).map_or("", String::as_str);
        if !head.is_empty() {
            self.by_head.insert(head, at);
        } else if !tail.is_empty() {
            self.by_tail.insert(tail, at);
        } else {
            self.scan.push(at);
        }
        self.globs.push((glob.clone(), id));
    }

    fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// Appends the ids of the globs matching `s`.
    fn matches(&self, s: &str, candidates: &mut Vec<u32>, out: &mut Vec<u32>) {
        if self.globs.is_empty() {
            return;
        }
        candidates.clear();
        self.by_head.prefixes_of(s, candidates);
        self.by_tail.suffixes_of(s, candidates);
        candidates.extend_from_slice(&self.scan);
        for &c in candidates.iter() {
            let (glob, id) = &self.globs[c as usize];
            if glob.is_match(s) {
                out.push(*id);
            }
        }
    }
}

/// `anything-but` transitions: each is an entry; a value enables every entry except
/// those whose exclusion lists contain it (found through the same kinds of maps).
#[derive(Debug, Default)]
struct AnythingBut {
    /// Entry -> target state.
    targets: Vec<u32>,
    strings: IdMap<Key>,
    numbers: IdMap<u64>,
    prefix: AffixMap,
    suffix: AffixMap,
    equals_fold: IdMap<Key>,
    wildcard: GlobIndex,
}

impl AnythingBut {
    fn insert(&mut self, excluded: &Excluded, target: u32) {
        let entry = u32::try_from(self.targets.len()).unwrap_or(u32::MAX);
        self.targets.push(target);
        match excluded {
            Excluded::Values { strings, numbers } => {
                for s in strings {
                    self.strings.push(Key::new(s), entry);
                }
                for n in numbers {
                    self.numbers.push(n.bits(), entry);
                }
            }
            Excluded::Prefix(p) => self.prefix.insert(p, entry),
            Excluded::Suffix(p) => self.suffix.insert(p, entry),
            Excluded::Wildcard(globs) => globs.iter().for_each(|g| self.wildcard.insert(g, entry)),
            Excluded::EqualsIgnoreCase(list) => {
                for s in list {
                    self.equals_fold.push(Key::new(s), entry);
                }
            }
        }
    }

    /// `folded` is the folded value when any ignore-case structure needed it.
    fn enabled(
        &self,
        leaf: &Leaf<'_>,
        folded: &str,
        cands: &mut Vec<u32>,
        excluded: &mut Vec<u32>,
        out: &mut Vec<u32>,
    ) {
        if self.targets.is_empty() {
            return;
        }
        excluded.clear();
        match leaf {
            Leaf::Str(s) => {
                if let Some(ids) = self.strings.get(s.as_bytes()) {
                    ids.append_to(excluded);
                }
                self.prefix.prefixes_of(s, excluded);
                self.suffix.suffixes_of(s, excluded);
                if !self.wildcard.is_empty() {
                    self.wildcard.matches(s, cands, excluded);
                }
                if let Some(ids) = self.equals_fold.get(folded.as_bytes()) {
                    ids.append_to(excluded);
                }
            }
            Leaf::Num(x) => {
                if let Some(ids) = self.numbers.get(&num_bits(*x)) {
                    ids.append_to(excluded);
                }
            }
            Leaf::Null | Leaf::Bool(_) => {}
        }
        if excluded.is_empty() {
            out.extend_from_slice(&self.targets);
            return;
        }
        excluded.sort_unstable();
        let mut skip = excluded.iter().copied().peekable();
        for (entry, &target) in (0u32..).zip(&self.targets) {
            while skip.next_if(|&e| e < entry).is_some() {}
            if skip.peek() != Some(&entry) {
                out.push(target);
            }
        }
    }
}
