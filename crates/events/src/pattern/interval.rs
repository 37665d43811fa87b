//! Stabbing queries over inclusive integer intervals, used for numeric ranges (on
//! an order-preserving `u64` encoding of f64) and CIDR blocks (`u64` for IPv4,
//! `u128` for IPv6). A few intervals are scanned; more are sorted by lower bound
//! with a max-upper-bound segment tree on top, so a query costs
//! `O((1 + reported) · log n)` regardless of how many intervals there are.

use std::sync::OnceLock;

use super::collections::SmallList;
use super::value::ordered_bits;

/// Encodes a number as an interval point. Consecutive finite f64 values have
/// consecutive codes, so an open bound `> x` is the closed bound `>= code(x) + 1`.
pub(crate) fn point(x: f64) -> u64 {
    ordered_bits(x)
}

/// The smallest number whose point is at least `code`: a range's lower bound as an
/// f64, so that testing many numbers against a few ranges needs no encoding.
pub(crate) fn lower_value(code: u64) -> f64 {
    match code {
        0 => f64::NEG_INFINITY,
        // No number has this point (it would be -0.0, whose point is 0.0's).
        NEG_ZERO => 0.0,
        _ => decode(code),
    }
}

/// The largest number whose point is at most `code`.
pub(crate) fn upper_value(code: u64) -> f64 {
    match code {
        u64::MAX => f64::INFINITY,
        NEG_ZERO => -f64::from_bits(1),
        _ => decode(code),
    }
}

/// The point -0.0 would have without canonicalisation.
const NEG_ZERO: u64 = (1 << 63) - 1;

/// Inverse of [`point`] on the points of numbers.
fn decode(code: u64) -> f64 {
    if code >> 63 == 1 {
        f64::from_bits(code & !(1 << 63))
    } else {
        f64::from_bits(!code)
    }
}

/// `(lo, hi)` of a numeric range, with unbounded sides at the ends of `u64`.
pub(crate) fn numeric_bounds(range: &super::value::NumRange) -> (u64, u64) {
    let lo = match range.lower {
        None => 0,
        Some((x, true)) => point(x.0),
        Some((x, false)) => point(x.0).saturating_add(1),
    };
    let hi = match range.upper {
        None => u64::MAX,
        Some((x, true)) => point(x.0),
        Some((x, false)) => point(x.0).saturating_sub(1),
    };
    (lo, hi)
}

#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct IntervalSet<K> {
    /// `(lo, hi, id)` in insertion order; a single one is stored inline.
    items: SmallList<(K, K, u32)>,
    /// Built on the first query after a change. Invariant: when set, it indexes
    /// exactly `items` (every insert resets it).
    built: OnceLock<Box<Built<K>>>,
}

impl<K> Default for IntervalSet<K> {
    fn default() -> Self {
        IntervalSet { items: SmallList::Empty, built: OnceLock::new() }
    }
}

#[derive(Clone, Debug)]
struct Built<K> {
    /// Lower bounds, sorted; `ids[i]` is the interval with lower bound `los[i]`.
    los: Vec<K>,
    ids: Vec<u32>,
    /// `prefix_max[i]`: the largest upper bound among intervals `0..=i`, which rejects
    /// most queries (no interval reaches them) after a single binary search.
    prefix_max: Vec<K>,
    /// Segment tree (1-based, leaves at `width..2*width`) of maximum upper bounds.
    max_hi: Vec<K>,
    width: usize,
}

/// Sets of at most this many intervals are scanned rather than searched.
pub(crate) const SCAN: usize = 8;

impl<K: Copy + Ord + Default + Send + Sync> IntervalSet<K> {
    pub(crate) fn insert(&mut self, lo: K, hi: K, id: u32) {
        self.items.insert(self.items.as_slice().len(), (lo, hi, id));
        self.built = OnceLock::new();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.as_slice().is_empty()
    }

    /// The intervals, when few enough to scan rather than search.
    #[inline]
    pub(crate) fn few(&self) -> Option<&[(K, K, u32)]> {
        let items = self.items.as_slice();
        (items.len() <= SCAN).then_some(items)
    }

    /// Appends the ids of the intervals containing `q` when the set is small enough
    /// to scan; false (nothing appended) otherwise.
    #[inline]
    fn scan(&self, q: K, out: &mut Vec<u32>) -> bool {
        let Some(items) = self.few() else {
            return false;
        };
        for &(lo, hi, id) in items {
            if lo <= q && q <= hi {
                out.push(id);
            }
        }
        true
    }

