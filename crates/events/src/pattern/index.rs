//! The value index of one (state, path) of the compiled automaton: given one leaf
//! value, which transitions (target states) does it enable? Every structure is a
//! hash or sorted lookup, so the cost depends on the value and on how many
//! transitions it enables, not on how many transitions exist.

use std::net::IpAddr;

use super::collections::{append, push_id, FxHashMap, IdList, Key};
use super::interval::{numeric_bounds, point, IntervalSet};
use super::value::{ip_bits, num_bits, Excluded, Glob, Leaf, Literal, Op};

/// Reusable buffers for lookups.
#[derive(Default)]
pub(crate) struct LookupScratch {
    candidates: Vec<u32>,
    excluded: Vec<u32>,
    folded: String,
}

#[derive(Debug, Default)]
pub(crate) struct ValueIndex {
    strings: FxHashMap<Key, IdList>,
    /// Keyed by [`num_bits`], so 5 and 5.0 share a key.
    numbers: FxHashMap<u64, IdList>,
    nulls: Vec<u32>,
    trues: Vec<u32>,
    falses: Vec<u32>,
    /// `exists: true`: taken for any leaf value.
    exists: Vec<u32>,
    /// `exists: false`: taken when the event has no leaf at the path at all.
    pub(crate) absent: Vec<u32>,
    /// Operators other than literals and `exists`; boxed as most indexes have none.
    extra: Option<Box<Extra>>,
}

#[derive(Debug, Default)]
struct Extra {
    prefix: AffixMap,
    suffix: AffixMap,
    /// Folded keys, looked up with the folded value.
    prefix_fold: AffixMap,
    suffix_fold: AffixMap,
    equals_fold: FxHashMap<Key, IdList>,
    wildcard: GlobIndex,
    numeric: IntervalSet<u64>,
    cidr_v4: IntervalSet<u64>,
    cidr_v6: IntervalSet<u128>,
    anything_but: AnythingBut,
}

impl ValueIndex {
    /// Registers that a leaf accepted by `op` enables the transition to `target`.
    pub(crate) fn insert(&mut self, op: &Op, target: u32) {
        match op {
            Op::Literal(Literal::Null) => self.nulls.push(target),
            Op::Literal(Literal::Bool(true)) => self.trues.push(target),
            Op::Literal(Literal::Bool(false)) => self.falses.push(target),
            Op::Literal(Literal::Num(n)) => push_id(&mut self.numbers, n.bits(), target),
            Op::Literal(Literal::Str(s)) => push_id(&mut self.strings, Key::new(s), target),
            Op::Exists(true) => self.exists.push(target),
            Op::Exists(false) => self.absent.push(target),
            Op::Numeric(r) => match (r.lower, r.upper) {
                // `["=", n]` is exactly the literal number n.
                (Some((lo, true)), Some((hi, true))) if lo == hi => {
                    push_id(&mut self.numbers, lo.bits(), target);
                }
                _ => {
                    let (lo, hi) = numeric_bounds(r);
                    self.extra().numeric.insert(lo, hi, target);
                }
            },
            Op::Prefix(p) => self.extra().prefix.insert(p, target),
            Op::Suffix(p) => self.extra().suffix.insert(p, target),
            Op::PrefixIgnoreCase(p) => self.extra().prefix_fold.insert(p, target),
            Op::SuffixIgnoreCase(p) => self.extra().suffix_fold.insert(p, target),
            Op::EqualsIgnoreCase(p) => push_id(&mut self.extra().equals_fold, Key::new(p), target),
            Op::Wildcard(g) => self.extra().wildcard.insert(g, target),
            Op::Cidr(c) => {
                let (lo, hi) = c.range();
                let extra = self.extra();
                match (u64::try_from(lo), u64::try_from(hi)) {
                    (Ok(lo), Ok(hi)) if !c.v6 => extra.cidr_v4.insert(lo, hi, target),
                    _ => extra.cidr_v6.insert(lo, hi, target),
                }
            }
            Op::AnythingBut(x) => self.extra().anything_but.insert(x, target),
        }
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// Appends the target of every transition `leaf` enables (possibly repeated).
    pub(crate) fn lookup(&self, leaf: &Leaf<'_>, sc: &mut LookupScratch, out: &mut Vec<u32>) {
        append(out, &self.exists);
        match leaf {
            Leaf::Null => append(out, &self.nulls),
            Leaf::Bool(true) => append(out, &self.trues),
            Leaf::Bool(false) => append(out, &self.falses),
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
            Leaf::Num(_) | Leaf::Str(_) => {}
        }
        if let Some(extra) = &self.extra {
            extra.lookup(leaf, sc, out);
        }
    }
}

impl Extra {
    fn needs_fold(&self) -> bool {
        !(self.prefix_fold.is_empty()
            && self.suffix_fold.is_empty()
            && self.equals_fold.is_empty()
            && self.anything_but.equals_fold.is_empty())
    }

