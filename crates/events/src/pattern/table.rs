//! The transition table shared by all states of the automaton. Every transition
//! found by hashing a key — exact strings and numbers, `null` and booleans,
//! `exists`, and the keys of the prefix, suffix, ignore-case and wildcard indexes —
//! lives in one open-addressing table keyed by `(state, path, tag, key bytes)`.
//!
//! A probe usually reads a single cache line whatever the number of rules (a hash
//! map per state costs an allocation per state, and a control-byte line plus a
//! bucket line per probe). A key's hash is computed once per event value
//! ([`key_hash`]) and combined with each `(state, path, tag)` by [`slot_hash`].
//!
//! A slot whose target state is final (no outgoing paths, one accepted rule slot)
//! also holds that rule slot, flagged with [`FINAL`]: a lookup then yields the
//! accepted slot itself, and the walk need not visit (read) the state at all.

use std::hash::Hasher;

use super::collections::FxHasher;

/// What a key means; part of the key, so one key string can serve several tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Tag {
    Str,
    Num,
    Null,
    True,
    False,
    /// `exists: true` (empty key): taken for any leaf value.
    Exists,
    /// `exists: false` (empty key): taken when the event has no leaf at the path.
    Absent,
    Prefix,
    Suffix,
    /// Folded prefix, probed with prefixes of the folded value.
    PrefixFold,
    SuffixFold,
    EqualsFold,
    /// Literal text before a wildcard's first star; the target is a glob id.
    WildHead,
    /// Literal text after the last star of a wildcard without a head; a glob id.
    WildTail,
}

impl Tag {
    pub(crate) const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// Longest key stored in the slot itself.
const INLINE: usize = 14;
/// Length byte of a key stored in `Table::long` (its offset and length in the
/// first key word).
const LONG: u8 = u8::MAX;
/// `Slot::target` of a free slot.
const FREE: u32 = u32::MAX;
/// Marks a lookup result that is an accepted rule slot rather than a state.
pub(crate) const FINAL: u32 = 1 << 31;
/// Bit of `Slot::key[1]` (the top bit of the tag byte, unused by tags) set on every
/// slot of a key that has several slots (one per target). A lookup stops at the
/// slot of a key without it, instead of reading on to the end of the run (often
/// the next cache line). Invariant: a key's slots either all have it or it has one slot.
const SHARED: u64 = 1 << 55;

/// 32 bytes and 32-aligned, so a slot never straddles two cache lines.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
struct Slot {
    /// `state << 32 | path`.
    site: u64,
    target: u32,
    /// `FINAL | rule slot` while `target` is final, else 0.
    accept: u32,
    /// The key as little-endian words: bytes 0..14 the key zero-padded (or, for a
    /// long key, its offset and length in `Table::long`), byte 14 the tag, byte 15
    /// the length (or [`LONG`]). Comparing keys is comparing two words (but for
    /// [`SHARED`]).
    key: [u64; 2],
}

const FREE_SLOT: Slot = Slot { site: 0, target: FREE, accept: 0, key: [0; 2] };

fn site(state: u32, path: u32) -> u64 {
    (u64::from(state) << 32) | u64::from(path)
}

/// A key prepared for probing: hashed once, packed as in [`Slot::key`] (tag 0).
#[derive(Clone, Copy)]
pub(crate) struct Probe<'k> {
    hash: u64,
    words: [u64; 2],
    /// The key, when longer than [`INLINE`].
    long: &'k [u8],
}

