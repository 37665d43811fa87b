//! The compiled automaton shared by all rules.
//!
//! Every rule is expanded into conjunctions of [`Cond`]s sorted by path; each
//! conjunction is a path through a trie of states whose edges are
//! `(path, condition)` pairs, so rules sharing leading conditions share states.
//! Each state keeps, per path, a [`ValueIndex`] from leaf values to the edges they
//! enable. Matching flattens the event once (only the key paths some rule uses),
//! then walks from the root with a worklist of `(state, array constraint)` items,
//! probing at each state only the paths both the state and the event have.

use serde_json::Value;

use super::collections::{FxHashMap, IdList, Key, SmallList};
use super::event::{group_by_path, merge, push, recycle, to_u32, FlatLeaf, Scratch, SCRATCH};
use super::index::ValueIndex;
use super::parse::Cond;
use super::value::{Leaf, Op};

#[derive(Debug, Default)]
pub(crate) struct Automaton {
    /// Invariant: state 0 is the root and always exists.
    states: Vec<State>,
    /// Trie of key paths; a path's id is its node id.
    nodes: Vec<PathNode>,
    /// Interned condition matcher lists.
    conds: FxHashMap<Vec<Op>, u32>,
    /// `(state, path, condition) -> next state`, for sharing when adding.
    edges: FxHashMap<(u32, u32, u32), u32>,
}

#[derive(Debug, Default)]
struct State {
    /// Sorted by path id.
    by_path: SmallList<(u32, ValueIndex)>,
    /// Paths (sorted) whose index has `exists: false` edges.
    absent_paths: Vec<u32>,
    /// Rule slots accepted on reaching this state.
    accept: Option<IdList>,
}

#[derive(Debug, Default)]
struct PathNode {
    children: FxHashMap<Key, u32>,
    /// Some condition tests the leaves at exactly this path.
    is_target: bool,
}

fn rank(op: &Op) -> u8 {
    match op {
        Op::Literal(_) | Op::EqualsIgnoreCase(_) => 0,
        Op::Prefix(_) | Op::Suffix(_) | Op::PrefixIgnoreCase(_) | Op::SuffixIgnoreCase(_) | Op::Wildcard(_) => 1,
        Op::Numeric(_) | Op::Cidr(_) => 2,
        Op::AnythingBut(_) => 3,
        Op::Exists(_) => 4,
    }
}

impl Automaton {
    pub(crate) fn new() -> Automaton {
        Automaton { states: vec![State::default()], nodes: vec![PathNode::default()], ..Default::default() }
    }

    /// Adds one conjunction (sorted conditions) accepting `slot`.
    pub(crate) fn add_branch(&mut self, branch: &[Cond], slot: u32) {
        if branch.iter().any(|c| c.ops.is_empty()) {
            return; // `[]` matches nothing, so neither does the conjunction.
        }
        let mut sorted = branch.to_vec();
        sorted.sort_by_key(|c| (c.ops.iter().map(rank).max().unwrap_or(0), c.path.clone()));
        let mut state = 0u32;
        for cond in &sorted {
            let path = self.intern_path(&cond.path);
            let next_cond = u32::try_from(self.conds.len()).unwrap_or(u32::MAX);
            let cond_id = *self.conds.entry(cond.ops.clone()).or_insert(next_cond);
            state = match self.edges.get(&(state, path, cond_id)) {
                Some(&next) => next,
                None => self.add_edge(state, path, cond_id, &cond.ops),
            };
        }
        match &mut self.states[state as usize].accept {
            Some(slots) => slots.push(slot),
            empty => *empty = Some(IdList::One(slot)),
        }
    }

    fn add_edge(&mut self, from: u32, path: u32, cond_id: u32, ops: &[Op]) -> u32 {
        let target = u32::try_from(self.states.len()).unwrap_or(u32::MAX);
        self.states.push(State::default());
        self.edges.insert((from, path, cond_id), target);
        let state = &mut self.states[from as usize];
        let at = match state.by_path.as_slice().binary_search_by_key(&path, |e| e.0) {
            Ok(at) => at,
            Err(at) => {
                state.by_path.insert(at, (path, ValueIndex::default()));
                at
            }
        };
        for op in ops {
            state.by_path.as_mut_slice()[at].1.insert(op, target);
        }
        if ops.contains(&Op::Exists(false)) {
            if let Err(at) = state.absent_paths.binary_search(&path) {
                state.absent_paths.insert(at, path);
            }
        }
        target
    }

    fn intern_path(&mut self, path: &[String]) -> u32 {
        let mut node = 0u32;
        for key in path {
            node = match self.nodes[node as usize].children.get(key.as_bytes()) {
                Some(&child) => child,
                None => {
                    let child = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
                    self.nodes.push(PathNode::default());
                    self.nodes[node as usize].children.insert(Key::new(key), child);
                    child
                }
            };
        }
        self.nodes[node as usize].is_target = true;
        node
    }

