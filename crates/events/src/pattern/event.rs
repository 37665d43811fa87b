//! Per-event matching state: the flattened leaves with their array trails, the
//! interned array constraints of work items, and the per-thread buffers reused
//! from one event to the next (matching allocates only when an event is larger
//! than any seen before on the thread).

use std::cell::RefCell;
use std::hash::BuildHasher;

use super::collections::{push_id, FxBuild, FxHashMap, IdList};
use super::index::LookupScratch;
use super::value::Leaf;

/// `(array id, element index)`: one array element (object or array) on the way to a leaf.
pub(super) type Step = (u32, u32);

/// One leaf of the event at a path some rule tests.
pub(super) struct FlatLeaf<'a> {
    pub(super) path: u32,
    /// Snapshot of the array elements the leaf sits inside (0: none); interned
    /// into a constraint id only when a transition uses the leaf.
    pub(super) trail: u32,
    pub(super) leaf: Leaf<'a>,
    /// [`super::table::key_hash`] of a string leaf, computed once per event (0 for
    /// other leaves, whose keys are cheap to hash when needed).
    pub(super) hash: u64,
}

/// Per-event interning of array constraints (sorted `Step` lists), so work items
/// and the visited set hold plain ids. Invariant: equal contents have equal ids,
/// and id 0 is the empty constraint.
#[derive(Default)]
pub(super) struct ConstraintPool {
    steps: Vec<Step>,
    spans: Vec<(u32, u32)>,
    by_hash: FxHashMap<u64, IdList>,
}

impl ConstraintPool {
    pub(super) fn reset(&mut self) {
        self.steps.clear();
        self.spans.clear();
        self.spans.push((0, 0));
        self.by_hash.clear();
    }

    pub(super) fn get(&self, id: u32) -> &[Step] {
        let (start, len) = self.spans[id as usize];
        &self.steps[start as usize..(start + len) as usize]
    }

    pub(super) fn intern(&mut self, steps: &[Step]) -> u32 {
        if steps.is_empty() {
            return 0;
        }
        let hash = FxBuild::default().hash_one(steps);
        if let Some(ids) = self.by_hash.get(&hash) {
            if let Some(&id) = ids.as_slice().iter().find(|&&id| self.get(id) == steps) {
                return id;
            }
        }
        let id = to_u32(self.spans.len());
        self.spans.push((to_u32(self.steps.len()), to_u32(steps.len())));
        self.steps.extend_from_slice(steps);
        push_id(&mut self.by_hash, hash, id);
        id
    }
}

pub(super) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Per-thread buffers reused across events.
#[derive(Default)]
pub(super) struct Scratch {
    /// Always empty between calls; only its allocation is kept (see [`recycle`]).
    pub(super) leaves: Vec<FlatLeaf<'static>>,
    pub(super) pool: ConstraintPool,
    /// Array elements entered on the way to the current flatten position.
    pub(super) stack: Vec<Step>,
    /// Snapshot id of `stack`, while it is unchanged.
    pub(super) stack_id: Option<u32>,
    /// Snapshot id -> `(start, len)` in `snapshot_steps`; id 0 is the empty trail.
    pub(super) snapshots: Vec<(u32, u32)>,
    pub(super) snapshot_steps: Vec<Step>,
    /// Snapshot id -> interned constraint id (`u32::MAX` until needed).
    pub(super) snapshot_ids: Vec<u32>,
    /// Path id -> `(start, end)` of its leaves; `(0, 0)` when absent.
    pub(super) spans: Vec<(u32, u32)>,
    /// The paths the event has leaves at.
    pub(super) present: Vec<u32>,
    /// `(state, constraint id)` items still to visit.
    pub(super) work: Vec<(u32, u32)>,
    /// `state << 32 | constraint id` of every item ever queued.
    pub(super) seen: SeenSet,
    pub(super) merged: Vec<Step>,
    pub(super) targets: Vec<u32>,
    pub(super) lookup: LookupScratch,
    pub(super) accepted: Vec<u32>,
}

thread_local! {
    pub(super) static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Reuses a vector's allocation for another lifetime (in-place collect of an empty
/// iterator; falls back to a fresh allocation if the standard library does not).
// `filter_map` (not `filter`) because the element type changes lifetime.
#[allow(clippy::unnecessary_filter_map)]
pub(super) fn recycle<'b>(mut v: Vec<FlatLeaf<'_>>) -> Vec<FlatLeaf<'b>> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

impl Scratch {
    /// Makes the spans cover `paths` path ids (all absent).
    pub(super) fn reserve_paths(&mut self, paths: usize) {
        if self.spans.len() < paths {
            self.spans.resize(paths, (0, 0));
        }
    }

