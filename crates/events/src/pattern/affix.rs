//! String-keyed parts of the value index: wildcards packed for verification, and
//! `anything-but` exclusion lists with their own prefix/suffix maps (grouped by key
//! length) and wildcard index.

use std::num::NonZeroU32;

use super::collections::{IdMap, Key, SmallList};
use super::table::short_word;
use super::value::{num_bits, Excluded, Glob, Leaf};

/// A wildcard and its transition target in one cache line (when its text is short):
/// the pieces (the text between stars) back to back, and where each piece after
/// the first starts. Matches exactly as [`Glob::is_match`].
#[derive(Clone, Debug)]
#[repr(align(64))]
pub(super) struct PackedGlob {
    target: u32,
    /// What a lookup yields: `target`, or `FINAL | rule slot` while it is final.
    pub(super) out: u32,
    text: Key,
    /// One offset per star. Invariant: sorted, within `text`, at piece boundaries
    /// (so every piece is valid UTF-8).
    cuts: SmallList<u32>,
}

impl PackedGlob {
    pub(super) fn new(glob: &Glob, target: u32) -> PackedGlob {
        let mut text = String::new();
        let mut cuts = SmallList::default();
        for (i, piece) in glob.pieces.iter().enumerate() {
            if i > 0 {
                let at = cuts.as_slice().len();
                cuts.insert(at, u32::try_from(text.len()).unwrap_or(u32::MAX));
            }
            text.push_str(piece);
        }
        PackedGlob { target, out: target, text: Key::new(&text), cuts }
    }

    /// See [`AnythingBut::set_accept`].
    pub(super) fn set_accept(&mut self, target: u32, accept: u32) {
        if self.target == target {
            self.out = if accept != 0 { accept } else { target };
        }
    }

    /// Greedy glob match: first piece anchors the start, last piece the end, middle
    /// pieces are found leftmost in order (optimal for `*`-only globs).
    pub(super) fn is_match(&self, s: &str) -> bool {
        let (text, cuts) = (self.text.bytes(), self.cuts.as_slice());
        let (Some(&first_end), Some(&last_start)) = (cuts.first(), cuts.last()) else {
            return s.as_bytes() == text;
        };
        let (first, last) = (&text[..first_end as usize], &text[last_start as usize..]);
        let bytes = s.as_bytes();
        if bytes.len() < first.len() + last.len() || !bytes.starts_with(first) || !bytes.ends_with(last) {
            return false;
        }
        // `s` starts with `first` and ends with `last` (whole UTF-8 strings), so these are char boundaries.
        let mut hay = &s[first.len()..s.len() - last.len()];
        for w in cuts.windows(2) {
            let Ok(middle) = std::str::from_utf8(&text[w[0] as usize..w[1] as usize]) else {
                return false;
            };
            match hay.find(middle) {
                Some(at) => hay = &hay[at + middle.len()..],
                None => return false,
            }
        }
        true
    }
}

/// Keys grouped by length, so all prefixes (or suffixes) of a value are found with
/// one hash probe per distinct key length.
#[derive(Clone, Debug, Default)]
pub(super) struct AffixMap {
    /// Sorted by length.
    by_len: Vec<(usize, IdMap<Key>)>,
}