    /// Runs the event through the automaton and hands the accepted slots (unsorted,
    /// possibly repeated) to `finish`.
    pub(crate) fn run<T>(&self, event: &Value, finish: impl FnOnce(&mut Vec<u32>) -> T) -> T {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut sc) => self.run_with(event, &mut sc, finish),
            Err(_) => self.run_with(event, &mut Scratch::default(), finish),
        })
    }

    fn run_with<T>(&self, event: &Value, sc: &mut Scratch, finish: impl FnOnce(&mut Vec<u32>) -> T) -> T {
        let mut leaves = recycle(std::mem::take(&mut sc.leaves));
        sc.pool.reset();
        sc.stack.clear();
        sc.stack_id = Some(0);
        sc.snapshots.clear();
        sc.snapshots.push((0, 0));
        sc.snapshot_steps.clear();
        let mut next_array = 0;
        self.flatten(event, 0, &mut leaves, sc, &mut next_array);
        sc.snapshot_ids.clear();
        sc.snapshot_ids.resize(sc.snapshots.len(), u32::MAX);
        sc.snapshot_ids[0] = 0;
        group_by_path(&mut leaves, &mut sc.groups);
        let mut accepted = std::mem::take(&mut sc.accepted);
        accepted.clear();
        self.walk(&leaves, sc, &mut accepted);
        sc.leaves = recycle(leaves);
        let result = finish(&mut accepted);
        sc.accepted = accepted;
        result
    }

    /// Collects the leaves at target paths, skipping keys no rule mentions.
    /// Invariant: the leaves of one subtree are emitted contiguously.
    fn flatten<'a>(
        &self,
        value: &'a Value,
        node: u32,
        out: &mut Vec<FlatLeaf<'a>>,
        sc: &mut Scratch,
        next_array: &mut u32,
    ) {
        let here = &self.nodes[node as usize];
        match value {
            Value::Object(map) => {
                if here.children.is_empty() {
                    return;
                }
                for (key, child) in map {
                    if let Some(&next) = here.children.get(key.as_bytes()) {
                        self.flatten(child, next, out, sc, next_array);
                    }
                }
            }
            Value::Array(items) => {
                let id = *next_array;
                *next_array += 1;
                for (i, item) in (0u32..).zip(items) {
                    if item.is_object() || item.is_array() {
                        sc.stack.push((id, i));
                        sc.stack_id = None;
                        self.flatten(item, node, out, sc, next_array);
                        sc.stack.pop();
                        sc.stack_id = None;
                    } else if here.is_target {
                        Self::emit(item, node, out, sc);
                    }
                }
            }
            scalar => {
                if here.is_target {
                    Self::emit(scalar, node, out, sc);
                }
            }
        }
    }

    fn emit<'a>(scalar: &'a Value, node: u32, out: &mut Vec<FlatLeaf<'a>>, sc: &mut Scratch) {
        let Some(leaf) = Leaf::from_json(scalar) else {
            return;
        };
        let trail = match sc.stack_id {
            Some(id) => id,
            None => {
                let id = to_u32(sc.snapshots.len());
                sc.snapshots.push((to_u32(sc.snapshot_steps.len()), to_u32(sc.stack.len())));
                sc.snapshot_steps.extend_from_slice(&sc.stack);
                sc.stack_id = Some(id);
                id
            }
        };
        out.push(FlatLeaf { path: node, leaf, trail });
    }

    fn walk(&self, leaves: &[FlatLeaf<'_>], sc: &mut Scratch, accepted: &mut Vec<u32>) {
        sc.work.clear();
        sc.seen.clear();
        sc.seen.insert(0);
        sc.work.push((0, 0));
        let groups = std::mem::take(&mut sc.groups);
        while let Some((s, constraint)) = sc.work.pop() {
            let state = &self.states[s as usize];
            if let Some(slots) = &state.accept {
                slots.append_to(accepted);
            }
            // Probe the paths both the state and the event have, iterating the smaller side.
            let by_path = state.by_path.as_slice();
            if by_path.len() <= groups.len() {
                for (path, index) in by_path {
                    if let Ok(g) = groups.binary_search_by_key(path, |g| g.0) {
                        let (_, lo, hi) = groups[g];
                        Self::step(index, &leaves[lo as usize..hi as usize], constraint, sc);
                    }
                }
            } else {
                for &(path, lo, hi) in &groups {
                    if let Ok(p) = by_path.binary_search_by_key(&path, |e| e.0) {
                        let index = &by_path[p].1;
                        Self::step(index, &leaves[lo as usize..hi as usize], constraint, sc);
                    }
                }
            }
            for path in &state.absent_paths {
                if groups.binary_search_by_key(path, |g| g.0).is_err() {
                    if let Ok(p) = by_path.binary_search_by_key(path, |e| e.0) {
                        for target in by_path[p].1.absent() {
                            push(sc, target, constraint);
                        }
                    }
                }
            }
        }
        sc.groups = groups;
    }

    /// Takes the transitions the leaves of one path enable from one work item.
    fn step(index: &ValueIndex, leaves: &[FlatLeaf<'_>], constraint: u32, sc: &mut Scratch) {
        sc.lookup.start();
        for leaf in leaves {
            sc.targets.clear();
            index.lookup(&leaf.leaf, &mut sc.lookup, &mut sc.targets);
            if sc.targets.is_empty() {
                continue;
            }
            // Only now pay for the array constraint (most leaves enable nothing).
            let trail = if leaf.trail == 0 { 0 } else { sc.trail_constraint(leaf.trail) };
            let next = if trail == 0 || trail == constraint {
                constraint
            } else if constraint == 0 {
                trail
            } else if merge(sc.pool.get(constraint), sc.pool.get(trail), &mut sc.merged) {
                sc.pool.intern(&sc.merged)
            } else {
                continue; // The leaf is in another element of an array already pinned.
            };
            if sc.targets.len() > 1 {
                sc.targets.sort_unstable();
                sc.targets.dedup();
            }
            for i in 0..sc.targets.len() {
                let target = sc.targets[i];
                push(sc, target, next);
            }
        }
    }
}
