//! Per-event matching state: the flattened leaves with their array trails, the
//! interned array constraints of work items, and the per-thread buffers reused
//! from one event to the next (matching allocates only when an event is larger
//! than any seen before on the thread).

use std::cell::RefCell;
use std::hash::BuildHasher;

use super::collections::{push_id, FxBuild, FxHashMap, FxHashSet, IdList};
use super::index::LookupScratch;
use super::value::Leaf;

/// `(array id, element index)`: one array element (object or array) on the way to a leaf.
pub(super) type Step = (u32, u32);

/// One leaf of the event at a path some rule tests.
pub(super) struct FlatLeaf<'a> {
    pub(super) path: u32,
    pub(super) leaf: Leaf<'a>,
    /// Snapshot of the array elements the leaf sits inside (0: none); interned
    /// into a constraint id only when a transition uses the leaf.
    pub(super) trail: u32,
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
    /// `(path, start, end)` ranges of the sorted leaves.
    pub(super) groups: Vec<(u32, u32, u32)>,
    /// `(state, constraint id)` items still to visit.
    pub(super) work: Vec<(u32, u32)>,
    /// `state << 32 | constraint id` of every item ever queued.
    pub(super) seen: FxHashSet<u64>,
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

/// Fills `groups` with `(path, start, end)` ranges of `leaves`, sorted by path,
/// each path's leaves being contiguous. Usually they already are (see
/// [`Automaton::flatten`]), so only the runs are sorted; if a path's leaves are
/// split (objects in an array), the leaves themselves are sorted.
pub(super) fn group_by_path(leaves: &mut [FlatLeaf<'_>], groups: &mut Vec<(u32, u32, u32)>) {
    groups.clear();
    for (i, leaf) in (0u32..).zip(leaves.iter()) {
        match groups.last_mut() {
            Some(g) if g.0 == leaf.path => g.2 = i + 1,
            _ => groups.push((leaf.path, i, i + 1)),
        }
    }
    groups.sort_unstable();
    if groups.windows(2).all(|w| w[0].0 != w[1].0) {
        return;
    }
    leaves.sort_by_key(|l| l.path);
    groups.clear();
    for (i, leaf) in (0u32..).zip(leaves.iter()) {
        match groups.last_mut() {
            Some(g) if g.0 == leaf.path => g.2 = i + 1,
            _ => groups.push((leaf.path, i, i + 1)),
        }
    }
}

/// Queues `(state, constraint)` unless it was already queued for this event.
pub static STATS: [std::sync::atomic::AtomicUsize; 4] = [const { std::sync::atomic::AtomicUsize::new(0) }; 4];
pub(super) fn push(sc: &mut Scratch, state: u32, constraint: u32) {
    STATS[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