impl AffixMap {
    pub(super) fn insert(&mut self, key: &str, id: u32) {
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

    pub(super) fn prefixes_of(&self, s: &str, out: &mut Vec<u32>) {
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

    pub(super) fn suffixes_of(&self, s: &str, out: &mut Vec<u32>) {
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
#[derive(Clone, Debug, Default)]
pub(super) struct GlobIndex {
    globs: Vec<(Glob, u32)>,
    by_head: AffixMap,
    by_tail: AffixMap,
    scan: Vec<u32>,
}

impl GlobIndex {
    pub(super) fn insert(&mut self, glob: &Glob, id: u32) {
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

    /// Appends the ids of the globs matching `s`.
    pub(super) fn matches(&self, s: &str, candidates: &mut Vec<u32>, out: &mut Vec<u32>) {
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

/// A lone `anything-but` of one short string (`{"anything-but": "x"}`, the usual
/// form), kept in the index's first cache line instead of a boxed [`AnythingBut`],
/// whose maps are more lines to read. Like it, any leaf but that string enables it.
#[derive(Debug, Clone, Copy)]
pub(super) struct ExcludedOne {
    /// The string's bytes as a little-endian word, its length in the top byte.
    word: u64,
    target: NonZeroU32,
    /// What a lookup yields: `target`, or `FINAL | rule slot` while it is final.
    yields: u32,
}

impl ExcludedOne {
    /// Longest string kept inline (the top byte holds the length).
    const LONGEST: usize = 7;

    /// The inline form of `excluded` leading to `target`, if it is one short string.
    pub(super) fn new(excluded: &Excluded, target: u32) -> Option<ExcludedOne> {
        let Excluded::Values { strings, numbers } = excluded else { return None };
        let ([s], [], Some(target)) = (strings.as_slice(), numbers.as_slice(), NonZeroU32::new(target)) else {
            return None;
        };
        let word = Self::word_of(s)?;
        Some(ExcludedOne { word, target, yields: target.get() })
    }

    fn word_of(s: &str) -> Option<u64> {
        (s.len() <= Self::LONGEST).then(|| short_word(s.as_bytes()) | ((s.len() as u64) << 56))
    }

    /// What `leaf` enables: everything but the excluded string.
    #[inline]
    pub(super) fn enabled(&self, leaf: &Leaf<'_>) -> Option<u32> {
        match leaf {
            Leaf::Str(s) if Self::word_of(s) == Some(self.word) => None,
            _ => Some(self.yields),
        }
    }

    pub(super) fn target(&self) -> u32 {
        self.target.get()
    }

    /// What the lookup yields beyond the target itself (`FINAL | rule slot`), or 0.
    pub(super) fn accept(&self) -> u32 {
        if self.yields == self.target.get() {
            0
        } else {
            self.yields
        }
    }

    /// See [`AnythingBut::set_accept`].
    pub(super) fn set_accept(&mut self, target: u32, accept: u32) {
        if self.target.get() == target {
            self.yields = if accept != 0 { accept } else { target };
        }
    }

    /// The exclusion, for moving it into a full [`AnythingBut`].
    pub(super) fn excluded(&self) -> Excluded {
        let len = (self.word >> 56) as usize;
        let bytes = self.word.to_le_bytes();
        // Invariant: the bytes came from a `str` of exactly `len` bytes.
        let text = String::from_utf8_lossy(&bytes[..len]).into_owned();
        Excluded::Values { strings: vec![text], numbers: Vec::new() }
    }
}

/// `anything-but` transitions: each is an entry; a value enables every entry except
/// those whose exclusion lists contain it (found through the same kinds of maps).
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub(super) struct AnythingBut {
    /// Which of the maps below are non-empty (`HAS_*` bits), so a lookup touches only those.
    has: u8,
    /// Entry -> `(target state, what a lookup yields for it)`: the state, or
    /// `FINAL | rule slot` while it is final (see `table.rs`). A single one inline.
    targets: SmallList<(u32, u32)>,
    strings: IdMap<Key>,
    numbers: IdMap<u64>,
    prefix: AffixMap,
    suffix: AffixMap,
    equals_fold: IdMap<Key>,
    wildcard: GlobIndex,
}

const HAS_STRINGS: u8 = 1;
const HAS_AFFIX: u8 = 2;
const HAS_WILDCARD: u8 = 4;
const HAS_FOLD: u8 = 8;

impl AnythingBut {
    /// Whether a lookup needs the folded value.
    pub(super) fn folds(&self) -> bool {
        self.has & HAS_FOLD != 0
    }

    pub(super) fn insert(&mut self, excluded: &Excluded, target: u32) {
        let entry = u32::try_from(self.targets.as_slice().len()).unwrap_or(u32::MAX);
        self.targets.insert(entry as usize, (target, target));
        self.has |= match excluded {
            Excluded::Values { strings, .. } if !strings.is_empty() => HAS_STRINGS,
            Excluded::Values { .. } => 0,
            Excluded::Prefix(_) | Excluded::Suffix(_) => HAS_AFFIX,
            Excluded::Wildcard(_) => HAS_WILDCARD,
            Excluded::EqualsIgnoreCase(_) => HAS_FOLD,
        };
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
    pub(super) fn enabled(
        &self,
        leaf: &Leaf<'_>,
        folded: &str,
        cands: &mut Vec<u32>,
        excluded: &mut Vec<u32>,
        out: &mut Vec<u32>,
    ) {
        let targets = self.targets.as_slice();
        if targets.is_empty() {
            return;
        }
        excluded.clear();
        match leaf {
            Leaf::Str(s) => {
                if self.has & HAS_STRINGS != 0 {
                    if let Some(ids) = self.strings.get(s.as_bytes()) {
                        ids.append_to(excluded);
                    }
                }
                if self.has & HAS_AFFIX != 0 {
                    self.prefix.prefixes_of(s, excluded);
                    self.suffix.suffixes_of(s, excluded);
                }
                if self.has & HAS_WILDCARD != 0 {
                    self.wildcard.matches(s, cands, excluded);
                }
                if self.has & HAS_FOLD != 0 {
                    if let Some(ids) = self.equals_fold.get(folded.as_bytes()) {
                        ids.append_to(excluded);
                    }
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
            out.extend(targets.iter().map(|t| t.1));
            return;
        }
        excluded.sort_unstable();
        let mut skip = excluded.iter().copied().peekable();
        for (entry, &(_, target)) in (0u32..).zip(targets) {
            while skip.next_if(|&e| e < entry).is_some() {}
            if skip.peek() != Some(&entry) {
                out.push(target);
            }
        }
    }

    /// Makes lookups yield `accept` (`FINAL | rule slot`, or 0 for the state itself)
    /// for the entries leading to `target`.
    pub(super) fn set_accept(&mut self, target: u32, accept: u32) {
        for entry in self.targets.as_mut_slice().iter_mut().filter(|t| t.0 == target) {
            entry.1 = if accept != 0 { accept } else { target };
        }
    }
}
