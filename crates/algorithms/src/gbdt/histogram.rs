//! Gradient histograms: per feature and bin, the sums of gradients and hessians of a
//! node's rows. Building them is the hot loop of training.
//!
//! Histograms are built feature by feature (column-wise): for a node, the bytes of one
//! feature's column are gathered by row index while the node's gradients are read in
//! order from an "ordered gradients" array kept aligned with the node's row indices
//! (as LightGBM does), so the only scattered reads hit a compact one-byte-per-row column.

use super::binning::BinnedMatrix;
use crate::parallel;

/// Gradient and hessian of one row (`f32` halves the memory traffic; sums are `f64`).
pub(crate) type GradPair = [f32; 2];

/// Sums of `[gradient, hessian]` per bin of one feature (bins beyond the feature's count stay 0).
pub(crate) type FeatureHistogram = [[f64; 2]; 256];

/// One [`FeatureHistogram`] per feature (features not in use stay zero).
pub(crate) type Histogram = Vec<FeatureHistogram>;

/// Features accumulated in one pass over a node's rows.
const GROUP: usize = 4;

/// Histogram cell updates below which a build runs on the calling thread.
const MIN_PARALLEL_WORK: usize = 1 << 20;

/// Rows per task below which a node is not split into row chunks.
const MIN_TASK_ROWS: usize = 32 * 1024;

/// The rows of one node: row indices and their gradients in the same order.
#[derive(Clone, Copy)]
pub(crate) struct NodeRows<'a> {
    pub rows: &'a [u32],
    pub gpair: &'a [GradPair],
    /// `rows` is exactly `0..n_rows` in order (the root without sampling): no gather needed.
    pub all_rows: bool,
}

/// Builds histograms over a binned matrix for a feature subset.
pub(crate) struct HistogramBuilder<'a> {
    pub matrix: &'a BinnedMatrix,
    /// Features in use, ascending.
    pub features: &'a [usize],
    pub threads: usize,
}

impl HistogramBuilder<'_> {
    /// One histogram per node, built in parallel over (node, feature group, row chunk)
    /// tasks. Partial sums are added in a fixed order, so results do not depend on timing.
    pub fn build(&self, nodes: &[NodeRows<'_>]) -> Vec<Histogram> {
        let work: usize = nodes.iter().map(|n| n.rows.len()).sum::<usize>() * self.features.len();
        // Below about a millisecond of work, starting threads costs more than it saves.
        let threads = if work < MIN_PARALLEL_WORK { 1 } else { self.threads.max(1) };
        let groups: Vec<&[usize]> = self.features.chunks(GROUP).collect();
        let per_node_tasks = nodes.len() * groups.len();
        let mut tasks = Vec::new();
        for (n, node) in nodes.iter().enumerate() {
            // Split rows only when there are too few (node, group) tasks to share out.
            let wanted = (threads * 4).div_ceil(per_node_tasks.max(1));
            let chunks = wanted.min(node.rows.len().div_ceil(MIN_TASK_ROWS)).max(1);
            let size = node.rows.len().div_ceil(chunks).max(1);
            for group in &groups {
                for c in 0..chunks {
                    let (start, end) = ((c * size).min(node.rows.len()), ((c + 1) * size).min(node.rows.len()));
                    tasks.push((n, *group, start, end));
                }
            }
        }
        let partials = parallel::run_tasks(&tasks, threads, |&(n, group, start, end)| {
            let node = &nodes[n];
            let (rows, gpair) = (&node.rows[start..end], &node.gpair[start..end]);
            let mut hists = vec![[[0.0; 2]; 256]; group.len()];
            match group.len() {
                4 => self.group::<4>(&mut hists, group, node.all_rows, start, rows, gpair),
                3 => self.group::<3>(&mut hists, group, node.all_rows, start, rows, gpair),
                2 => self.group::<2>(&mut hists, group, node.all_rows, start, rows, gpair),
                _ => self.group::<1>(&mut hists, group, node.all_rows, start, rows, gpair),
            }
            hists
        });
        let mut out: Vec<Histogram> = nodes.iter().map(|_| vec![[[0.0; 2]; 256]; self.matrix.n_features]).collect();
        for (&(n, group, _, _), partial) in tasks.iter().zip(&partials) {
            for (&f, h) in group.iter().zip(partial) {
                add_feature(&mut out[n][f], h);
            }
        }
        out
    }

    /// Accumulates `N` features at once: one pass over the rows and gradients feeds `N`
    /// histograms, each from its own column.
    fn group<const N: usize>(
        &self,
        hists: &mut [FeatureHistogram],
        features: &[usize],
        all_rows: bool,
        start: usize,
        rows: &[u32],
        gpair: &[GradPair],
    ) {
        let Ok(hists): Result<&mut [FeatureHistogram; N], _> = hists.try_into() else { return };
        let columns: [&[u8]; N] = std::array::from_fn(|i| self.matrix.column(features[i]));
        if all_rows {
            // Invariant: rows are `start..start + len`, so the columns are read in order.
            let columns: [&[u8]; N] = columns.map(|c| &c[start..start + gpair.len()]);
            for (i, gp) in gpair.iter().enumerate() {
                let (g, h) = (gp[0] as f64, gp[1] as f64);
                for k in 0..N {
                    let cell = &mut hists[k][columns[k][i] as usize];
                    cell[0] += g;
                    cell[1] += h;
                }
            }
        } else {
            for (&r, gp) in rows.iter().zip(gpair) {
                let (g, h) = (gp[0] as f64, gp[1] as f64);
                for k in 0..N {
                    let cell = &mut hists[k][columns[k][r as usize] as usize];
                    cell[0] += g;
                    cell[1] += h;
                }
            }
        }
    }
}

