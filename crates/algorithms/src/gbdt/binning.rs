//! Feature binning: up to 256 quantile bins per feature, stored as one byte per cell.
//!
//! Bin `b` of a feature holds the values `x` with `cuts[b - 1] < x <= cuts[b]` (the last
//! bin is unbounded above). A split "bin <= b" is therefore exactly the raw-value test
//! `x <= cuts[b]`, which is what the exported ONNX trees (`BRANCH_LEQ`) evaluate — both
//! compare the same `f32` values, so binned training and raw prediction always agree.

use crate::dataset::Dataset;
use crate::parallel;

/// At most this many rows are sampled to find the cut points.
const SAMPLE_ROWS: usize = 200_000;

/// The cut points of every feature.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BinCuts {
    /// Per feature, strictly increasing upper bounds of all bins but the last.
    pub cuts: Vec<Vec<f32>>,
}

impl BinCuts {
    /// Finds at most `max_bin` bins per feature from (a deterministic sample of) the rows.
    pub fn fit(ds: &Dataset, max_bin: usize, threads: usize) -> Self {
        let step = ds.n_rows.div_ceil(SAMPLE_ROWS).max(1);
        let nf = ds.n_features;
        // One pass over the sampled rows, transposed, rather than one strided pass per feature.
        let mut columns = vec![Vec::with_capacity(ds.n_rows.div_ceil(step)); nf];
        for i in (0..ds.n_rows).step_by(step) {
            for (column, &x) in columns.iter_mut().zip(ds.row(i)) {
                column.push(x);
            }
        }
        let cuts = parallel::run_tasks(&columns, threads, |values| {
            let mut values = values.clone();
            values.sort_unstable_by(f32::total_cmp);
            feature_cuts(&values, max_bin)
        });
        BinCuts { cuts }
    }

    /// Bin of `value` for feature `f`.
    #[inline]
    pub fn bin(&self, f: usize, value: f32) -> u8 {
        // Invariant: cuts[f].len() <= 255, so the index fits in a byte.
        self.cuts[f].partition_point(|&c| c < value) as u8
    }

    /// Number of bins of feature `f`.
    pub fn n_bins(&self, f: usize) -> usize {
        self.cuts[f].len() + 1
    }
}

/// Cut points for one feature from its sorted sample values.
fn feature_cuts(sorted: &[f32], max_bin: usize) -> Vec<f32> {
    let mut distinct: Vec<(f32, usize)> = Vec::new();
    for &v in sorted {
        match distinct.last_mut() {
            Some((last, count)) if *last == v => *count += 1,
            _ => distinct.push((v, 1)),
        }
    }
    let max_cuts = max_bin.clamp(2, 256) - 1;
    let mut cuts = Vec::new();
    if distinct.len() <= max_cuts + 1 {
        for w in distinct.windows(2) {
            cuts.push(midpoint(w[0].0, w[1].0));
        }
        return cuts;
    }
    // Greedy quantiles: close a bin once it holds its share of the rows not yet binned.
    let (mut in_bin, mut binned) = (0usize, 0usize);
    for w in distinct.windows(2) {
        in_bin += w[0].1;
        let share = (sorted.len() - binned) as f64 / (max_cuts + 1 - cuts.len()) as f64;
        if in_bin as f64 >= share && cuts.len() < max_cuts {
            cuts.push(midpoint(w[0].0, w[1].0));
            binned += in_bin;
            in_bin = 0;
        }
    }
    cuts
}

/// A cut strictly between `lo < hi` when representable, else `lo` (still separates them).
fn midpoint(lo: f32, hi: f32) -> f32 {
    let m = ((lo as f64 + hi as f64) / 2.0) as f32;
    if m > lo && m < hi {
        m
    } else {
        lo
    }
}

/// The binned training matrix: one byte per cell, column-major, so that a node's rows
/// gather single bytes from one compact (cache-sized) column per feature.
pub(crate) struct BinnedMatrix {
    pub n_rows: usize,
    pub n_features: usize,
    /// Bin of row `i`, feature `f` at `f * n_rows + i`.
    pub bins: Vec<u8>,
}