    fn lookup(&self, leaf: &Leaf<'_>, sc: &mut LookupScratch, out: &mut Vec<u32>) {
        let LookupScratch { candidates, excluded, folded } = sc;
        folded.clear();
        match leaf {
            Leaf::Num(x) => self.numeric.stab(point(*x), out),
            Leaf::Str(s) => {
                self.prefix.prefixes_of(s, out);
                self.suffix.suffixes_of(s, out);
                self.wildcard.matches(s, candidates, out);
                if !(self.cidr_v4.is_empty() && self.cidr_v6.is_empty()) {
                    if let Ok(addr) = s.parse::<IpAddr>() {
                        match ip_bits(addr) {
                            (false, bits, _) => self.cidr_v4.stab(u64::try_from(bits).unwrap_or(u64::MAX), out),
                            (true, bits, _) => self.cidr_v6.stab(bits, out),
                        }
                    }
                }
                if self.needs_fold() {
                    folded.extend(s.chars().flat_map(char::to_lowercase));
                    self.prefix_fold.prefixes_of(folded, out);
                    self.suffix_fold.suffixes_of(folded, out);
                    if let Some(ids) = self.equals_fold.get(folded.as_bytes()) {
                        ids.append_to(out);
                    }
                }
            }
            Leaf::Null | Leaf::Bool(_) => {}
        }
        self.anything_but.enabled(leaf, folded, candidates, excluded, out);
    }
}

/// Keys grouped by length, so all prefixes (or suffixes) of a value are found with
/// one hash probe per distinct key length.
#[derive(Debug, Default)]
struct AffixMap {
    /// Sorted by length.
    by_len: Vec<(usize, FxHashMap<Key, IdList>)>,
}

impl AffixMap {
    fn insert(&mut self, key: &str, id: u32) {
        let at = match self.by_len.binary_search_by_key(&key.len(), |e| e.0) {
            Ok(at) => at,
            Err(at) => {
                self.by_len.insert(at, (key.len(), FxHashMap::default()));
                at
            }
        };
        push_id(&mut self.by_len[at].1, Key::new(key), id);
    }

    fn is_empty(&self) -> bool {
        self.by_len.is_empty()
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
    strings: FxHashMap<Key, IdList>,
    numbers: FxHashMap<u64, IdList>,
    prefix: AffixMap,
    suffix: AffixMap,
    equals_fold: FxHashMap<Key, IdList>,
    wildcard: GlobIndex,
}

impl AnythingBut {
    fn insert(&mut self, excluded: &Excluded, target: u32) {
        let entry = u32::try_from(self.targets.len()).unwrap_or(u32::MAX);
        self.targets.push(target);
        match excluded {
            Excluded::Values { strings, numbers } => {
                for s in strings {
                    push_id(&mut self.strings, Key::new(s), entry);
                }
                for n in numbers {
                    push_id(&mut self.numbers, n.bits(), entry);
                }
            }
            Excluded::Prefix(p) => self.prefix.insert(p, entry),
            Excluded::Suffix(p) => self.suffix.insert(p, entry),
            Excluded::Wildcard(globs) => globs.iter().for_each(|g| self.wildcard.insert(g, entry)),
            Excluded::EqualsIgnoreCase(list) => {
                for s in list {
                    push_id(&mut self.equals_fold, Key::new(s), entry);
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
