//! Splitting nodes' rows: a stable, parallel partition of each node's row indices and
//! ordered gradients into "goes left" followed by "goes right".
//!
//! Phase 1 splits every node into chunks and writes each row, without branching on its
//! side, to both a left and a right scratch buffer, advancing only the matching cursor
//! (the side of a row is as unpredictable as a coin toss, so a branch would mispredict
//! half the time). Phase 2 copies each chunk's two sides back to their final places.

use std::sync::Mutex;

use super::binning::BinnedMatrix;
use super::histogram::GradPair;
use crate::parallel;

/// Rows below which a partition runs on the calling thread.
const MIN_PARALLEL_ROWS: usize = 64 * 1024;

/// Rows per task below which a node's range is not split into chunks.
const MIN_TASK_ROWS: usize = 16 * 1024;

/// One node to split: its range in the row arrays and the split (`bin <= split_bin` goes left).
pub(crate) struct Job {
    pub start: usize,
    pub end: usize,
    pub feature: usize,
    pub bin: u8,
}

/// Reusable scratch space, one slot per training row.
pub(crate) struct Partitioner {
    left: Vec<u32>,
    left_g: Vec<GradPair>,
    right: Vec<u32>,
    right_g: Vec<GradPair>,
}

/// A phase-1 task: one chunk of one node (`'r`: the row arrays, `'a`: the scratch space).
struct Chunk<'r, 'a> {
    job: usize,
    rows: &'r [u32],
    gpair: &'r [GradPair],
    left: &'a mut [u32],
    left_g: &'a mut [GradPair],
    right: &'a mut [u32],
    right_g: &'a mut [GradPair],
    n_left: usize,
}

/// The result of a phase-1 task.
struct Sides<'a> {
    job: usize,
    n_left: usize,
    left: &'a [u32],
    left_g: &'a [GradPair],
    right: &'a [u32],
    right_g: &'a [GradPair],
}

/// A phase-2 task: copy one side of one chunk to its destination.
struct Copy<'a> {
    rows: &'a [u32],
    gpair: &'a [GradPair],
    dst_rows: &'a mut [u32],
    dst_gpair: &'a mut [GradPair],
}

impl Partitioner {
    pub fn new(n_rows: usize) -> Self {
        Partitioner {
            left: vec![0; n_rows],
            left_g: vec![[0.0; 2]; n_rows],
            right: vec![0; n_rows],
            right_g: vec![[0.0; 2]; n_rows],
        }
    }

