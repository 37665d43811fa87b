//! The compiled automaton shared by all rules.
//!
//! Every rule is expanded into conjunctions of [`Cond`]s, ordered most selective
//! first (see [`rank`]); each conjunction is a path through a trie of states whose
//! edges are `(path, condition)` pairs, so rules sharing leading conditions share
//! states. Each state keeps, per path, a [`PathIndex`] from leaf values to the edges
//! they enable; keyed transitions of all states live in one [`Table`]. Matching
//! flattens the event once (only the key paths some rule uses), then walks from the
//! root (see `walk.rs`), probing at each state only the paths both it and the event have.

use serde_json::Value;

use super::collections::{FxHashMap, IdList, Key, SmallList};
use super::event::{clear_spans, index_by_path, recycle, to_u32, FlatLeaf, Scratch, SCRATCH};
use super::index::{table_key, PathIndex};
use super::parse::Cond;
use super::table::{key_hash, Table, FINAL};
use super::value::{Leaf, Literal, Op};

#[derive(Debug)]
pub(crate) struct Automaton {
    /// Invariant: state 0 is the root and always exists.
    pub(super) states: Vec<State>,
    /// Keyed transitions of every state.
    pub(super) table: Table,
    /// Trie of key paths; a path's id is its node id.
    nodes: Vec<PathNode>,
    /// Interned condition matcher lists, and their ops by id.
    conds: FxHashMap<Vec<Op>, u32>,
    cond_ops: Vec<Vec<Op>>,
    /// `(state, path, condition) -> next state`, for sharing when adding.
    edges: FxHashMap<(u32, u32, u32), u32>,
    /// State -> the edge `(state, path, condition)` that leads to it (the states form
    /// a tree). Unused for the root.
    parents: Vec<(u32, u32, u32)>,
}

/// One cache line: the accepted rules and the first path indexes are read together.
#[derive(Clone, Debug, Default)]
#[repr(align(64))]
pub(super) struct State {
    /// Sorted by path id.
    pub(super) paths: SmallList<PathIndex>,
    /// Rule slots accepted on reaching this state.
    pub(super) accept: Option<IdList>,
}

#[derive(Debug, Default)]
struct PathNode {
    children: FxHashMap<Key, u32>,
    /// Some condition tests the leaves at exactly this path.
    is_target: bool,
}

/// How many events a condition lets through, roughly (lower: fewer), so that a
/// conjunction starts with the condition that rejects most events: states near the
/// root are probed for every event, deeper ones only for events that got there.
/// A condition is as weak as its weakest matcher. Only the order of a conjunction's
/// conditions changes, which does not change what it matches.
fn rank(cond: &Cond) -> u8 {
    let op_rank = |op: &Op| match op {
        Op::Literal(Literal::Str(_) | Literal::Num(_)) | Op::EqualsIgnoreCase(_) => 0,
        Op::Prefix(_) | Op::Suffix(_) | Op::PrefixIgnoreCase(_) | Op::SuffixIgnoreCase(_) | Op::Wildcard(_) => 1,
        Op::Numeric(_) | Op::Cidr(_) => 2,
        Op::Literal(Literal::Null | Literal::Bool(_)) => 3,
        Op::AnythingBut(_) => 4,
        Op::Exists(true) => 5,
        Op::Exists(false) => 6,
    };
    cond.ops.iter().map(op_rank).max().unwrap_or(0)
}

impl Automaton {
    pub(crate) fn new() -> Automaton {
        Automaton {
            states: vec![State::default()],
            table: Table::default(),
            nodes: vec![PathNode::default()],
            conds: FxHashMap::default(),
            cond_ops: Vec::new(),
            edges: FxHashMap::default(),
            parents: vec![(0, 0, 0)],
        }
    }

