//! The linear learner's training objective: mean loss plus an L2 penalty, evaluated in
//! standardised feature space without copying the data.
//!
//! Parameters `θ` are `k` rows of `F` weights and one intercept, on standardised features
//! `(x - μ) / σ`. Each evaluation folds them into raw-space weights `a = θ / σ` and
//! intercept `b = θ_F - Σ θ_j μ_j / σ_j`, scores raw rows, and maps the raw-space gradient
//! back by the chain rule.

use crate::dataset::Dataset;
use crate::parallel;
use crate::task::ProblemType;

/// Per-feature centre and scale (`0` and `1` when standardisation is off).
#[derive(Clone, Debug)]
pub(crate) struct Standardizer {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Standardizer {
    pub fn fit(ds: &Dataset, enabled: bool) -> Self {
        let f = ds.n_features;
        if !enabled {
            return Standardizer { mean: vec![0.0; f], scale: vec![1.0; f] };
        }
        let n = ds.n_rows as f64;
        let mut mean = vec![0.0; f];
        for row in ds.features.chunks(f) {
            mean.iter_mut().zip(row).for_each(|(m, &x)| *m += x as f64);
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; f];
        for row in ds.features.chunks(f) {
            var.iter_mut().zip(row).zip(&mean).for_each(|((v, &x), m)| *v += (x as f64 - m).powi(2));
        }
        // Invariant: scale > 0 (constant features keep scale 1).
        let scale = var.iter().map(|v| (v / n).sqrt()).map(|s| if s > 1e-12 { s } else { 1.0 }).collect();
        Standardizer { mean, scale }
    }

    /// Raw-space weights (`k × F`) and intercepts from standardised parameters.
    pub fn to_raw(&self, theta: &[f64], k: usize) -> (Vec<f64>, Vec<f64>) {
        let f = self.mean.len();
        let mut weights = vec![0.0; k * f];
        let mut intercepts = vec![0.0; k];
        for c in 0..k {
            let t = &theta[c * (f + 1)..(c + 1) * (f + 1)];
            intercepts[c] = t[f];
            for j in 0..f {
                weights[c * f + j] = t[j] / self.scale[j];
                intercepts[c] -= t[j] * self.mean[j] / self.scale[j];
            }
        }
        (weights, intercepts)
    }
}

/// The objective over one training set.
pub(crate) struct Objective<'a> {
    pub ds: &'a Dataset,
    pub problem: ProblemType,
    pub k: usize,
    /// Class index per row (classification).
    pub targets: &'a [u32],
    /// Regression labels, standardised.
    pub scaled_labels: Vec<f64>,
    pub standardizer: Standardizer,
    pub l2: f64,
    pub threads: usize,
}

impl Objective<'_> {
    /// Penalised mean loss at `theta`; writes its gradient. Also returns the unpenalised mean loss.
    pub fn evaluate(&self, theta: &[f64], grad: &mut [f64]) -> (f64, f64) {
        let (f, k) = (self.ds.n_features, self.k);
        let (weights, intercepts) = self.standardizer.to_raw(theta, k);
        let parts = parallel::map_ranges(self.ds.n_rows, self.threads, |rows| {
            let mut loss = 0.0;
            let mut g = vec![0.0; k * (f + 1)]; // raw-space: k × F weights, then k intercepts at the end
            let mut z = vec![0.0; k];
            for i in rows {
                let x = self.ds.row(i);
                for c in 0..k {
                    let w = &weights[c * f..(c + 1) * f];
                    z[c] = intercepts[c] + w.iter().zip(x).map(|(w, &x)| w * x as f64).sum::<f64>();
                }
                loss += self.residuals(i, &mut z);
                for c in 0..k {
                    let r = z[c];
                    g[c * f..(c + 1) * f].iter_mut().zip(x).for_each(|(g, &x)| *g += r * x as f64);
                    g[k * f + c] += r;
                }
            }
            (loss, g)
        });
        let n = self.ds.n_rows as f64;
        let mut loss = 0.0;
        let mut raw = vec![0.0; k * (f + 1)];
        for (l, g) in parts {
            loss += l;
            raw.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
        }
        let mut penalty = 0.0;
        for c in 0..k {
            let gb = raw[k * f + c] / n;
            for j in 0..f {
                let t = theta[c * (f + 1) + j];
                let s = &self.standardizer;
                grad[c * (f + 1) + j] = (raw[c * f + j] / n - gb * s.mean[j]) / s.scale[j] + self.l2 * t;
                penalty += 0.5 * self.l2 * t * t;
            }
            grad[c * (f + 1) + f] = gb;
        }
        (loss / n + penalty, loss / n)
    }

    /// Replaces scores `z` of row `i` by `dloss/dz`; returns the row's loss.
    fn residuals(&self, i: usize, z: &mut [f64]) -> f64 {
        match self.problem {
            ProblemType::Regression => {
                let d = z[0] - self.scaled_labels[i];
                z[0] = d;
                0.5 * d * d
            }
            ProblemType::BinaryClassification => {
                let (m, y) = (z[0], self.targets[i] as f64);
                z[0] = 1.0 / (1.0 + (-m).exp()) - y;
                (-m.abs()).exp().ln_1p() + m.max(0.0) - y * m
            }
            ProblemType::MulticlassClassification => {
                let y = self.targets[i] as usize;
                let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
                let loss = max + sum.ln() - z[y];
                for (c, v) in z.iter_mut().enumerate() {
                    *v = (*v - max).exp() / sum - if c == y { 1.0 } else { 0.0 };
                }
                loss
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let x: Vec<f32> = (0..60).map(|i| ((i * 37) % 11) as f32 * 0.3 + (i % 3) as f32).collect();
        let ds = Dataset::new(x, 3, (0..20).map(|i| (i % 3) as f64).collect()).unwrap();
        let targets: Vec<u32> = (0..20).map(|i| i % 3).collect();
        for (problem, k) in [
            (ProblemType::MulticlassClassification, 3),
            (ProblemType::BinaryClassification, 1),
            (ProblemType::Regression, 1),
        ] {
            let targets: Vec<u32> = targets.iter().map(|&t| if k == 1 { t.min(1) } else { t }).collect();
            let obj = Objective {
                ds: &ds,
                problem,
                k,
                targets: &targets,
                scaled_labels: ds.labels.clone(),
                standardizer: Standardizer::fit(&ds, true),
                l2: 0.1,
                threads: 1,
            };
            let theta: Vec<f64> = (0..k * 4).map(|i| (i as f64 * 0.37).sin()).collect();
            let mut grad = vec![0.0; theta.len()];
            obj.evaluate(&theta, &mut grad);
            for j in 0..theta.len() {
                let (mut hi, mut lo) = (theta.clone(), theta.clone());
                hi[j] += 1e-6;
                lo[j] -= 1e-6;
                let mut scratch = vec![0.0; theta.len()];
                let numeric = (obj.evaluate(&hi, &mut scratch).0 - obj.evaluate(&lo, &mut scratch).0) / 2e-6;
                assert!((numeric - grad[j]).abs() < 1e-5, "{problem:?} {j}: {numeric} vs {}", grad[j]);
            }
        }
    }
}
