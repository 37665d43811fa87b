//! Minimal data parallelism on `std::thread::scope`: split work into contiguous chunks,
//! one per thread, and combine results in chunk order (so results do not depend on
//! thread timing).

use std::ops::Range;

/// Below this many items per thread, work runs on the calling thread.
const MIN_ITEMS_PER_THREAD: usize = 4096;

/// Splits `0..n` into at most `threads` contiguous ranges of near-equal size.
pub(crate) fn ranges(n: usize, threads: usize) -> Vec<Range<usize>> {
    let parts = threads.max(1).min(n.div_ceil(MIN_ITEMS_PER_THREAD)).max(1);
    let size = n.div_ceil(parts);
    (0..parts).map(|p| (p * size).min(n)..((p + 1) * size).min(n)).filter(|r| !r.is_empty() || n == 0).collect()
}

/// Runs `f` on contiguous sub-ranges of `0..n` on up to `threads` threads; results in range order.
pub(crate) fn map_ranges<R: Send>(n: usize, threads: usize, f: impl Fn(Range<usize>) -> R + Sync) -> Vec<R> {
    let parts = ranges(n, threads);
    if parts.len() <= 1 {
        return parts.into_iter().map(&f).collect();
    }
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = parts.into_iter().map(|r| s.spawn(move || f(r))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

/// Runs `f(first_row, chunk)` over row-aligned chunks of `data` (`width` items per row);
/// results in chunk order.
pub(crate) fn for_rows_mut<T: Send, R: Send>(
    data: &mut [T],
    width: usize,
    threads: usize,
    f: impl Fn(usize, &mut [T]) -> R + Sync,
) -> Vec<R> {
    let width = width.max(1);
    let rows = data.len() / width;
    let parts = ranges(rows, threads);
    if parts.len() <= 1 {
        return vec![f(0, data)];
    }
    let rows_per_part = parts[0].len();
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = data
            .chunks_mut(rows_per_part * width)
            .enumerate()
            .map(|(p, chunk)| s.spawn(move || f(p * rows_per_part, chunk)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

/// Runs `tasks` on up to `threads` threads, each thread taking the next task in turn;
/// returns the results in task order.
pub(crate) fn run_tasks<T: Sync, R: Send>(tasks: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.max(1).min(tasks.len());
    if threads <= 1 {
        return tasks.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|s| {
        let (f, next) = (&f, &next);
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(task) = tasks.get(i) else { break };
                        done.push((i, f(task)));
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    results.sort_unstable_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_once() {
        for (n, t) in [(0, 2), (10, 2), (100_000, 3), (9000, 2)] {
            let rs = ranges(n, t);
            assert_eq!(rs.iter().map(|r| r.len()).sum::<usize>(), n);
            assert!(rs.windows(2).all(|w| w[0].end == w[1].start));
        }
        let sums = map_ranges(100_000, 2, |r| r.sum::<usize>());
        assert_eq!(sums.iter().sum::<usize>(), (0..100_000).sum::<usize>());
    }

    #[test]
    fn rows_and_tasks() {
        let mut data = vec![0usize; 3 * 20_000];
        for_rows_mut(&mut data, 3, 2, |first, chunk| {
            for (i, row) in chunk.chunks_mut(3).enumerate() {
                row.fill(first + i);
            }
        });
        assert!(data.chunks(3).enumerate().all(|(i, r)| r == [i, i, i]));
        assert_eq!(run_tasks(&[1, 2, 3, 4, 5], 2, |x| x * 10), vec![10, 20, 30, 40, 50]);
    }
}