fn add_feature(into: &mut FeatureHistogram, other: &FeatureHistogram) {
    for (a, b) in into.iter_mut().zip(other) {
        a[0] += b[0];
        a[1] += b[1];
    }
}

/// `parent -= child` over the given features: turns a parent's histogram into its other
/// child's (the subtraction trick).
pub(crate) fn subtract(parent: &mut Histogram, child: &Histogram, features: &[usize]) {
    for &f in features {
        for (a, b) in parent[f].iter_mut().zip(&child[f]) {
            a[0] -= b[0];
            a[1] -= b[1];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use crate::gbdt::binning::BinCuts;

    #[test]
    fn histograms_sum_gradients_per_bin_and_subtract() {
        let n = 100_000;
        let x: Vec<f32> = (0..n).flat_map(|i| [(i % 4) as f32, (i % 3) as f32]).collect();
        let ds = Dataset::new(x, 2, vec![0.0; n]).unwrap();
        let cuts = BinCuts::fit(&ds, 256, 1);
        let m = BinnedMatrix::new(&ds, &cuts, 2);
        let gpair: Vec<GradPair> = (0..n).map(|i| [(i % 1000) as f32, 1.0]).collect();
        let all: Vec<u32> = (0..n as u32).collect();
        let even: Vec<u32> = (0..n as u32).step_by(2).collect();
        let even_g: Vec<GradPair> = even.iter().map(|&r| gpair[r as usize]).collect();
        let b = HistogramBuilder { matrix: &m, features: &[0, 1], threads: 2 };
        let root = NodeRows { rows: &all, gpair: &gpair, all_rows: true };
        let hists = b.build(&[root, NodeRows { rows: &even, gpair: &even_g, all_rows: false }]);
        // Feature 0, bin 1 holds rows with i % 4 == 1.
        let expect: f64 = (0..n).filter(|i| i % 4 == 1).map(|i| (i % 1000) as f64).sum();
        assert_eq!(hists[0][0][1], [expect, (n / 4) as f64]);
        assert_eq!(hists[1][0][1], [0.0, 0.0]); // even rows never have i % 4 == 1
                                                // The gathered path agrees with the contiguous one.
        assert_eq!(b.build(&[NodeRows { all_rows: false, ..root }]), vec![hists[0].clone()]);
        let mut odd = hists[0].clone();
        subtract(&mut odd, &hists[1], &[0, 1]);
        let odd_rows: Vec<u32> = (1..n as u32).step_by(2).collect();
        let odd_g: Vec<GradPair> = odd_rows.iter().map(|&r| gpair[r as usize]).collect();
        assert_eq!(odd, b.build(&[NodeRows { rows: &odd_rows, gpair: &odd_g, all_rows: false }])[0]);
        // Feature subsets fill only their own histograms.
        let sub = HistogramBuilder { features: &[1], threads: 1, ..b };
        let h = sub.build(&[root]).remove(0);
        assert!(h[0].iter().all(|c| *c == [0.0, 0.0]));
        assert_eq!(h[1], hists[0][1]);
    }
}