    /// Appends the id of every interval containing `q`.
    pub(crate) fn stab(&self, q: K, out: &mut Vec<u32>) {
        if self.scan(q, out) {
            return;
        }
        let built = self.built.get_or_init(|| Box::new(Built::new(self.items.as_slice())));
        built.report_upto(built.los.partition_point(|&lo| lo <= q), q, out);
    }

    /// Like [`Self::stab`], but starts the search from the nearest of a few recent
    /// queries on this set: a handful of steps when an event's values cluster.
    pub(crate) fn stab_near(&self, q: K, hints: &mut Hints<K>, out: &mut Vec<u32>)
    where
        K: std::ops::Sub<Output = K>,
    {
        if self.scan(q, out) {
            return;
        }
        let built = self.built.get_or_init(|| Box::new(Built::new(self.items.as_slice())));
        let los = &built.los;
        let candidates = match hints.nearest(q) {
            Some((slot, hq, hp)) => {
                let p = if q >= hq { gallop_up(los, q, hp) } else { gallop_down(los, q, hp) };
                hints.record(Some(slot).filter(|_| p.abs_diff(hp) <= 16), q, p);
                p
            }
            None => {
                let p = los.partition_point(|&lo| lo <= q);
                hints.record(None, q, p);
                p
            }
        };
        built.report_upto(candidates, q, out);
    }
}

/// Recent `(query, partition point)` pairs of one interval set. Invariant: each
/// point is `los.partition_point(|lo| lo <= query)` for the set they were made on,
/// so callers must [`Hints::clear`] them before querying another set.
#[derive(Clone, Debug, Default)]
pub(crate) struct Hints<K> {
    entries: [(K, usize); 4],
    len: usize,
    next: usize,
}

impl<K: Copy + Ord + std::ops::Sub<Output = K>> Hints<K> {
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
    }

    /// `(slot, query, point)` of the recorded query closest to `q`.
    fn nearest(&self, q: K) -> Option<(usize, K, usize)> {
        let dist = |hq: K| if hq >= q { hq - q } else { q - hq };
        (0..self.len).min_by_key(|&i| dist(self.entries[i].0)).map(|i| (i, self.entries[i].0, self.entries[i].1))
    }

    /// Stores a result, over `slot` when given (same cluster), else round-robin.
    fn record(&mut self, slot: Option<usize>, q: K, p: usize) {
        let at = slot.unwrap_or_else(|| {
            let at = self.next;
            self.next = (self.next + 1) % self.entries.len();
            self.len = self.len.max(at + 1);
            at
        });
        self.entries[at] = (q, p);
    }
}

