//! The native tree-ensemble kernel behind `TreeEnsembleClassifier` and
//! `TreeEnsembleRegressor`.
//!
//! Trees are flattened in depth-first order into one array of 16-byte nodes (feature and
//! flags, threshold, true child, false child), so a root-to-leaf walk touches a few cache
//! lines; a child with [`LEAF`] set is a leaf index into the weight tables. Rows are scored a
//! block at a time, tree by tree, so one tree stays in cache while it scores the block, and
//! the model splits large batches across threads. When every node shares one comparison (the usual
//! case: `BRANCH_LEQ` for scikit-learn, `BRANCH_LT` for XGBoost and LightGBM) the walk is
//! compiled for that comparison.

use std::collections::HashMap;

/// A child pointer with this bit set is a leaf index.
const LEAF: u32 = 1 << 31;
/// Feature word: the missing value (NaN) takes the true branch.
const MISSING_TRUE: u32 = 1 << 31;
/// Feature word: the comparison mode, 3 bits.
const MODE_SHIFT: u32 = 28;
const FEATURE_MASK: u32 = (1 << MODE_SHIFT) - 1;

/// Branch comparisons (`nodes_modes`), as codes stored in the feature word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Leq = 0,
    Lt = 1,
    Gte = 2,
    Gt = 3,
    Eq = 4,
    Neq = 5,
}

impl Mode {
    fn parse(mode: &str) -> Option<Option<Mode>> {
        Some(Some(match mode {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => return Some(None),
            _ => return None,
        }))
    }

    fn from_code(code: u32) -> Mode {
        match code {
            0 => Mode::Leq,
            1 => Mode::Lt,
            2 => Mode::Gte,
            3 => Mode::Gt,
            4 => Mode::Eq,
            _ => Mode::Neq,
        }
    }

    /// The `f32` threshold that makes `x <mode> threshold` (with `f32` x) exactly equal to
    /// the comparison against the `f64` threshold `t`.
    fn exact_threshold(self, t: f64) -> f32 {
        let nearest = t as f32;
        let down = if (nearest as f64) > t { next_toward_negative(nearest) } else { nearest };
        let up = if (nearest as f64) < t { next_toward_positive(nearest) } else { nearest };
        match self {
            Mode::Leq | Mode::Gt => down,
            Mode::Lt | Mode::Gte => up,
            Mode::Eq | Mode::Neq if nearest as f64 == t => nearest,
            // Not representable: equality never holds, inequality always does.
            Mode::Eq | Mode::Neq => f32::NAN,
        }
    }
}

fn next_toward_positive(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1);
    }
    let bits = x.to_bits();
    f32::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

fn next_toward_negative(x: f32) -> f32 {
    -next_toward_positive(-x)
}

#[inline(always)]
fn compare<const MODE: u8>(x: f32, threshold: f32) -> bool {
    match MODE {
        0 => x <= threshold,
        1 => x < threshold,
        2 => x >= threshold,
        3 => x > threshold,
        4 => x == threshold,
        _ => x != threshold,
    }
}

/// How leaf values of the trees combine (`aggregate_function`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Aggregate {
    #[default]
    Sum,
    Average,
    Min,
    Max,
}

