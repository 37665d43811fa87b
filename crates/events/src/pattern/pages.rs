//! Large arrays of the matcher on transparent huge pages, where the OS offers them.
//!
//! With many rules, a match reads a few dozen cache lines scattered over tens of
//! megabytes; with 4 KiB pages nearly each of them also misses the TLB and costs a
//! page walk. On Linux the automaton's states and its transition table ask for huge
//! pages (`MADV_HUGEPAGE`, honoured when transparent huge pages are in `madvise` or
//! `always` mode), so the walk reads them with a few TLB entries. Only a hint: it
//! changes no content, and nothing changes where the OS declines it.

/// Arrays smaller than this keep their ordinary pages (a huge page is 2 MiB).
const HUGE_FROM: usize = 4 << 20;

/// A vector of `len` copies of `fill`, its memory advised before it is written
/// (pages written before the advice stay small).
pub(super) fn filled<T: Clone>(len: usize, fill: T) -> Vec<T> {
    let mut items = Vec::with_capacity(len);
    advise(&items);
    items.resize(len, fill);
    items
}

/// Makes room for one more item, growing a large vector into advised memory
/// (ordinary growth reallocates into memory that was never advised).
pub(super) fn reserve_one<T>(items: &mut Vec<T>) {
    if items.len() < items.capacity() || items.capacity() * std::mem::size_of::<T>() < HUGE_FROM / 2 {
        return;
    }
    let mut grown = Vec::with_capacity(items.capacity() * 2);
    advise(&grown);
    grown.append(items);
    *items = grown;
}

/// Advises the whole pages inside `items`' allocation.
fn advise<T>(items: &Vec<T>) {
    let bytes = items.capacity() * std::mem::size_of::<T>();
    if bytes < HUGE_FROM {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = items.as_ptr() as usize;
        let (first, end) = (start.next_multiple_of(PAGE), (start + bytes) / PAGE * PAGE);
        let Some(at) = std::ptr::NonNull::new(first as *mut std::ffi::c_void).filter(|_| end > first) else {
            return;
        };
        // SAFETY: `[first, end)` lies inside the vector's own allocation, which this
        // function borrows. MADV_HUGEPAGE neither reads nor writes memory and changes
        // no mapping the program can observe: it only lets the kernel back the range
        // with larger pages. A refusal (no THP support) is ignored: the pages stay small.
        #[allow(unsafe_code)]
        let _ = unsafe { nix::sys::mman::madvise(at, end - first, nix::sys::mman::MmapAdvise::MADV_HUGEPAGE) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advised_vectors_hold_what_they_are_given() {
        let big = filled(HUGE_FROM / 8 + 3, 7u64);
        assert!(big.len() == HUGE_FROM / 8 + 3 && big.iter().all(|&x| x == 7));
        let mut grown: Vec<u64> = Vec::with_capacity(HUGE_FROM / 16);
        grown.extend(0..HUGE_FROM as u64 / 16);
        reserve_one(&mut grown);
        assert!(grown.capacity() > grown.len());
        grown.push(u64::MAX);
        assert!(grown.iter().take(grown.len() - 1).enumerate().all(|(i, &x)| x == i as u64));
        assert_eq!(grown.last(), Some(&u64::MAX));
    }
}