/// `partition_point(<= q)` knowing it is at least `from` (all of `los[..from]` are `<= q`).
fn gallop_up<K: Copy + Ord>(los: &[K], q: K, from: usize) -> usize {
    let (mut lo, mut hi, mut step) = (from, from, 1);
    while hi < los.len() && los[hi] <= q {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    let hi = hi.min(los.len());
    lo + los[lo..hi].partition_point(|&x| x <= q)
}

/// `partition_point(<= q)` knowing it is at most `from` (all of `los[from..]` are `> q`).
fn gallop_down<K: Copy + Ord>(los: &[K], q: K, from: usize) -> usize {
    let (mut hi, mut step) = (from, 1);
    while hi > 0 {
        let probe = hi.saturating_sub(step);
        if los[probe] <= q {
            return probe + 1 + los[probe + 1..hi].partition_point(|&x| x <= q);
        }
        hi = probe;
        step *= 2;
    }
    0
}

impl<K: Copy + Ord + Default> Built<K> {
    fn new(items: &[(K, K, u32)]) -> Built<K> {
        let mut sorted = items.to_vec();
        sorted.sort_unstable();
        let width = sorted.len().next_power_of_two();
        let mut max_hi = vec![K::default(); 2 * width];
        let mut prefix_max = Vec::with_capacity(sorted.len());
        for (i, it) in sorted.iter().enumerate() {
            max_hi[width + i] = it.1;
            prefix_max.push(prefix_max.last().map_or(it.1, |&m: &K| m.max(it.1)));
        }
        for node in (1..width).rev() {
            max_hi[node] = max_hi[2 * node].max(max_hi[2 * node + 1]);
        }
        let los = sorted.iter().map(|it| it.0).collect();
        let ids = sorted.iter().map(|it| it.2).collect();
        Built { los, ids, prefix_max, max_hi, width }
    }

    /// Reports the intervals among the first `candidates` (those with `lo <= q`) that
    /// reach `q`, after the O(1) rejection by prefix maximum.
    fn report_upto(&self, candidates: usize, q: K, out: &mut Vec<u32>) {
        if candidates > 0 && self.prefix_max[candidates - 1] >= q {
            self.report(1, 0, self.width, candidates, q, out);
        }
    }

    /// Reports intervals among `sorted[l..r) ∩ sorted[..candidates)` with `hi >= q`.
    /// Invariant: every candidate has `lo <= q`.
    fn report(&self, node: usize, l: usize, r: usize, candidates: usize, q: K, out: &mut Vec<u32>) {
        if l >= candidates || self.max_hi[node] < q {
            return;
        }
        if r - l == 1 {
            out.push(self.ids[l]);
            return;
        }
        let mid = (l + r) / 2;
        self.report(2 * node, l, mid, candidates, q, out);
        self.report(2 * node + 1, mid, r, candidates, q, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::value::{NumRange, F64};

    #[test]
    fn stabbing_matches_brute_force() {
        let mut set = IntervalSet::<u128>::default();
        let mut raw = Vec::new();
        let mut seed = 7u64;
        for id in 0..300u32 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let lo = u128::from((seed >> 33) % 1000);
            let hi = lo + u128::from((seed >> 13) % 50);
            set.insert(lo, hi, id);
            raw.push((lo, hi, id));
        }
        for q in 0..1100u128 {
            let mut got = Vec::new();
            set.stab(q, &mut got);
            got.sort_unstable();
            let want: Vec<u32> = raw.iter().filter(|(lo, hi, _)| *lo <= q && q <= *hi).map(|it| it.2).collect();
            assert_eq!(got, want, "q={q}");
        }
        // Hinted queries in any order agree with plain ones.
        let mut hints = Hints::default();
        for i in 0..3000u64 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let q = if i % 3 == 0 { u128::from((seed >> 40) % 1100) } else { u128::from(500 + (seed >> 40) % 9) };
            let (mut plain, mut near) = (Vec::new(), Vec::new());
            set.stab(q, &mut plain);
            set.stab_near(q, &mut hints, &mut near);
            assert_eq!(plain, near, "q={q}");
        }
        set.insert(0, u128::MAX, 999);
        let mut got = Vec::new();
        set.stab(5000, &mut got);
        assert_eq!(got, vec![999]);
    }

    #[test]
    fn gallops_find_the_partition_point() {
        let los: Vec<u64> = (0..100).map(|i| i * 2).collect();
        for q in 0..205u64 {
            let want = los.partition_point(|&x| x <= q);
            for from in 0..=los.len() {
                if from <= want {
                    assert_eq!(gallop_up(&los, q, from), want, "up q={q} from={from}");
                }
                if from >= want {
                    assert_eq!(gallop_down(&los, q, from), want, "down q={q} from={from}");
                }
            }
        }
    }

    #[test]
    fn bounds_as_numbers_agree_with_points() {
        let xs = [-1e300, -2.5, -1.0, -f64::from_bits(1), -0.0, 0.0, f64::from_bits(1), 0.5, 1.0, 2.0, 3e300];
        let bound = |x: f64, incl: bool| Some((F64(x), incl));
        for &a in &xs {
            for &b in &xs {
                for (li, ui) in [(true, true), (true, false), (false, true), (false, false)] {
                    for r in [
                        NumRange { lower: bound(a, li), upper: bound(b, ui) },
                        NumRange { lower: None, upper: bound(b, ui) },
                        NumRange { lower: bound(a, li), upper: None },
                    ] {
                        let (lo, hi) = numeric_bounds(&r);
                        for &x in &xs {
                            let by_point = lo <= point(x) && point(x) <= hi;
                            let by_value = lower_value(lo) <= x && x <= upper_value(hi);
                            assert_eq!(by_point, by_value, "{r:?} {x}");
                            assert_eq!(by_point, r.contains(x), "{r:?} {x}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn open_and_closed_bounds() {
        let range = |lower, upper| NumRange { lower, upper };
        let (lo, hi) = numeric_bounds(&range(Some((F64(1.0), false)), Some((F64(2.0), true))));
        assert!(lo > point(1.0) && lo <= point(1.000_000_1));
        assert_eq!(hi, point(2.0));
        let (lo, hi) = numeric_bounds(&range(None, Some((F64(-3.0), false))));
        assert_eq!(lo, 0);
        assert!(hi < point(-3.0) && hi > point(-3.000_000_1));
        // Open bounds at zero exclude exactly zero (and -0.0).
        let (lo, _) = numeric_bounds(&range(Some((F64(0.0), false)), None));
        assert!(lo > point(-0.0) && lo == point(f64::from_bits(1)));
        let (_, hi) = numeric_bounds(&range(None, Some((F64(0.0), false))));
        assert!(hi < point(0.0) && hi >= point(-f64::from_bits(1)));
    }
}
