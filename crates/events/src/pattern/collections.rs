//! Small collections for the compiled matcher: a fast non-cryptographic hasher
//! (the keys come from rule authors and events, never from an adversary that could
//! only hurt its own rules' latency) and compact id lists.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// The FxHash word mix (as in rustc), with a final avalanche so that the high bits
/// hashbrown uses for its control bytes are well distributed.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        let h = self.hash;
        (h ^ (h >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (h >> 29)
    }
}

pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;
pub(crate) type FxHashMap<K, V> = HashMap<K, V, FxBuild>;

/// A string hash-map key stored inline when short (most event values are), so that
/// comparing it after a hash hit does not chase a pointer to another cache line.
/// Invariant: keys of at most [`Key::INLINE`] bytes are always `Inline`.
#[derive(Clone, Debug)]
pub(crate) enum Key {
    Inline(u8, [u8; Key::INLINE]),
    Heap(Box<[u8]>),
}

impl Key {
    const INLINE: usize = 22;

    pub(crate) fn new(s: &str) -> Key {
        let bytes = s.as_bytes();
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= Key::INLINE => {
                let mut inline = [0u8; Key::INLINE];
                inline[..bytes.len()].copy_from_slice(bytes);
                Key::Inline(len, inline)
            }
            _ => Key::Heap(bytes.into()),
        }
    }

    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Key::Inline(len, bytes) => &bytes[..usize::from(*len)],
            Key::Heap(bytes) => bytes,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}
/// Maps are probed with `s.as_bytes()`.
impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

/// A list of ids stored inline while it has at most [`IdList::FEW`] (so reading a
/// few ids does not touch another cache line); 32 bytes either way.
#[derive(Clone, Debug)]
pub(crate) enum IdList {
    /// Invariant: `1 <= len <= FEW`; ids past `len` are unused.
    Few(u8, [u32; IdList::FEW]),
    Many(Vec<u32>),
}

impl IdList {
    const FEW: usize = 6;

    pub(crate) fn one(id: u32) -> IdList {
        IdList::Few(1, [id; IdList::FEW])
    }

    pub(crate) fn push(&mut self, id: u32) {
        match self {
            IdList::Few(len, ids) if usize::from(*len) < IdList::FEW => {
                ids[usize::from(*len)] = id;
                *len += 1;
            }
            IdList::Few(_, ids) => *self = IdList::Many(ids.iter().copied().chain([id]).collect()),
            IdList::Many(ids) => ids.push(id),
        }
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[u32] {
        match self {
            IdList::Few(len, ids) => &ids[..usize::from(*len)],
            IdList::Many(ids) => ids,
        }
    }

    /// Appends the ids to `out` (a plain push for one id, avoiding a `memcpy` call).
    #[inline]
    pub(crate) fn append_to(&self, out: &mut Vec<u32>) {
        match self {
            IdList::Few(1, ids) => out.push(ids[0]),
            list => out.extend_from_slice(list.as_slice()),
        }
    }
}

/// A list stored inline while it has at most one element (the common case in the
/// automaton), so reading it does not touch another cache line.
#[derive(Clone, Debug, Default)]
pub(crate) enum SmallList<T> {
    #[default]
    Empty,
    One(T),
    Many(Vec<T>),
}

impl<T> SmallList<T> {
    #[inline]
    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            SmallList::Empty => &[],
            SmallList::One(item) => std::slice::from_ref(item),
            SmallList::Many(items) => items,
        }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            SmallList::Empty => &mut [],
            SmallList::One(item) => std::slice::from_mut(item),
            SmallList::Many(items) => items,
        }
    }

    /// Inserts at `at` (`<= len`), growing a spilled vector one element at a time
    /// while it is short.
    pub(crate) fn insert(&mut self, at: usize, item: T) {
        *self = match std::mem::take(self) {
            SmallList::Empty => SmallList::One(item),
            SmallList::One(first) => {
                let mut items = Vec::with_capacity(2);
                items.push(first);
                items.insert(at.min(1), item);
                SmallList::Many(items)
            }
            SmallList::Many(mut items) => {
                if items.len() == items.capacity() && items.len() < 8 {
                    items.reserve_exact(1);
                }
                items.insert(at, item);
                SmallList::Many(items)
            }
        };
    }

    fn into_vec(self) -> Vec<T> {
        match self {
            SmallList::Empty => Vec::new(),
            SmallList::One(item) => vec![item],
            SmallList::Many(items) => items,
        }
    }
}

/// Ids by key: a short list scanned linearly while small (most automaton states
/// have only a few keys, usually one, kept inline), a hash map beyond that.
#[derive(Clone, Debug)]
pub(crate) enum IdMap<K> {
    Small(SmallList<(K, IdList)>),
    Large(FxHashMap<K, IdList>),
}