impl BinnedMatrix {
    pub fn new(ds: &Dataset, cuts: &BinCuts, threads: usize) -> Self {
        let (n, nf) = (ds.n_rows, ds.n_features);
        let mut bins = vec![0u8; n * nf];
        // Each thread bins a range of rows into its segment of every column, reading the
        // row-major features sequentially.
        let size = parallel::ranges(n, threads).first().map_or(1, |r| r.len().max(1));
        let mut segments: Vec<Vec<&mut [u8]>> = (0..n.div_ceil(size)).map(|_| Vec::with_capacity(nf)).collect();
        for column in bins.chunks_mut(n.max(1)) {
            for (t, segment) in column.chunks_mut(size).enumerate() {
                segments[t].push(segment);
            }
        }
        std::thread::scope(|s| {
            for (t, mut columns) in segments.into_iter().enumerate() {
                s.spawn(move || {
                    for (j, i) in (t * size..((t + 1) * size).min(n)).enumerate() {
                        for (f, (column, &x)) in columns.iter_mut().zip(ds.row(i)).enumerate() {
                            column[j] = cuts.bin(f, x);
                        }
                    }
                });
            }
        });
        BinnedMatrix { n_rows: n, n_features: nf, bins }
    }

    /// The bins of feature `f`, one per row.
    #[inline]
    pub fn column(&self, f: usize) -> &[u8] {
        &self.bins[f * self.n_rows..(f + 1) * self.n_rows]
    }

    #[inline]
    pub fn bin(&self, row: usize, f: usize) -> u8 {
        self.bins[f * self.n_rows + row]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let cuts = feature_cuts(&[1.0, 1.0, 2.0, 3.0, 3.0], 256);
        assert_eq!(cuts, vec![1.5, 2.5]);
    }

    #[test]
    fn many_values_get_at_most_max_bin_quantile_bins() {
        let values: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
        let cuts = feature_cuts(&values, 16);
        assert_eq!(cuts.len(), 15);
        assert!(cuts.windows(2).all(|w| w[0] < w[1]));
        // Near-equal populations: every bin holds 625 ± 2 values.
        let mut counts = vec![0; 16];
        for &v in &values {
            counts[cuts.partition_point(|&c| c < v)] += 1;
        }
        assert!(counts.iter().all(|&c| (623..=627).contains(&c)), "{counts:?}");
        let skewed: Vec<f32> = (0..10_000).map(|i| if i < 9_000 { 0.0 } else { i as f32 }).collect();
        let cuts = feature_cuts(&skewed, 256);
        assert!(cuts.len() <= 255 && cuts[0] > 0.0 && cuts[0] < 9000.0);
    }

    #[test]
    fn bins_agree_with_raw_thresholds() {
        let ds = Dataset::new(vec![0.5, 3.0, 1.0, 2.0, 7.0, 2.0, 1e-30, -1.0], 2, vec![0.0; 4]).unwrap();
        let cuts = BinCuts::fit(&ds, 256, 2);
        let m = BinnedMatrix::new(&ds, &cuts, 1);
        for i in 0..4 {
            for f in 0..2 {
                let b = m.bin(i, f) as usize;
                let x = ds.row(i)[f];
                // x <= cuts[b] and (b == 0 or x > cuts[b - 1])
                assert!(b == cuts.cuts[f].len() || x <= cuts.cuts[f][b]);
                assert!(b == 0 || x > cuts.cuts[f][b - 1]);
            }
        }
        assert_eq!((cuts.n_bins(0), cuts.n_bins(1)), (4, 3)); // feature 1 has 3 distinct values
        assert_eq!(m.column(1), &[2, 1, 1, 0]);
        assert_eq!(midpoint(1.0, f32::from_bits(1.0f32.to_bits() + 1)), 1.0);
    }
}
