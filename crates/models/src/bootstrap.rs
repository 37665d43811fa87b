//! Bootstrap resampling for metric standard deviations: deterministic (a fixed seed), so a
//! report is reproducible from the same predictions.

/// Resamples drawn for each standard deviation.
pub const RESAMPLES: usize = 100;

/// SplitMix64: small, fast and good enough to draw row indices.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// [`RESAMPLES`] lists of `n` row indices drawn with replacement.
pub fn resamples(n: usize) -> Vec<Vec<usize>> {
    let mut rng = SplitMix(0x7261_696E_7961_7264);
    (0..RESAMPLES).map(|_| (0..n).map(|_| (rng.next() % n.max(1) as u64) as usize).collect()).collect()
}

/// Population standard deviation of the finite values (0 when there are none).
pub fn standard_deviation(values: &[f64]) -> f64 {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < 2 {
        return 0.0;
    }
    let mean = finite.iter().sum::<f64>() / finite.len() as f64;
    (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / finite.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_are_deterministic_and_in_range() {
        let (a, b) = (resamples(50), resamples(50));
        assert_eq!(a, b);
        assert!(a.iter().flatten().all(|&i| i < 50));
        assert_eq!(standard_deviation(&[1.0, 3.0]), 1.0);
    }
}
