//! Regression trees: the model representation and depth-wise growth from histograms with
//! XGBoost's second-order split gain and leaf values.

use super::binning::{BinCuts, BinnedMatrix};
use super::histogram::{self, GradPair, Histogram, HistogramBuilder, NodeRows};
use super::partition::{Job, Partitioner};

/// A tree node; children are indices into [`Tree::nodes`].
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// Rows with `x[feature] <= threshold` go left.
    Split {
        feature: usize,
        threshold: f32,
        bin: u8,
        left: usize,
        right: usize,
    },
    Leaf {
        value: f32,
    },
}

/// One regression tree; node 0 is the root.
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The leaf value for a raw feature row.
    pub fn predict(&self, x: &[f32]) -> f32 {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                Node::Split { feature, threshold, left, right, .. } => {
                    i = if x[feature] <= threshold { left } else { right }
                }
                Node::Leaf { value } => return value,
            }
        }
    }

    /// The leaf value for a binned row (agrees with [`Tree::predict`] on the raw row).
    pub(crate) fn predict_binned(&self, m: &BinnedMatrix, row: usize) -> f32 {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                Node::Split { feature, bin, left, right, .. } => {
                    i = if m.bin(row, feature) <= bin { left } else { right }
                }
                Node::Leaf { value } => return value,
            }
        }
    }
}

/// Parameters of tree growth.
pub(crate) struct GrowParams {
    pub max_depth: usize,
    pub eta: f64,
    pub lambda: f64,
    pub gamma: f64,
    pub min_child_weight: f64,
}

/// The rows `rows[start..end]` ended in a leaf of this value (for updating predictions).
pub(crate) struct LeafRows {
    pub start: usize,
    pub end: usize,
    pub value: f32,
}

/// A node whose children are still to be decided.
struct Open {
    node: usize,
    start: usize,
    end: usize,
    g: f64,
    h: f64,
    hist: Option<Histogram>,
}

struct Split {
    feature: usize,
    bin: u8,
    gain: f64,
    left_g: f64,
    left_h: f64,
}

