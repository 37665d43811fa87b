//! Matching one flattened event: a walk over `(state, array constraint)` items
//! from the root, probing at each state only the paths both it and the event have.
//!
//! - An item is visited once per event (`Scratch::seen`); the order of visits does
//!   not change the result, since constraints only ever grow by merging.
//! - A lookup may yield `FINAL | rule slot` instead of a state (see `table.rs`):
//!   the rule is accepted there and then, without reading the final state.
//! - `exists: false` transitions are taken when the event has no leaf at the path.
//! - Long arrays of numbers tested only against a few ranges (coordinates) get a
//!   tight loop comparing f64s instead of the general lookup per number.
//! - An item that cannot be queued twice (see [`take`]) skips the `seen` set.
//! - A queued state is prefetched: with many rules, reading it is a cache miss
//!   that can overlap the work done before its item is popped.

use super::compiled::{Automaton, State};
use super::event::{merge, push, FlatLeaf, Scratch};
use super::index::PathIndex;
use super::interval::{lower_value, upper_value};
use super::table::{Probe, Tag, FINAL};
use super::value::Leaf;

impl Automaton {
    pub(super) fn walk(&self, leaves: &[FlatLeaf<'_>], sc: &mut Scratch) {
        // Invariant: every item ever on `work` is in `seen` or cannot be queued twice
        // (so each is visited once).
        sc.work.clear();
        sc.seen.clear();
        sc.seen.insert(0);
        sc.work.push((0, 0));
        while let Some((s, constraint)) = sc.work.pop() {
            self.visit(s, constraint, leaves, sc);
        }
    }

    fn visit(&self, s: u32, constraint: u32, leaves: &[FlatLeaf<'_>], sc: &mut Scratch) {
        let state = &self.states[s as usize];
        if let Some(slots) = &state.accept {
            slots.append_to(&mut sc.accepted);
        }
        for entry in state.paths.as_slice() {
            match sc.spans[entry.path as usize] {
                (lo, hi) if hi > lo => self.step(s, entry, leaves, constraint, sc),
                _ if entry.tags & Tag::Absent.bit() != 0 => {
                    sc.targets.clear();
                    self.table.get(s, entry.path, Tag::Absent, &Probe::empty(), &mut sc.targets);
                    take(0, constraint, constraint == 0, sc, &self.states);
                }
                _ => {}
            }
        }
    }

    /// Takes the transitions the leaves of one path enable from one work item.
    fn step(&self, s: u32, index: &PathIndex, all: &[FlatLeaf<'_>], constraint: u32, sc: &mut Scratch) {
        let (lo, hi) = sc.spans[index.path as usize];
        let leaves = &all[lo as usize..hi as usize];
        if let Some(ranges) = index.numeric_only().and_then(|set| set.few()) {
            // A range at a time (usually there is one), each bound decoded once.
            for &(lo, hi, target) in ranges {
                let (lo, hi) = (lower_value(lo), upper_value(hi));
                for leaf in leaves {
                    if let Leaf::Num(x) = leaf.leaf {
                        if (lo <= x) & (x <= hi) {
                            sc.targets.clear();
                            sc.targets.push(target);
                            take(leaf.trail, constraint, false, sc, &self.states);
                        }
                    }
                }
            }
            return;
        }
        sc.lookup.start();
        let single = leaves.len() == 1;
        for leaf in leaves {
            sc.targets.clear();
            index.lookup(&self.table, s, &leaf.leaf, leaf.hash, &mut sc.lookup, &mut sc.targets);
            if !sc.targets.is_empty() {
                let once = single && leaf.trail == 0 && constraint == 0;
                take(leaf.trail, constraint, once, sc, &self.states);
            }
        }
    }
}

/// Queues the transitions in `sc.targets`, enabled by a leaf with this trail from
/// an item with this constraint, unless the two pin an array to different elements.
///
/// `once`: these items cannot be queued again in this event, so they skip the
/// `seen` set. True when the leaf is its path's only one and neither it nor the item
/// is pinned to array elements (or for `exists: false` from an unpinned item).
/// Invariant behind it: the states form a tree, so an item `(state, 0)` is queued
/// only from the one visit of `(its parent, 0)`, by the leaves of one path.
fn take(trail: u32, constraint: u32, once: bool, sc: &mut Scratch, states: &[State]) {
    // Only now pay for the array constraint (most leaves enable nothing).
    let trail = if trail == 0 { 0 } else { sc.trail_constraint(trail) };
    let next = if trail == 0 || trail == constraint {
        constraint
    } else if constraint == 0 {
        trail
    } else if merge(sc.pool.get(constraint), sc.pool.get(trail), &mut sc.merged) {
        sc.pool.intern(&sc.merged)
    } else {
        return; // The leaf is in another element of an array already pinned.
    };
    if sc.targets.len() > 1 {
        sc.targets.sort_unstable();
        sc.targets.dedup();
    }
    for i in 0..sc.targets.len() {
        let target = sc.targets[i];
        if target & FINAL != 0 {
            sc.accepted.push(target & !FINAL);
        } else {
            // The state is read when its item is popped, usually after other work:
            // with many rules it is a cache miss, so start loading it now.
            if let Some(state) = states.get(target as usize) {
                prefetch(state);
            }
            if once {
                sc.work.push((target, next));
            } else {
                push(sc, target, next);
            }
        }
    }
}

/// Asks the CPU to start loading `value`'s cache line. A hint only: it changes no
/// result, and is a no-op off x86_64.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing into the program, whatever
    // the address (here that of a live reference); SSE, which provides it, is part of
    // the x86_64 baseline. It is `unsafe` only as a `#[target_feature]` function.
    #[allow(unsafe_code)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(value).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