    /// Adds one conjunction (sorted conditions) accepting `slot`.
    pub(crate) fn add_branch(&mut self, branch: &[Cond], slot: u32) {
        if branch.iter().any(|c| c.ops.is_empty()) {
            return; // `[]` matches nothing, so neither does the conjunction.
        }
        let mut order: Vec<&Cond> = branch.iter().collect();
        // Stable: equal ranks keep the (path, matchers) order, so equal rules share states.
        order.sort_by_key(|c| rank(c));
        let mut state = 0u32;
        for cond in order {
            let path = self.intern_path(&cond.path);
            let cond_id = match self.conds.get(&cond.ops) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(self.cond_ops.len()).unwrap_or(u32::MAX);
                    self.conds.insert(cond.ops.clone(), id);
                    self.cond_ops.push(cond.ops.clone());
                    id
                }
            };
            state = match self.edges.get(&(state, path, cond_id)) {
                Some(&next) => next,
                None => {
                    let next = self.add_edge(state, path, cond_id, &cond.ops);
                    self.refresh_final(state); // It has a path now.
                    next
                }
            };
        }
        match &mut self.states[state as usize].accept {
            Some(slots) => slots.push(slot),
            empty => *empty = Some(IdList::one(slot)),
        }
        self.refresh_final(state);
    }

    /// Updates the table entries leading to `state`: whether it is final (no paths,
    /// a single accepted slot), so that lookups can accept without visiting it.
    /// Invariant: after every change to a state, its entries say whether it is final.
    fn refresh_final(&mut self, state: u32) {
        if state == 0 {
            return;
        }
        let here = &self.states[state as usize];
        let accept = match (here.paths.as_slice(), &here.accept) {
            // Slots with the FINAL bit would be ambiguous: those states are visited instead.
            ([], Some(list)) if list.as_slice().len() == 1 && list.as_slice()[0] < FINAL => FINAL | list.as_slice()[0],
            _ => 0,
        };
        let (parent, path, cond) = self.parents[state as usize];
        let mut indexed = false;
        for op in &self.cond_ops[cond as usize] {
            match table_key(op) {
                Some((tag, key)) => self.table.set_accept(parent, path, tag, &key, state, accept),
                None => indexed |= matches!(op, Op::AnythingBut(_) | Op::Wildcard(_)),
            }
        }
        if indexed {
            let paths = self.states[parent as usize].paths.as_mut_slice();
            if let Some(index) = paths.iter_mut().find(|p| p.path == path) {
                index.set_accept(state, accept);
            }
        }
    }

    fn add_edge(&mut self, from: u32, path: u32, cond_id: u32, ops: &[Op]) -> u32 {
        // Invariant: state ids stay below FINAL, so lookup results are unambiguous.
        let target = u32::try_from(self.states.len()).ok().filter(|&t| t < FINAL).expect("fewer than 2^31 states");
        super::pages::reserve_one(&mut self.states);
        self.states.push(State::default());
        self.parents.push((from, path, cond_id));
        self.edges.insert((from, path, cond_id), target);
        let paths = &mut self.states[from as usize].paths;
        let at = match paths.as_slice().binary_search_by_key(&path, |e| e.path) {
            Ok(at) => at,
            Err(at) => {
                paths.insert(at, PathIndex::new(path));
                at
            }
        };
        let index = &mut paths.as_mut_slice()[at];
        for op in ops {
            index.insert(&mut self.table, from, op, target);
        }
        target
    }

    /// Allocates every state's boxed data (path lists, `Other` blocks, Bloom words,
    /// rule lists) again, state after state. Added a rule at a time, that data lies
    /// interleaved with everything else allocated meanwhile (parsed patterns, the
    /// build-side maps), so a match reads lines and pages scattered over the whole
    /// heap; copied in one pass, each state's data is contiguous and all of it dense.
    /// Changes no result: the copies are exact.
    pub(crate) fn compact(&mut self) {
        // Every copy first, so that none reuses the memory of an original freed meanwhile;
        // then each moves into its state's slot (the advised array stays).
        let copies: Vec<State> = self.states.to_vec();
        for (state, copy) in self.states.iter_mut().zip(copies) {
            *state = copy;
        }
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
        sc.reserve_paths(self.nodes.len());
        index_by_path(&mut leaves, &mut sc.spans, &mut sc.present);
        sc.accepted.clear();
        self.walk(&leaves, sc);
        clear_spans(sc);
        let mut accepted = std::mem::take(&mut sc.accepted);
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
        let hash = if let Leaf::Str(s) = leaf { key_hash(s.as_bytes()) } else { 0 };
        out.push(FlatLeaf { path: node, trail, leaf, hash });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<State>(), 64);
        assert_eq!(std::mem::size_of::<PathIndex>(), 24);
    }
}
