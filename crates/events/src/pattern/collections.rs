//! Small collections for the compiled matcher: a fast non-cryptographic hasher
//! (the keys come from rule authors and events, never from an adversary that could
//! only hurt its own rules' latency) and compact id lists.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

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
pub(crate) type FxHashSet<K> = HashSet<K, FxBuild>;

/// A list of ids that does not allocate for the (overwhelmingly common) single id.
#[derive(Clone, Debug)]
pub(crate) enum IdList {
    One(u32),
    Many(Vec<u32>),
}

impl IdList {
    pub(crate) fn push(&mut self, id: u32) {
        match self {
            IdList::One(first) => *self = IdList::Many(vec![*first, id]),
            IdList::Many(ids) => ids.push(id),
        }
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[u32] {
        match self {
            IdList::One(id) => std::slice::from_ref(id),
            IdList::Many(ids) => ids,
        }
    }
}

/// Appends `id` to the list under `key`, creating it.
pub(crate) fn push_id<K: std::hash::Hash + Eq>(map: &mut FxHashMap<K, IdList>, key: K, id: u32) {
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().push(id),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(IdList::One(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn id_list_grows() {
        let mut l = IdList::One(3);
        l.push(4);
        l.push(5);
        assert_eq!(l.as_slice(), &[3, 4, 5]);
        let mut m: FxHashMap<Box<str>, IdList> = FxHashMap::default();
        push_id(&mut m, "a".into(), 1);
        push_id(&mut m, "a".into(), 2);
        assert_eq!(m.get("a").map(IdList::as_slice), Some(&[1, 2][..]));
    }

    #[test]
    fn hasher_distinguishes_short_strings() {
        let b = FxBuild::default();
        let keys = ["", "a", "b", "ab", "ba", "abcdefgh", "abcdefghi", "\0"];
        let hashes: FxHashSet<u64> = keys.iter().map(|k| b.hash_one(k)).collect();
        assert_eq!(hashes.len(), keys.len());
    }
}