    /// The interned constraint id of a trail snapshot.
    pub(super) fn trail_constraint(&mut self, snapshot: u32) -> u32 {
        let cached = self.snapshot_ids[snapshot as usize];
        if cached != u32::MAX {
            return cached;
        }
        let (start, len) = self.snapshots[snapshot as usize];
        let id = self.pool.intern(&self.snapshot_steps[start as usize..(start + len) as usize]);
        self.snapshot_ids[snapshot as usize] = id;
        id
    }
}

/// Records in `spans[path]` the `(start, end)` of each path's leaves and lists the
/// paths in `present`. A path's leaves are usually already contiguous (see
/// [`super::compiled::Automaton::flatten`]); if some are not (objects in an
/// array), the leaves are first sorted by path. Invariant: `spans` covers every
/// path id and is all `(0, 0)` on entry; [`clear_spans`] restores that.
pub(super) fn index_by_path(leaves: &mut [FlatLeaf<'_>], spans: &mut [(u32, u32)], present: &mut Vec<u32>) {
    present.clear();
    let mut contiguous = true;
    for (i, leaf) in (0u32..).zip(leaves.iter()) {
        let span = &mut spans[leaf.path as usize];
        if span.1 == i && i > 0 {
            span.1 = i + 1;
        } else if *span == (0, 0) {
            *span = (i, i + 1);
            present.push(leaf.path);
        } else {
            contiguous = false;
        }
    }
    if contiguous {
        return;
    }
    leaves.sort_by_key(|l| l.path);
    for (i, leaf) in (0u32..).zip(leaves.iter()) {
        let span = &mut spans[leaf.path as usize];
        if i > 0 && leaves[i as usize - 1].path == leaf.path {
            span.1 = i + 1;
        } else {
            *span = (i, i + 1);
        }
    }
}

/// Undoes [`index_by_path`].
pub(super) fn clear_spans(sc: &mut Scratch) {
    for &path in &sc.present {
        sc.spans[path as usize] = (0, 0);
    }
}

/// A set of `u64`s emptied in O(1) per event: open addressing whose slots are valid
/// only when stamped with the current generation.
#[derive(Default)]
pub(super) struct SeenSet {
    slots: Vec<(u64, u32)>,
    generation: u32,
    len: usize,
}

impl SeenSet {
    pub(super) fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 || self.slots.is_empty() {
            self.slots = vec![(0, 0); self.slots.len().max(64)];
            self.generation = 1;
        }
        self.len = 0;
    }

    /// Whether `key` was not in the set (and is now). Invariant: `clear` was called
    /// before the first insert.
    pub(super) fn insert(&mut self, key: u64) -> bool {
        if (self.len + 1) * 2 > self.slots.len() {
            let live: Vec<u64> = self.slots.iter().filter(|s| s.1 == self.generation).map(|s| s.0).collect();
            self.slots = vec![(0, 0); self.slots.len() * 2];
            self.len = 0;
            for k in live {
                self.insert(k);
            }
        }
        let mask = self.slots.len() - 1;
        let mut i = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & mask;
        loop {
            let (k, generation) = self.slots[i];
            if generation != self.generation {
                self.slots[i] = (key, self.generation);
                self.len += 1;
                return true;
            }
            if k == key {
                return false;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Queues `(state, constraint)` unless it was already queued for this event.
pub(super) fn push(sc: &mut Scratch, state: u32, constraint: u32) {
    if sc.seen.insert((u64::from(state) << 32) | u64::from(constraint)) {
        sc.work.push((state, constraint));
    }
}

/// Unites two array constraints (each sorted by array id, as array ids are given
/// in pre-order) into `out`; false when they pin one array to different elements.
pub(super) fn merge(a: &[Step], b: &[Step], out: &mut Vec<Step>) -> bool {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal if a[i].1 != b[j].1 => return false,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_set_forgets_on_clear_and_grows() {
        let mut seen = SeenSet::default();
        for round in 0..3u64 {
            seen.clear();
            for k in 0..500u64 {
                assert!(seen.insert(k * 7 + round), "{k}");
            }
            assert!((0..500u64).all(|k| !seen.insert(k * 7 + round)));
        }
        seen.generation = u32::MAX;
        seen.clear();
        assert!(seen.insert(3) && !seen.insert(3));
    }

    #[test]
    fn merge_unites_or_rejects() {
        let mut out = Vec::new();
        assert!(merge(&[(0, 1), (2, 0)], &[(1, 5), (2, 0)], &mut out));
        assert_eq!(out, [(0, 1), (1, 5), (2, 0)]);
        assert!(!merge(&[(0, 1)], &[(0, 2)], &mut out));
    }
}