impl Aggregate {
    pub fn parse(value: &str) -> Result<Aggregate, String> {
        Ok(match value {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => return Err(format!("aggregate_function `{other}` is not one of SUM, AVERAGE, MIN, MAX")),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Node {
    /// Feature index, mode code and [`MISSING_TRUE`].
    feature: u32,
    threshold: f32,
    true_child: u32,
    false_child: u32,
}

/// The node and leaf attributes of a tree-ensemble node, as ONNX-ML lists them (parallel
/// arrays; `nodes_*` per node, `weights_*` per leaf weight).
#[derive(Clone, Debug, Default)]
pub struct EnsembleSpec {
    pub tree_ids: Vec<i64>,
    pub node_ids: Vec<i64>,
    pub feature_ids: Vec<i64>,
    pub values: Vec<f64>,
    pub modes: Vec<String>,
    pub true_node_ids: Vec<i64>,
    pub false_node_ids: Vec<i64>,
    pub missing_tracks_true: Vec<i64>,
    pub weight_tree_ids: Vec<i64>,
    pub weight_node_ids: Vec<i64>,
    pub weight_targets: Vec<i64>,
    pub weight_values: Vec<f64>,
    pub n_targets: usize,
    pub aggregate: Aggregate,
}

/// A compiled tree ensemble: raw per-target scores for a batch of rows.
#[derive(Debug)]
pub struct Ensemble {
    nodes: Vec<Node>,
    /// Per tree: its root, a node index or a [`LEAF`]-tagged leaf.
    roots: Vec<u32>,
    /// Leaf `l` owns weights `leaf_start[l]..leaf_start[l + 1]`.
    leaf_start: Vec<u32>,
    weight_target: Vec<u32>,
    weight_value: Vec<f32>,
    n_targets: usize,
    /// Features read: inputs must have at least this many columns.
    pub min_width: usize,
    aggregate: Aggregate,
    /// `Some(mode)` when every node compares the same way.
    uniform_mode: Option<Mode>,
}

/// Raw scores of a batch: per row and target, the aggregated leaf values and whether any
/// leaf contributed to that target.
pub struct Scores {
    pub values: Vec<f32>,
    pub has_score: Vec<bool>,
}

impl Ensemble {
    pub fn build(spec: &EnsembleSpec) -> Result<Ensemble, String> {
        let n = spec.node_ids.len();
        let same_len = [
            ("nodes_treeids", spec.tree_ids.len()),
            ("nodes_featureids", spec.feature_ids.len()),
            ("nodes_values", spec.values.len()),
            ("nodes_modes", spec.modes.len()),
            ("nodes_truenodeids", spec.true_node_ids.len()),
            ("nodes_falsenodeids", spec.false_node_ids.len()),
        ];
        if n == 0 {
            return Err("the ensemble has no nodes (nodes_nodeids is empty)".into());
        }
        for (name, len) in same_len {
            if len != n {
                return Err(format!("{name} has {len} entries, nodes_nodeids has {n}"));
            }
        }
        if !spec.missing_tracks_true.is_empty() && spec.missing_tracks_true.len() != n {
            return Err(format!(
                "nodes_missing_value_tracks_true has {} entries, nodes_nodeids has {n}",
                spec.missing_tracks_true.len()
            ));
        }
        let w = spec.weight_node_ids.len();
        if spec.weight_tree_ids.len() != w || spec.weight_targets.len() != w || spec.weight_values.len() != w {
            return Err("the leaf weight lists (tree ids, node ids, targets, weights) differ in length".into());
        }
        let mut index: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
        let mut modes = Vec::with_capacity(n);
        let mut tree_order: Vec<i64> = Vec::new();
        for i in 0..n {
            if index.insert((spec.tree_ids[i], spec.node_ids[i]), i).is_some() {
                return Err(format!("tree {} has node {} twice", spec.tree_ids[i], spec.node_ids[i]));
            }
            let mode = Mode::parse(&spec.modes[i]).ok_or_else(|| format!("unknown node mode `{}`", spec.modes[i]))?;
            modes.push(mode);
            if tree_order.last() != Some(&spec.tree_ids[i]) && !tree_order.contains(&spec.tree_ids[i]) {
                tree_order.push(spec.tree_ids[i]);
            }
        }
        // Leaf weights, grouped by leaf node.
        let mut weights_of: HashMap<usize, Vec<(u32, f64)>> = HashMap::new();
        for k in 0..w {
            let key = (spec.weight_tree_ids[k], spec.weight_node_ids[k]);
            let node = *index
                .get(&key)
                .ok_or_else(|| format!("a weight names tree {} node {}, which does not exist", key.0, key.1))?;
            let target = spec.weight_targets[k];
            if target < 0 || target as usize >= spec.n_targets {
                return Err(format!("a weight names target {target}, outside 0..{}", spec.n_targets));
            }
            let weights = weights_of.entry(node).or_default();
            // onnxruntime keeps one weight per leaf when there is one target: the first listed.
            if spec.n_targets > 1 || weights.is_empty() {
                weights.push((target as u32, spec.weight_values[k]));
            }
        }
        // Roots: the node of each tree that no other node points at.
        let mut is_child = vec![false; n];
        for (i, mode) in modes.iter().enumerate() {
            if mode.is_some() {
                for child in [spec.true_node_ids[i], spec.false_node_ids[i]] {
                    let c = *index.get(&(spec.tree_ids[i], child)).ok_or_else(|| {
                        format!("tree {} node {} points at missing node {child}", spec.tree_ids[i], spec.node_ids[i])
                    })?;
                    is_child[c] = true;
                }
            }
        }
        let mut ensemble = Ensemble {
            nodes: Vec::with_capacity(n / 2 + 1),
            roots: Vec::with_capacity(tree_order.len()),
            leaf_start: vec![0],
            weight_target: Vec::new(),
            weight_value: Vec::new(),
            n_targets: spec.n_targets,
            min_width: 0,
            aggregate: spec.aggregate,
            uniform_mode: None,
        };
        let mut first_mode: Option<Mode> = None;
        let mut uniform = true;
        for &tree in &tree_order {
            let root = (0..n)
                .filter(|&i| spec.tree_ids[i] == tree && !is_child[i])
                .min_by_key(|&i| spec.node_ids[i])
                .ok_or_else(|| format!("tree {tree} has no root (its nodes form a cycle)"))?;
            // Depth-first flattening with an explicit stack: (source node, slot to patch).
            let mut stack: Vec<(usize, Option<(usize, bool)>)> = vec![(root, None)];
            let mut visited = 0usize;
            let root_slot = ensemble.roots.len();
            ensemble.roots.push(0);
            while let Some((source, parent)) = stack.pop() {
                if ensemble.nodes.len().max(ensemble.leaf_start.len()) >= LEAF as usize {
                    return Err("the ensemble has more than 2^31 nodes".into());
                }
                visited += 1;
                if visited > n {
                    return Err(format!("tree {tree} is not a tree (a node is reachable twice)"));
                }
                let pointer = match modes[source] {
                    None => {
                        let leaf = (ensemble.leaf_start.len() - 1) as u32;
                        match weights_of.get(&source) {
                            Some(weights) => {
                                for &(target, value) in weights {
                                    ensemble.weight_target.push(target);
                                    ensemble.weight_value.push(value as f32);
                                }
                            }
                            // onnxruntime: with one target, a leaf without a weight weighs its node value.
                            None if spec.n_targets == 1 => {
                                ensemble.weight_target.push(0);
                                ensemble.weight_value.push(spec.values[source] as f32);
                            }
                            None => {}
                        }
                        ensemble.leaf_start.push(ensemble.weight_target.len() as u32);
                        LEAF | leaf
                    }
                    Some(mode) => {
                        let feature = spec.feature_ids[source];
                        if feature < 0 || feature as u32 > FEATURE_MASK {
                            return Err(format!("node {} reads feature {feature}", spec.node_ids[source]));
                        }
                        ensemble.min_width = ensemble.min_width.max(feature as usize + 1);
                        match first_mode {
                            None => first_mode = Some(mode),
                            Some(m) if m != mode => uniform = false,
                            _ => {}
                        }
                        let missing = spec.missing_tracks_true.get(source).is_some_and(|&m| m != 0);
                        let index_here = ensemble.nodes.len();
                        ensemble.nodes.push(Node {
                            feature: feature as u32
                                | (mode as u32) << MODE_SHIFT
                                | if missing { MISSING_TRUE } else { 0 },
                            threshold: mode.exact_threshold(spec.values[source]),
                            true_child: 0,
                            false_child: 0,
                        });
                        let child = |id: i64| index[&(tree, id)];
                        // Pushed false first so the true subtree is laid out right after its parent.
                        stack.push((child(spec.false_node_ids[source]), Some((index_here, false))));
                        stack.push((child(spec.true_node_ids[source]), Some((index_here, true))));
                        index_here as u32
                    }
                };
                match parent {
                    None => ensemble.roots[root_slot] = pointer,
                    Some((p, true)) => ensemble.nodes[p].true_child = pointer,
                    Some((p, false)) => ensemble.nodes[p].false_child = pointer,
                }
            }
        }
        ensemble.uniform_mode = if uniform { Some(first_mode.unwrap_or(Mode::Leq)) } else { None };
        Ok(ensemble)
    }

    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    /// The distinct targets any leaf writes to.
    pub fn weighted_targets(&self) -> Vec<u32> {
        let mut t = self.weight_target.clone();
        t.sort_unstable();
        t.dedup();
        t
    }

    pub fn weights_all_non_negative(&self) -> bool {
        self.weight_value.iter().all(|&w| w >= 0.0)
    }

    /// Aggregated scores of `rows` rows of `width` features (row-major), before base values
    /// and post-transform; AVERAGE divides by the number of trees.
    // Invariant: sums run in `f32`, tree by tree in model order, as onnxruntime's sequential
    // path does, so scores agree to the last bit.
    pub fn score(&self, x: &[f32], rows: usize, width: usize) -> Scores {
        let t = self.n_targets;
        let mut scores = Scores { values: vec![0.0; rows * t], has_score: vec![false; rows * t] };
        self.score_into(x, rows, width, &mut scores.values, &mut scores.has_score);
        if self.aggregate == Aggregate::Average {
            let trees = self.roots.len() as f32;
            scores.values.iter_mut().for_each(|v| *v /= trees);
        }
        scores
    }

    fn score_into(&self, x: &[f32], rows: usize, width: usize, values: &mut [f32], has: &mut [bool]) {
        match self.uniform_mode {
            Some(Mode::Leq) => self.score_block::<0>(x, rows, width, values, has),
            Some(Mode::Lt) => self.score_block::<1>(x, rows, width, values, has),
            Some(Mode::Gte) => self.score_block::<2>(x, rows, width, values, has),
            Some(Mode::Gt) => self.score_block::<3>(x, rows, width, values, has),
            Some(Mode::Eq) => self.score_block::<4>(x, rows, width, values, has),
            Some(Mode::Neq) => self.score_block::<5>(x, rows, width, values, has),
            None => self.score_block::<255>(x, rows, width, values, has),
        }
    }

    /// `MODE` is a [`Mode`] code, or 255 to read each node's own mode.
    ///
    /// Walks are pointer chases that miss cache; eight independent walks advance together
    /// so their loads overlap: eight rows through one tree for batches, eight trees for one
    /// row otherwise. Leaves are still added tree by tree, in model order.
    fn score_block<const MODE: u8>(&self, x: &[f32], rows: usize, width: usize, values: &mut [f32], has: &mut [bool]) {
        let t = self.n_targets;
        if rows < LANES {
            let mut leaves = vec![0u32; self.roots.len()];
            for r in 0..rows {
                let row = &x[r * width..(r + 1) * width];
                for (group, out) in self.roots.chunks(LANES).zip(leaves.chunks_mut(LANES)) {
                    if let Ok(group) = <[u32; LANES]>::try_from(group) {
                        let mut at = group;
                        self.walk_lanes::<MODE>(&mut at, [row; LANES]);
                        out.copy_from_slice(&at);
                    } else {
                        for (leaf, &root) in out.iter_mut().zip(group) {
                            *leaf = self.walk::<MODE>(root, row);
                        }
                    }
                }
                for &leaf in &leaves {
                    self.add_leaf(leaf, r * t, values, has);
                }
            }
            return;
        }
        // Blocks of rows keep one tree in cache while it scores the block.
        const BLOCK: usize = 64;
        let mut leaves = [0u32; BLOCK];
        for block_start in (0..rows).step_by(BLOCK) {
            let block_rows = BLOCK.min(rows - block_start);
            let block = &x[block_start * width..(block_start + block_rows) * width];
            for &root in &self.roots {
                let mut r = 0;
                while r + LANES <= block_rows {
                    let mut at = [root; LANES];
                    let lanes: [&[f32]; LANES] = std::array::from_fn(|k| &block[(r + k) * width..(r + k + 1) * width]);
                    self.walk_lanes::<MODE>(&mut at, lanes);
                    leaves[r..r + LANES].copy_from_slice(&at);
                    r += LANES;
                }
                for (r, leaf) in leaves.iter_mut().enumerate().take(block_rows).skip(r) {
                    *leaf = self.walk::<MODE>(root, &block[r * width..(r + 1) * width]);
                }
                for (r, &leaf) in leaves.iter().enumerate().take(block_rows) {
                    self.add_leaf(leaf, (block_start + r) * t, values, has);
                }
            }
        }
    }

    /// Adds a leaf's weights to the scores of the row whose targets start at `base`.
    #[inline(always)]
    fn add_leaf(&self, leaf: u32, base: usize, values: &mut [f32], has: &mut [bool]) {
        let range = self.leaf_start[leaf as usize] as usize..self.leaf_start[leaf as usize + 1] as usize;
        for k in range {
            let target = base + self.weight_target[k] as usize;
            let w = self.weight_value[k];
            let v = &mut values[target];
            *v = match self.aggregate {
                Aggregate::Sum | Aggregate::Average => *v + w,
                Aggregate::Min if has[target] => v.min(w),
                Aggregate::Max if has[target] => v.max(w),
                Aggregate::Min | Aggregate::Max => w,
            };
            has[target] = true;
        }
    }

    /// One step down from node `at` for `row`.
    #[inline(always)]
    fn step<const MODE: u8>(&self, at: u32, row: &[f32]) -> u32 {
        let node = &self.nodes[at as usize];
        let x = row[(node.feature & FEATURE_MASK) as usize];
        let go_true = if MODE == 255 {
            let mode = Mode::from_code((node.feature >> MODE_SHIFT) & 0b111);
            compare_dynamic(mode, x, node.threshold)
        } else {
            compare::<MODE>(x, node.threshold)
        } || (x.is_nan() && node.feature & MISSING_TRUE != 0);
        if go_true {
            node.true_child
        } else {
            node.false_child
        }
    }

    /// Walks one tree for one row; returns the leaf index.
    #[inline(always)]
    fn walk<const MODE: u8>(&self, root: u32, row: &[f32]) -> u32 {
        let mut at = root;
        while at & LEAF == 0 {
            at = self.step::<MODE>(at, row);
        }
        at & !LEAF
    }

    /// Advances [`LANES`] walks together until all reach leaves; leaves replace the nodes.
    #[inline(always)]
    fn walk_lanes<const MODE: u8>(&self, at: &mut [u32; LANES], rows: [&[f32]; LANES]) {
        loop {
            let mut walking = false;
            for k in 0..LANES {
                if at[k] & LEAF == 0 {
                    at[k] = self.step::<MODE>(at[k], rows[k]);
                    walking = true;
                }
            }
            if !walking {
                break;
            }
        }
        at.iter_mut().for_each(|a| *a &= !LEAF);
    }
}

/// Walks advanced together (see [`Ensemble::score_block`]).
const LANES: usize = 8;

fn compare_dynamic(mode: Mode, x: f32, threshold: f32) -> bool {
    match mode {
        Mode::Leq => compare::<0>(x, threshold),
        Mode::Lt => compare::<1>(x, threshold),
        Mode::Gte => compare::<2>(x, threshold),
        Mode::Gt => compare::<3>(x, threshold),
        Mode::Eq => compare::<4>(x, threshold),
        Mode::Neq => compare::<5>(x, threshold),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One stump per tree: `x[0] <= 0.5` → leaf weight `left`, else `right`.
    fn stumps(leaves: &[(f64, f64)], mode: &str, aggregate: Aggregate) -> Ensemble {
        let mut s = EnsembleSpec { n_targets: 1, aggregate, ..Default::default() };
        for (tree, &(left, right)) in leaves.iter().enumerate() {
            let tree = tree as i64;
            for (id, m, t, f) in [(0, mode, 1, 2), (1, "LEAF", 0, 0), (2, "LEAF", 0, 0)] {
                s.tree_ids.push(tree);
                s.node_ids.push(id);
                s.feature_ids.push(0);
                s.values.push(0.5);
                s.modes.push(m.into());
                s.true_node_ids.push(t);
                s.false_node_ids.push(f);
            }
            for (node, w) in [(1, left), (2, right)] {
                s.weight_tree_ids.push(tree);
                s.weight_node_ids.push(node);
                s.weight_targets.push(0);
                s.weight_values.push(w);
            }
        }
        Ensemble::build(&s).unwrap()
    }

    #[test]
    fn sums_and_averages_leaf_values() {
        let e = stumps(&[(1.0, 2.0), (10.0, 20.0)], "BRANCH_LEQ", Aggregate::Sum);
        assert_eq!(e.score(&[0.0, 1.0], 2, 1).values, vec![11.0, 22.0]);
        let e = stumps(&[(1.0, 2.0), (10.0, 20.0)], "BRANCH_LEQ", Aggregate::Average);
        assert_eq!(e.score(&[0.5], 1, 1).values, vec![5.5]);
        let e = stumps(&[(1.0, 2.0), (10.0, 20.0)], "BRANCH_LEQ", Aggregate::Max);
        assert_eq!(e.score(&[0.6], 1, 1).values, vec![20.0]);
    }

    #[test]
    fn modes_and_missing_values_choose_the_branch() {
        let e = stumps(&[(1.0, 2.0)], "BRANCH_LT", Aggregate::Sum);
        assert_eq!(e.score(&[0.5, 0.4, f32::NAN], 3, 1).values, vec![2.0, 1.0, 2.0]);
        let e = stumps(&[(1.0, 2.0)], "BRANCH_GTE", Aggregate::Sum);
        assert_eq!(e.score(&[0.5, 0.4], 2, 1).values, vec![1.0, 2.0]);
    }

    #[test]
    fn double_thresholds_compare_exactly() {
        let t = 0.1f64; // not representable in f32
        for mode in [Mode::Leq, Mode::Lt, Mode::Gte, Mode::Gt, Mode::Eq, Mode::Neq] {
            let f = mode.exact_threshold(t);
            for x in [0.1f32, next_toward_negative(0.1), next_toward_positive(0.1), 0.0, 1.0] {
                let want = match mode {
                    Mode::Leq => (x as f64) <= t,
                    Mode::Lt => (x as f64) < t,
                    Mode::Gte => (x as f64) >= t,
                    Mode::Gt => (x as f64) > t,
                    Mode::Eq => (x as f64) == t,
                    Mode::Neq => (x as f64) != t,
                };
                assert_eq!(compare_dynamic(mode, x, f), want, "{mode:?} x={x}");
            }
        }
    }

    #[test]
    fn a_batch_scores_each_row_as_alone() {
        let leaves: Vec<(f64, f64)> = (0..200).map(|i| (i as f64, -(i as f64))).collect();
        let e = stumps(&leaves, "BRANCH_LEQ", Aggregate::Sum);
        let x: Vec<f32> = (0..1000).map(|i| (i % 3) as f32 * 0.4).collect();
        let all = e.score(&x, 1000, 1).values;
        for (i, &xi) in x.iter().enumerate() {
            assert_eq!(all[i], e.score(&[xi], 1, 1).values[0]);
        }
    }

    #[test]
    fn malformed_trees_are_errors() {
        let mut s = EnsembleSpec { n_targets: 1, aggregate: Aggregate::Sum, ..Default::default() };
        s.tree_ids = vec![0];
        s.node_ids = vec![0];
        s.feature_ids = vec![0];
        s.values = vec![0.0];
        s.modes = vec!["BRANCH_LEQ".into()];
        s.true_node_ids = vec![7];
        s.false_node_ids = vec![0];
        let err = Ensemble::build(&s).unwrap_err();
        assert!(err.contains("missing node 7"), "{err}");
    }
}