impl<'k> Probe<'k> {
    /// A key whose [`key_hash`] is already known.
    #[inline]
    pub(crate) fn with_hash(key: &'k [u8], hash: u64) -> Probe<'k> {
        if key.len() > INLINE {
            return Probe { hash, words: [0, u64::from(LONG) << 56], long: key };
        }
        let (low, high) = if key.len() > 8 { (&key[..8], &key[8..]) } else { (key, &key[..0]) };
        let len = key.len() as u64; // At most INLINE.
        Probe { hash, words: [short_word(low), short_word(high) | (len << 56)], long: &[] }
    }

    pub(crate) fn new(key: &'k [u8]) -> Probe<'k> {
        Probe::with_hash(key, key_hash(key))
    }

    /// The empty key of the `null`, boolean and `exists` tags.
    pub(crate) fn empty() -> Probe<'static> {
        Probe { hash: key_hash(&[]), words: [0; 2], long: &[] }
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// A number, keyed by its canonical bits (so 5 and 5.0 are one key).
    pub(crate) fn number(bits: u64) -> Probe<'static> {
        let bytes = bits.to_le_bytes();
        Probe { hash: key_hash(&bytes), words: [bits, 8 << 56], long: &[] }
    }

    /// The key words with the tag in place.
    #[inline]
    fn key(&self, tag: Tag) -> [u64; 2] {
        [self.words[0], self.words[1] | (u64::from(tag as u8) << 48)]
    }
}

/// Up to eight bytes as a little-endian word, zero-padded, without a `memcpy` call:
/// two overlapping loads for four bytes or more.
#[inline]
pub(crate) fn short_word(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let load4 = |at: usize| u64::from(u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]));
    match n {
        8 => u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]),
        // The second load ends at the last byte; it overlaps the first by 8 - n bytes.
        4..=7 => load4(0) | (load4(n - 4) << (8 * (n - 4))),
        1..=3 => bytes.iter().rev().fold(0, |word, &b| (word << 8) | u64::from(b)),
        _ => 0,
    }
}

#[cfg(test)]
fn words(bytes: &[u8; 16]) -> [u64; 2] {
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        u64::from_le_bytes(w)
    };
    [word(0), word(8)]
}

/// The hash of a key's bytes, computed once per event value.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(key);
    h.finish()
}