impl<K> Default for IdMap<K> {
    fn default() -> Self {
        IdMap::Small(SmallList::Empty)
    }
}

impl<K: Hash + Eq> IdMap<K> {
    const SMALL: usize = 8;

    pub(crate) fn push(&mut self, key: K, id: u32) {
        match self {
            IdMap::Small(entries) => {
                let len = entries.as_slice().len();
                if let Some((_, ids)) = entries.as_mut_slice().iter_mut().find(|(k, _)| *k == key) {
                    ids.push(id);
                } else if len < Self::SMALL {
                    entries.insert(len, (key, IdList::one(id)));
                } else {
                    let mut map: FxHashMap<K, IdList> = std::mem::take(entries).into_vec().into_iter().collect();
                    push_id(&mut map, key, id);
                    *self = IdMap::Large(map);
                }
            }
            IdMap::Large(map) => push_id(map, key, id),
        }
    }

    #[inline]
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&IdList>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self {
            IdMap::Small(entries) => entries.as_slice().iter().find(|(k, _)| k.borrow() == key).map(|(_, ids)| ids),
            IdMap::Large(map) => map.get(key),
        }
    }
}

/// Appends `id` to the list under `key`, creating it.
pub(crate) fn push_id<K: std::hash::Hash + Eq>(map: &mut FxHashMap<K, IdList>, key: K, id: u32) {
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().push(id),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(IdList::one(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn id_list_grows() {
        let mut l = IdList::one(3);
        l.push(4);
        l.push(5);
        assert_eq!(l.as_slice(), &[3, 4, 5]);
        l.push(6);
        l.push(8);
        l.push(9);
        assert!(matches!(l, IdList::Few(6, _)));
        l.push(7);
        assert_eq!(l.as_slice(), &[3, 4, 5, 6, 8, 9, 7]);
        assert_eq!(std::mem::size_of::<IdList>(), 32);
        let mut m: FxHashMap<Key, IdList> = FxHashMap::default();
        push_id(&mut m, Key::new("a"), 1);
        push_id(&mut m, Key::new("a"), 2);
        assert_eq!(m.get("a".as_bytes()).map(IdList::as_slice), Some(&[1, 2][..]));
        let mut out = Vec::new();
        IdList::one(9).append_to(&mut out);
        IdList::Many(vec![1, 2]).append_to(&mut out);
        assert_eq!(out, [9, 1, 2]);
    }

    #[test]
    fn small_list_inserts_in_order() {
        let mut l = SmallList::default();
        l.insert(0, 5);
        assert!(matches!(l, SmallList::One(5)));
        l.insert(0, 3);
        l.insert(2, 9);
        l.insert(1, 4);
        assert_eq!(l.as_slice(), &[3, 4, 5, 9]);
        l.as_mut_slice()[0] = 1;
        assert_eq!(l.into_vec(), vec![1, 4, 5, 9]);
    }

    #[test]
    fn id_map_switches_to_hashing() {
        let mut m: IdMap<Key> = IdMap::default();
        for i in 0..20u32 {
            m.push(Key::new(&format!("k{}", i % 10)), i);
        }
        assert!(matches!(m, IdMap::Large(_)));
        assert_eq!(m.get("k3".as_bytes()).map(IdList::as_slice), Some(&[3, 13][..]));
        assert!(m.get("k10".as_bytes()).is_none());
        let mut small: IdMap<u64> = IdMap::default();
        small.push(5, 1);
        small.push(5, 2);
        assert_eq!(small.get(&5).map(IdList::as_slice), Some(&[1, 2][..]));
        assert!(IdMap::<u64>::default().get(&5).is_none());
    }

    #[test]
    fn keys_compare_by_content() {
        let long = "x".repeat(40);
        for s in ["", "abc", "exactly-twenty-two-ch", "exactly-twenty-two-chr", long.as_str()] {
            let k = Key::new(s);
            assert_eq!(Borrow::<[u8]>::borrow(&k), s.as_bytes());
            assert_eq!(k, Key::new(s));
            assert_eq!(FxBuild::default().hash_one(&k), FxBuild::default().hash_one(s.as_bytes()));
        }
        assert!(matches!(Key::new("exactly-twenty-two-chr"), Key::Inline(22, _)));
        assert_ne!(Key::new("ab"), Key::new("abc"));
    }

    #[test]
    fn hasher_distinguishes_short_strings() {
        let b = FxBuild::default();
        let keys = ["", "a", "b", "ab", "ba", "abcdefgh", "abcdefghi", "\0"];
        let hashes: std::collections::HashSet<u64> = keys.iter().map(|k| b.hash_one(k)).collect();
        assert_eq!(hashes.len(), keys.len());
    }
}
