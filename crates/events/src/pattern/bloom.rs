//! Bloom filters over the table keys of one (state, path) index, so that a lookup
//! of a key the index does not have is usually answered without probing the
//! shared table (a likely cache miss once there are many rules).
//!
//! Small indexes use one inline `u64` ([`small_bit`]); an index whose word fills up
//! gets a blocked [`Bloom`]: about [`BITS_PER_KEY`] bits per key, two bits per key
//! in one 64-bit word, so a test reads one word (2 to 5 % false positives).
//! Eight bits per key rather than more: the filters of the root's large indexes are
//! read by every event, and a smaller filter stays cached at a few more probes.

use super::table::Tag;

/// Bits per key of a [`Bloom`].
const BITS_PER_KEY: usize = 8;

/// Mixes a key hash with its tag (keys of different tags are different keys).
fn mix(tag: Tag, hash: u64) -> u64 {
    let x = (hash ^ u64::from(tag as u8).wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^ (x >> 31)
}

/// The bit of a key in a small (one-word) filter.
pub(crate) fn small_bit(tag: Tag, hash: u64) -> u64 {
    1 << (mix(tag, hash) >> 58)
}

/// A blocked Bloom filter: two words, so that it shares a cache line with what a
/// lookup reads next. The mixed hash of every key, needed to rebuild the filter as it
/// grows, is kept by its owner (away from what lookups read) and passed in as
/// `hashes`. Invariant: `words.len()` is a power of two, at least
/// `hashes.len() * BITS_PER_KEY / 64`, and every mixed hash in `hashes` is set.
#[derive(Clone, Debug)]
pub(crate) struct Bloom {
    words: Box<[u64]>,
}

impl Bloom {
    /// A filter holding the given `(tag, key hash)`s; `hashes` (empty) receives their
    /// mixed hashes, to pass to later inserts.
    pub(crate) fn new(keys: impl IntoIterator<Item = (Tag, u64)>, hashes: &mut Vec<u64>) -> Bloom {
        let mut bloom = Bloom { words: vec![0; 8].into() };
        for (tag, hash) in keys {
            bloom.insert(hashes, tag, hash);
        }
        bloom
    }

    pub(crate) fn insert(&mut self, hashes: &mut Vec<u64>, tag: Tag, hash: u64) {
        let h = mix(tag, hash);
        hashes.push(h);
        if hashes.len() * BITS_PER_KEY > self.words.len() * 64 {
            self.words = vec![0; self.words.len() * 2].into();
            for &h in hashes.iter() {
                self.set(h);
            }
        } else {
            self.set(h);
        }
    }

    fn set(&mut self, h: u64) {
        let (word, bits) = self.locate(h);
        self.words[word] |= bits;
    }

    /// The word of a mixed hash, and its two bits there.
    #[inline]
    fn locate(&self, h: u64) -> (usize, u64) {
        let word = (h as usize) & (self.words.len() - 1);
        (word, (1 << (h >> 58)) | (1 << ((h >> 52) & 63)))
    }

    /// False only if the key was never inserted.
    #[inline]
    pub(crate) fn may_contain(&self, tag: Tag, hash: u64) -> bool {
        let (word, bits) = self.locate(mix(tag, hash));
        self.words[word] & bits == bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::table::key_hash;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let key = |i: u32| key_hash(format!("key{i}").as_bytes());
        let mut hashes = Vec::new();
        let mut bloom = Bloom::new((0..10).map(|i| (Tag::Str, key(i))), &mut hashes);
        for i in 10..20_000 {
            bloom.insert(&mut hashes, if i % 2 == 0 { Tag::Str } else { Tag::Prefix }, key(i));
        }
        for i in 0..20_000 {
            assert!(bloom.may_contain(if i % 2 == 0 || i < 10 { Tag::Str } else { Tag::Prefix }, key(i)), "{i}");
        }
        let false_positives = (20_000..40_000).filter(|&i| bloom.may_contain(Tag::Str, key(i))).count();
        assert!(false_positives < 20_000 / 20, "{false_positives}");
        assert!(bloom.words.len() * 64 >= 20_000 * BITS_PER_KEY);
        assert_ne!(small_bit(Tag::Str, 1), 0);
    }

    #[test]
    fn small_filter_spreads_keys() {
        // `PathIndex` switches to a `Bloom` once 24 bits are set: after a few dozen keys.
        let word = |n: u32| (0..n).fold(0u64, |w, i| w | small_bit(Tag::Str, key_hash(&i.to_le_bytes())));
        assert!(word(8).count_ones() >= 6);
        assert!(word(40).count_ones() >= 24);
        assert_ne!(small_bit(Tag::Str, 7), small_bit(Tag::Prefix, 7));
    }
}