/// Combines a key hash with where it is looked up (murmur3's finaliser).
fn slot_hash(key_hash: u64, state: u32, path: u32, tag: Tag) -> u64 {
    let site = ((u64::from(state) << 32) | u64::from(path)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut x = key_hash ^ site ^ u64::from(tag as u8).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Two slots: one cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Bucket([Slot; 2]);

const FREE_BUCKET: Bucket = Bucket([FREE_SLOT; 2]);

/// Linear probing over buckets (a probe reads its home bucket's line, and the next
/// ones only while they are full), at most [`MAX_LOAD`] full. Invariant:
/// `buckets.len()` is a power of two and every run of occupied slots, in bucket
/// order, ends at a free one.
#[derive(Debug)]
pub(crate) struct Table {
    buckets: Vec<Bucket>,
    len: usize,
    /// Keys longer than [`INLINE`], back to back.
    long: Vec<u8>,
}

/// Maximum fraction of slots in use, as `(numerator, denominator)`: low, so that a
/// probe rarely reads a second line.
const MAX_LOAD: (usize, usize) = (3, 8);

impl Default for Table {
    fn default() -> Self {
        Table { buckets: vec![FREE_BUCKET; 8], len: 0, long: Vec::new() }
    }
}

impl Table {
    /// Adds the transition `(state, path, tag, key) -> target` (duplicates are kept).
    pub(crate) fn insert(&mut self, state: u32, path: u32, tag: Tag, key: &[u8], target: u32) {
        if (self.len + 1) * MAX_LOAD.1 > self.buckets.len() * 2 * MAX_LOAD.0 {
            self.grow();
        }
        let probe = Probe::new(key);
        let mut slot = Slot { site: site(state, path), target, accept: 0, key: probe.key(tag) };
        let mut existing = Vec::new();
        self.each(state, path, tag, &probe, |at, _| existing.push(at));
        if !existing.is_empty() {
            slot.key[1] |= SHARED;
            for (b, i) in existing {
                self.buckets[b].0[i].key[1] |= SHARED;
            }
        }
        if !probe.long.is_empty() {
            let (at, len) = (u64::from(to_u32(self.long.len())), u64::from(to_u32(key.len())));
            self.long.extend_from_slice(key);
            slot.key[0] = at | (len << 32);
        }
        self.place(slot, slot_hash(probe.hash, state, path, tag));
        self.len += 1;
    }

    fn place(&mut self, slot: Slot, hash: u64) {
        let mask = self.buckets.len() - 1;
        let mut b = hash as usize & mask;
        loop {
            if let Some(free) = self.buckets[b].0.iter_mut().find(|s| s.target == FREE) {
                *free = slot;
                return;
            }
            b = (b + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let doubled = super::pages::filled(self.buckets.len() * 2, FREE_BUCKET);
        let old = std::mem::replace(&mut self.buckets, doubled);
        for slot in old.iter().flat_map(|b| b.0).filter(|s| s.target != FREE) {
            let hash = slot_hash(self.key_hash_of(&slot), (slot.site >> 32) as u32, slot.site as u32, tag_of(&slot));
            self.place(slot, hash);
        }
    }

    /// The [`key_hash`] of a slot's key.
    fn key_hash_of(&self, slot: &Slot) -> u64 {
        let len = (slot.key[1] >> 56) as u8;
        if len == LONG {
            return key_hash(self.long_key(slot));
        }
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&slot.key[0].to_le_bytes());
        bytes[8..].copy_from_slice(&slot.key[1].to_le_bytes());
        // Invariant: an inline key has at most INLINE bytes.
        key_hash(&bytes[..usize::from(len).min(INLINE)])
    }

    /// The key of a slot whose key is long.
    fn long_key(&self, slot: &Slot) -> &[u8] {
        let (at, len) = ((slot.key[0] as u32) as usize, (slot.key[0] >> 32) as usize);
        &self.long[at..at + len]
    }

    /// The `(tag, key hash)` of every key of `(state, path)`, by a scan of the table.
    pub(crate) fn keys_at(&self, state: u32, path: u32) -> Vec<(Tag, u64)> {
        let slots = self.buckets.iter().flat_map(|b| &b.0);
        let here = slots.filter(|s| s.target != FREE && s.site == site(state, path));
        here.map(|s| (tag_of(s), self.key_hash_of(s))).collect()
    }

    /// Appends the target of every transition `(state, path, tag, key)`: a state,
    /// or `FINAL | rule slot` for a final state.
    #[inline]
    pub(crate) fn get(&self, state: u32, path: u32, tag: Tag, key: &Probe<'_>, out: &mut Vec<u32>) {
        self.each(state, path, tag, key, |_, slot| out.push(if slot.accept != 0 { slot.accept } else { slot.target }));
    }

    /// Records whether the transitions `(state, path, tag, key) -> target` lead to a
    /// final state: `accept` is `FINAL | rule slot`, or 0.
    pub(crate) fn set_accept(&mut self, state: u32, path: u32, tag: Tag, key: &[u8], target: u32, accept: u32) {
        let mut found = Vec::new();
        self.each(state, path, tag, &Probe::new(key), |at, slot| {
            if slot.target == target {
                found.push(at);
            }
        });
        for (b, i) in found {
            self.buckets[b].0[i].accept = accept;
        }
    }

    /// Calls `f` with the `(bucket, index)` and contents of each matching slot.
    #[inline(always)]
    fn each(&self, state: u32, path: u32, tag: Tag, key: &Probe<'_>, mut f: impl FnMut((usize, usize), &Slot)) {
        let (site, want) = (site(state, path), key.key(tag));
        let mask = self.buckets.len() - 1;
        let mut b = slot_hash(key.hash, state, path, tag) as usize & mask;
        loop {
            for (i, slot) in self.buckets[b].0.iter().enumerate() {
                if slot.target == FREE {
                    return;
                }
                if slot.site == site
                    && slot.key[1] & !SHARED == want[1]
                    && (slot.key[0] == want[0] || (!key.long.is_empty() && self.long_key(slot) == key.long))
                {
                    f((b, i), slot);
                    if slot.key[1] & SHARED == 0 {
                        return; // The key's only slot.
                    }
                }
            }
            b = (b + 1) & mask;
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("transition table keys fit in 4 GiB")
}

const TAGS: [Tag; 14] = [
    Tag::Str,
    Tag::Num,
    Tag::Null,
    Tag::True,
    Tag::False,
    Tag::Exists,
    Tag::Absent,
    Tag::Prefix,
    Tag::Suffix,
    Tag::PrefixFold,
    Tag::SuffixFold,
    Tag::EqualsFold,
    Tag::WildHead,
    Tag::WildTail,
];

/// The tag of a stored slot. Invariant: slots hold tags written from a `Tag`.
fn tag_of(slot: &Slot) -> Tag {
    TAGS[usize::from(((slot.key[1] & !SHARED) >> 48) as u8) % TAGS.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_words_are_the_key_zero_padded_with_its_length() {
        let text = b"abcdefghijklmnopqrst";
        for len in 0..=text.len() {
            let key = &text[..len];
            let probe = Probe::new(key);
            let mut bytes = [0u8; 16];
            if len <= INLINE {
                bytes[..len].copy_from_slice(key);
                bytes[15] = len as u8;
            } else {
                bytes[15] = LONG;
            }
            assert_eq!(probe.words, words(&bytes), "length {len}");
        }
    }

    #[test]
    fn finds_every_target_of_a_key_and_nothing_else() {
        let mut t = Table::default();
        let long = "a key much longer than fourteen bytes";
        for i in 0..2000u32 {
            t.insert(i % 7, i % 3, Tag::Str, format!("k{}", i % 50).as_bytes(), i);
            t.insert(i % 7, 9, Tag::Prefix, long.as_bytes(), i);
        }
        t.insert(1, 1, Tag::Num, &5u64.to_le_bytes(), 77);
        t.insert(1, 1, Tag::Exists, &[], 78);
        let get = |state, path, tag, key: Probe<'_>| {
            let mut out = Vec::new();
            t.get(state, path, tag, &key, &mut out);
            out.sort_unstable();
            out
        };
        let want: Vec<u32> = (0..2000).filter(|i| i % 7 == 3 && i % 3 == 2 && i % 50 == 17).collect();
        assert!(!want.is_empty());
        assert_eq!(get(3, 2, Tag::Str, Probe::new(b"k17")), want);
        assert!(get(3, 2, Tag::Prefix, Probe::new(b"k17")).is_empty());
        assert!(get(3, 1, Tag::Str, Probe::new(b"k18")).iter().all(|i| i % 50 == 18));
        assert_eq!(get(2, 9, Tag::Prefix, Probe::new(long.as_bytes())).len(), (0..2000).filter(|i| i % 7 == 2).count());
        assert!(get(2, 9, Tag::Prefix, Probe::new(&long.as_bytes()[1..])).is_empty());
        assert_eq!(get(1, 1, Tag::Num, Probe::number(5)), [77]);
        assert_eq!(get(1, 1, Tag::Exists, Probe::empty()), [78]);
        assert!(get(1, 1, Tag::Absent, Probe::empty()).is_empty());
        assert!(t.buckets.len().is_power_of_two() && t.len * MAX_LOAD.1 <= t.buckets.len() * 2 * MAX_LOAD.0);
        assert!(TAGS.iter().enumerate().all(|(i, &tag)| tag as usize == i));
        let slot = |tag| Slot { site: 0, target: 0, accept: 0, key: Probe::new(b"k").key(tag) };
        assert!(TAGS.iter().all(|&tag| tag_of(&slot(tag)) == tag));
    }
}