    /// Partitions every job's range of `rows` (and the aligned `gpair`) in place, keeping
    /// the original order within each side; returns the number of rows going left, per job.
    pub fn partition(
        &mut self,
        jobs: &[Job],
        rows: &mut [u32],
        gpair: &mut [GradPair],
        m: &BinnedMatrix,
        threads: usize,
    ) -> Vec<usize> {
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.sort_unstable_by_key(|&j| jobs[j].start);
        let total: usize = jobs.iter().map(|j| j.end - j.start).sum();
        let threads = if total < MIN_PARALLEL_ROWS { 1 } else { threads.max(1) };
        let size = MIN_TASK_ROWS.max(total.div_ceil(threads * 4));

        // Phase 1: carve the scratch buffers into per-chunk slices (jobs ascending by start).
        let (mut left, mut left_g) = (&mut self.left[..], &mut self.left_g[..]);
        let (mut right, mut right_g) = (&mut self.right[..], &mut self.right_g[..]);
        let mut offset = 0;
        let mut chunks = Vec::new();
        for &j in &order {
            let mut start = jobs[j].start;
            while start < jobs[j].end {
                let end = (start + size).min(jobs[j].end);
                let (skip, len) = (start - offset, end - start);
                let l = take(&mut left, skip, len);
                let lg = take(&mut left_g, skip, len);
                let r = take(&mut right, skip, len);
                let rg = take(&mut right_g, skip, len);
                let (rows, gpair) = (&rows[start..end], &gpair[start..end]);
                let chunk = Chunk { job: j, rows, gpair, left: l, left_g: lg, right: r, right_g: rg, n_left: 0 };
                chunks.push(Mutex::new(chunk));
                offset = end;
                start = end;
            }
        }
        parallel::run_tasks(&chunks, threads, |chunk| {
            let mut guard = chunk.lock().unwrap_or_else(|p| p.into_inner());
            let c = &mut *guard;
            let column = m.column(jobs[c.job].feature);
            let bin = jobs[c.job].bin;
            let (mut li, mut ri) = (0, 0);
            // Invariant: li + ri equals the rows seen so far, so both stay below the chunk length.
            for (&r, &g) in c.rows.iter().zip(c.gpair) {
                let goes_left = (column[r as usize] <= bin) as usize;
                c.left[li] = r;
                c.left_g[li] = g;
                c.right[ri] = r;
                c.right_g[ri] = g;
                li += goes_left;
                ri += 1 - goes_left;
            }
            c.n_left = li;
        });
        // Keep only the scratch sides, releasing the shared borrow of the row arrays.
        let chunks: Vec<Sides<'_>> = chunks
            .into_iter()
            .map(|c| {
                let c = c.into_inner().unwrap_or_else(|p| p.into_inner());
                let n_right = c.rows.len() - c.n_left;
                Sides {
                    job: c.job,
                    n_left: c.n_left,
                    left: &c.left[..c.n_left],
                    left_g: &c.left_g[..c.n_left],
                    right: &c.right[..n_right],
                    right_g: &c.right_g[..n_right],
                }
            })
            .collect();

        // Phase 2: each node's chunks' lefts in order, then their rights.
        let mut lefts = vec![0; jobs.len()];
        let (mut dst_rows, mut dst_gpair) = (&mut rows[..], &mut gpair[..]);
        let mut offset = 0;
        let mut copies = Vec::new();
        let mut first = 0;
        while first < chunks.len() {
            let j = chunks[first].job;
            let last = first + chunks[first..].iter().take_while(|c| c.job == j).count();
            let node = &chunks[first..last];
            lefts[j] = node.iter().map(|c| c.n_left).sum();
            let mut skip = jobs[j].start - offset;
            for left_side in [true, false] {
                for c in node {
                    let (src, src_g) = if left_side { (c.left, c.left_g) } else { (c.right, c.right_g) };
                    let dst = take(&mut dst_rows, skip, src.len());
                    let dst_g = take(&mut dst_gpair, skip, src.len());
                    skip = 0;
                    copies.push(Mutex::new(Copy { rows: src, gpair: src_g, dst_rows: dst, dst_gpair: dst_g }));
                }
            }
            offset = jobs[j].end;
            first = last;
        }
        parallel::run_tasks(&copies, threads, |copy| {
            let mut c = copy.lock().unwrap_or_else(|p| p.into_inner());
            let c = &mut *c;
            c.dst_rows.copy_from_slice(c.rows);
            c.dst_gpair.copy_from_slice(c.gpair);
        });
        lefts
    }
}

/// Drops `skip` items from the front of `rest`, then splits off and returns the next `len`.
fn take<'a, T>(rest: &mut &'a mut [T], skip: usize, len: usize) -> &'a mut [T] {
    let slice = std::mem::take(rest);
    let (_, tail) = slice.split_at_mut(skip);
    let (head, tail) = tail.split_at_mut(len);
    *rest = tail;
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use crate::gbdt::binning::BinCuts;

    #[test]
    fn stable_partition_of_several_nodes() {
        let n = 100_000;
        let x: Vec<f32> = (0..n).map(|i| (i % 10) as f32).collect();
        let ds = Dataset::new(x, 1, vec![0.0; n]).unwrap();
        let m = BinnedMatrix::new(&ds, &BinCuts::fit(&ds, 256, 1), 1);
        let mut rows: Vec<u32> = (0..n as u32).rev().collect();
        let mut gpair: Vec<GradPair> = rows.iter().map(|&r| [r as f32, 1.0]).collect();
        // Listed out of order, with an untouched gap (a leaf) between them.
        let jobs =
            [Job { start: 75_000, end: n, feature: 0, bin: 7 }, Job { start: 0, end: 70_000, feature: 0, bin: 2 }];
        let before_gap = rows[70_000..75_000].to_vec();
        let lefts = Partitioner::new(n).partition(&jobs, &mut rows, &mut gpair, &m, 2);
        assert_eq!(lefts, vec![20_000, 21_000]);
        let (first, second) = (&rows[..70_000], &rows[75_000..]);
        assert!(first[..21_000].iter().all(|r| r % 10 <= 2) && first[21_000..].iter().all(|r| r % 10 > 2));
        assert!(second[..20_000].iter().all(|r| r % 10 <= 7) && second[20_000..].iter().all(|r| r % 10 > 7));
        assert!(first[..21_000].windows(2).all(|w| w[0] > w[1]) && first[21_000..].windows(2).all(|w| w[0] > w[1]));
        assert_eq!(&rows[70_000..75_000], &before_gap[..]);
        assert!(rows.iter().zip(&gpair).all(|(&r, g)| g[0] == r as f32), "gradients move with rows");
    }
}