/// Grows one tree depth-wise over `rows` with their gradients `gpair` (same order; both
/// reordered in place so that every node's rows are contiguous). `all_rows` says `rows`
/// is exactly `0..n_rows` in order.
pub(crate) fn grow(
    builder: &HistogramBuilder<'_>,
    cuts: &BinCuts,
    rows: &mut [u32],
    gpair: &mut [GradPair],
    all_rows: bool,
    partitioner: &mut Partitioner,
    p: &GrowParams,
) -> (Tree, Vec<LeafRows>) {
    let (g, h) = gpair.iter().fold((0.0, 0.0), |(g, h), gp| (g + gp[0] as f64, h + gp[1] as f64));
    let mut tree = Tree { nodes: vec![Node::Leaf { value: 0.0 }] };
    let mut leaves = Vec::new();
    let root = NodeRows { rows, gpair, all_rows };
    let root_hist = if p.max_depth > 0 { builder.build(&[root]).pop() } else { None };
    let mut level = vec![Open { node: 0, start: 0, end: rows.len(), g, h, hist: root_hist }];
    for depth in 0..=p.max_depth {
        let mut splits = Vec::new();
        for open in level {
            let split = match &open.hist {
                Some(hist) if depth < p.max_depth => best_split(hist, &open, builder, cuts, p),
                _ => None,
            };
            match split {
                Some(split) => splits.push((open, split)),
                None => {
                    let value = leaf_value(open.g, open.h, p);
                    tree.nodes[open.node] = Node::Leaf { value };
                    leaves.push(LeafRows { start: open.start, end: open.end, value });
                }
            }
        }
        let jobs: Vec<Job> =
            splits.iter().map(|(o, s)| Job { start: o.start, end: o.end, feature: s.feature, bin: s.bin }).collect();
        let lefts = partitioner.partition(&jobs, rows, gpair, builder.matrix, builder.threads);
        let children_split = depth + 1 < p.max_depth;
        let mut next: Vec<Open> = Vec::new();
        // Histograms to build: (index in `next`, sibling whose parent histogram it is
        // subtracted from, whether the built histogram itself is kept).
        let mut builds: Vec<(usize, Option<usize>, bool)> = Vec::new();
        for ((open, split), left_count) in splits.into_iter().zip(lefts) {
            let (left, right) = (tree.nodes.len(), tree.nodes.len() + 1);
            let threshold = cuts.cuts[split.feature][split.bin as usize];
            tree.nodes[open.node] = Node::Split { feature: split.feature, threshold, bin: split.bin, left, right };
            tree.nodes.extend([Node::Leaf { value: 0.0 }, Node::Leaf { value: 0.0 }]);
            let mid = open.start + left_count;
            let (rg, rh) = (open.g - split.left_g, open.h - split.left_h);
            let l = Open { node: left, start: open.start, end: mid, g: split.left_g, h: split.left_h, hist: None };
            let r = Open { node: right, start: mid, end: open.end, g: rg, h: rh, hist: None };
            let (small, large) = if l.end - l.start <= r.end - r.start { (l, r) } else { (r, l) };
            let (i, j) = (next.len(), next.len() + 1);
            // Only children that may split need a histogram. The larger child's is always the
            // parent's minus the smaller one's, which is the only one built.
            match (children_split && splittable(&small, p), children_split && splittable(&large, p)) {
                (small_ok, true) => {
                    builds.push((i, Some(j), small_ok));
                    next.extend([small, Open { hist: open.hist, ..large }]);
                }
                (small_ok, false) => {
                    if small_ok {
                        builds.push((i, None, true));
                    }
                    next.extend([small, large]);
                }
            }
        }
        if !builds.is_empty() {
            let nodes: Vec<NodeRows<'_>> = builds
                .iter()
                .map(|&(i, _, _)| {
                    let o = &next[i];
                    NodeRows { rows: &rows[o.start..o.end], gpair: &gpair[o.start..o.end], all_rows: false }
                })
                .collect();
            let hists = builder.build(&nodes);
            for ((i, sibling, keep), hist) in builds.into_iter().zip(hists) {
                if let Some(parent) = sibling.and_then(|j| next[j].hist.as_mut()) {
                    histogram::subtract(parent, &hist, builder.features);
                }
                if keep {
                    next[i].hist = Some(hist);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    (tree, leaves)
}

/// Whether a node can be split at all (two rows, and room for `min_child_weight` on each side).
fn splittable(o: &Open, p: &GrowParams) -> bool {
    o.end - o.start >= 2 && o.h >= 2.0 * p.min_child_weight
}

/// XGBoost's leaf weight `-G / (H + lambda)`, scaled by the learning rate.
fn leaf_value(g: f64, h: f64, p: &GrowParams) -> f32 {
    (-g / (h + p.lambda) * p.eta) as f32
}

fn score(g: f64, h: f64, lambda: f64) -> f64 {
    g * g / (h + lambda)
}

/// The best split of a node over the given features, if any gains more than `gamma`.
fn best_split(
    hist: &Histogram,
    open: &Open,
    builder: &HistogramBuilder<'_>,
    cuts: &BinCuts,
    p: &GrowParams,
) -> Option<Split> {
    if !splittable(open, p) {
        return None;
    }
    let parent = score(open.g, open.h, p.lambda);
    let mut best: Option<Split> = None;
    for &f in builder.features {
        let bins = &hist[f];
        let (mut gl, mut hl) = (0.0, 0.0);
        // Invariant: the last bin cannot be a split point (nothing would go right).
        for (b, cell) in bins.iter().enumerate().take(cuts.n_bins(f) - 1) {
            gl += cell[0];
            hl += cell[1];
            let hr = open.h - hl;
            if hl < p.min_child_weight || hr < p.min_child_weight {
                continue;
            }
            let gain = 0.5 * (score(gl, hl, p.lambda) + score(open.g - gl, hr, p.lambda) - parent) - p.gamma;
            if gain > 1e-10 && best.as_ref().is_none_or(|s| gain > s.gain) {
                best = Some(Split { feature: f, bin: b as u8, gain, left_g: gl, left_h: hl });
            }
        }
    }
    best
}

/// Grows a tree on all rows with all features; a test and bench convenience.
#[cfg(test)]
pub(crate) fn grow_all(m: &BinnedMatrix, cuts: &BinCuts, gpair: &[GradPair], p: &GrowParams) -> Tree {
    let features: Vec<usize> = (0..m.n_features).collect();
    let builder = HistogramBuilder { matrix: m, features: &features, threads: 2 };
    let mut rows: Vec<u32> = (0..m.n_rows as u32).collect();
    grow(&builder, cuts, &mut rows, &mut gpair.to_vec(), true, &mut Partitioner::new(m.n_rows), p).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;

    #[test]
    fn a_depth_two_tree_fits_xor() {
        // Labels y = x0 XOR x1 with unequal quadrant sizes (balanced XOR has no greedy first
        // split); squared error from a zero start: g = -y, h = 1.
        let mut x = Vec::new();
        let mut gpair = Vec::new();
        for (i, (a, b)) in
            [(0, 0); 100].into_iter().chain([(0, 1); 50]).chain([(1, 0); 50]).chain([(1, 1); 200]).enumerate()
        {
            x.extend([a as f32 + 0.01 * (i % 7) as f32, b as f32]);
            gpair.push([-((a ^ b) as f32), 1.0]);
        }
        let ds = Dataset::new(x, 2, vec![0.0; 400]).unwrap();
        let cuts = BinCuts::fit(&ds, 256, 1);
        let m = BinnedMatrix::new(&ds, &cuts, 1);
        let p = GrowParams { max_depth: 2, eta: 1.0, lambda: 0.0, gamma: 0.0, min_child_weight: 1.0 };
        let tree = grow_all(&m, &cuts, &gpair, &p);
        for (i, gp) in gpair.iter().enumerate() {
            let want = -gp[0];
            assert!((tree.predict(ds.row(i)) - want).abs() < 1e-6, "row {i}");
            assert_eq!(tree.predict(ds.row(i)), tree.predict_binned(&m, i));
        }
        assert_eq!(tree.nodes.len(), 7);
    }

    #[test]
    fn min_child_weight_and_depth_zero_make_a_single_leaf() {
        let ds = Dataset::new(vec![0.0, 1.0, 2.0, 3.0], 1, vec![0.0; 4]).unwrap();
        let cuts = BinCuts::fit(&ds, 256, 1);
        let m = BinnedMatrix::new(&ds, &cuts, 1);
        let gpair = vec![[1.0, 1.0], [1.0, 1.0], [-1.0, 1.0], [-1.0, 1.0]];
        let p = GrowParams { max_depth: 3, eta: 0.5, lambda: 1.0, gamma: 0.0, min_child_weight: 3.0 };
        assert_eq!(grow_all(&m, &cuts, &gpair, &p).nodes, vec![Node::Leaf { value: 0.0 }]);
        let p = GrowParams { max_depth: 0, min_child_weight: 1.0, ..p };
        assert_eq!(grow_all(&m, &cuts, &gpair, &p).nodes.len(), 1);
        let p = GrowParams { max_depth: 1, ..p };
        let tree = grow_all(&m, &cuts, &gpair, &p);
        // Left leaf: G = 2, H = 2 -> -2 / 3 * 0.5.
        assert_eq!(tree.nodes[1], Node::Leaf { value: (-2.0f64 / 3.0 * 0.5) as f32 });
    }
}
