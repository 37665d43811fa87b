//! `LinearClassifier` and `LinearRegressor`: `scores = X · coefficientsᵀ + intercepts`.

use super::attributes::Attributes;
use super::post_transform::{logistic, PostTransform};
use super::tree_operators::Labels;
use super::{numeric_rows, rows_and_width, width_of, Array, ElementType, Kernel};
use crate::error::Error;

/// Coefficients of `rows` linear models over `width` features, row-major.
#[derive(Debug)]
struct Linear {
    coefficients: Vec<f32>,
    intercepts: Vec<f32>,
    models: usize,
    width: usize,
}

impl Linear {
    fn parse(a: &Attributes, models: usize) -> Result<Linear, Error> {
        let coefficients = a.floats("coefficients");
        if models == 0 || coefficients.is_empty() || coefficients.len() % models != 0 {
            return Err(a.error(format!("{} coefficients do not split into {models} models", coefficients.len())));
        }
        let mut intercepts = a.floats("intercepts");
        if intercepts.len() != models {
            // onnxruntime ignores intercepts whose count does not match.
            intercepts.clear();
        }
        Ok(Linear { width: coefficients.len() / models, coefficients, intercepts, models })
    }

    fn check(&self, width: usize) -> Result<(), String> {
        if width == self.width {
            Ok(())
        } else {
            Err(format!("the model has {} coefficients per class, the input has {width} features", self.width))
        }
    }

    /// Scores of every row and model.
    // Invariant: each score is summed as onnxruntime's SGEMM does — features in order, each
    // step a fused multiply-add rounded to f32, the intercept added last — so scores agree
    // to the last bit even when large terms cancel.
    fn scores(&self, x: &[f32], rows: usize) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            #[allow(unsafe_code)]
            // SAFETY: `scores_fma` is compiled for AVX2 and FMA, which this CPU has (checked above).
            return unsafe { self.scores_fma(x, rows) };
        }
        self.scores_with(x, rows, fused)
    }

    /// [`Linear::scores`] with hardware fused multiply-adds.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn scores_fma(&self, x: &[f32], rows: usize) -> Vec<f32> {
        self.scores_with(x, rows, f32::mul_add)
    }

    /// Rows go eight at a time through a transposed block, so each model's sum over features
    /// runs on eight rows side by side (vectorised); `fma(a, b, c)` is `a·b + c` rounded once.
    #[inline(always)]
    fn scores_with(&self, x: &[f32], rows: usize, fma: impl Fn(f32, f32, f32) -> f32) -> Vec<f32> {
        const BLOCK: usize = 8;
        let (width, models) = (self.width, self.models);
        let intercept = |m: usize| self.intercepts.get(m).copied().unwrap_or(0.0);
        let mut out = vec![0.0f32; rows * models];
        let mut transposed = vec![0.0f32; width * BLOCK];
        let full = rows / BLOCK * BLOCK;
        for start in (0..full).step_by(BLOCK) {
            for r in 0..BLOCK {
                let row = &x[(start + r) * width..(start + r + 1) * width];
                for (j, &v) in row.iter().enumerate() {
                    transposed[j * BLOCK + r] = v;
                }
            }
            for (m, coefficients) in self.coefficients.chunks(width).enumerate() {
                let mut sums = [0.0f32; BLOCK];
                for (column, &w) in transposed.chunks_exact(BLOCK).zip(coefficients) {
                    for r in 0..BLOCK {
                        sums[r] = fma(column[r], w, sums[r]);
                    }
                }
                for (r, sum) in sums.iter().enumerate() {
                    out[(start + r) * models + m] = sum + intercept(m);
                }
            }
        }
        for r in full..rows {
            let row = &x[r * width..(r + 1) * width];
            for (m, coefficients) in self.coefficients.chunks(width).enumerate() {
                let sum = row.iter().zip(coefficients).fold(0.0, |sum, (&a, &b)| fma(a, b, sum));
                out[r * models + m] = sum + intercept(m);
            }
        }
        out
    }
}

/// `a·b + c` rounded once to `f32`, for CPUs without FMA: the product of two `f32`s is exact
/// in `f64`, so only the sum is rounded (f64 then f32: the same result but for rare ties).
/// `f32::mul_add` would be a library call there.
#[inline(always)]
fn fused(a: f32, b: f32, c: f32) -> f32 {
    (a as f64 * b as f64 + c as f64) as f32
}

/// `LinearClassifier`: labels `[N]` and scores `[N, classes]`.
#[derive(Debug)]
pub struct Classifier {
    linear: Linear,
    labels: Labels,
    post_transform: PostTransform,
}

impl Classifier {
    pub fn parse(a: &Attributes) -> Result<Classifier, Error> {
        let labels = Labels::parse(a, "classlabels_ints", "classlabels_strings")?;
        // The intercepts are required and their count is the number of coefficient rows.
        let models = a.floats("intercepts").len();
        if models == 0 {
            return Err(a.error("needs intercepts"));
        }
        let linear = Linear::parse(a, models)?;
        if (models == 1 && labels.len() != 2) || (models > 1 && labels.len() < models) {
            return Err(a.error(format!("{models} coefficient rows for {} class labels", labels.len())));
        }
        let post_transform = PostTransform::parse(&a.string_or("post_transform", "NONE")?).map_err(|e| a.error(e))?;
        Ok(Classifier { linear, labels, post_transform })
    }

    fn score_width(&self) -> usize {
        if self.linear.models == 1 {
            2
        } else {
            self.linear.models
        }
    }
}

impl Kernel for Classifier {
    fn op_type(&self) -> &'static str {
        "LinearClassifier"
    }
    fn output_types(&self) -> Vec<ElementType> {
        vec![self.labels.element_type(), ElementType::F32]
    }
    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        self.linear.check(width_of(&inputs[0]))?;
        Ok(vec![vec![], vec![self.score_width()]])
    }
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        let (x, _, _) = numeric_rows(inputs, "LinearClassifier")?;
        self.eval_numeric(&x, &inputs[0].shape)
    }
    fn eval_numeric(&self, x: &[f32], shape: &[usize]) -> Result<Vec<Array>, String> {
        let (rows, width) = rows_and_width(shape);
        self.linear.check(width)?;
        let raw = self.linear.scores(x, rows);
        let mut chosen = Vec::with_capacity(rows);
        let mut scores = Vec::with_capacity(rows * self.score_width());
        if self.linear.models == 1 {
            // One model for two classes: the label is the sign of the score.
            for &s in &raw {
                chosen.push(usize::from(s > 0.0));
                // onnxruntime: [1-σ(S), σ(S)] for LOGISTIC, else [1-S, S] untransformed.
                match self.post_transform {
                    PostTransform::Logistic => scores.extend_from_slice(&[1.0 - logistic(s), logistic(s)]),
                    _ => scores.extend_from_slice(&[1.0 - s, s]),
                }
            }
        } else {
            for row in raw.chunks(self.linear.models) {
                let mut best = 0;
                for (k, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = k;
                    }
                }
                chosen.push(best);
            }
            scores = raw;
            self.post_transform.apply_rows(&mut scores, self.linear.models);
        }
        Ok(vec![self.labels.pick(&chosen), Array::f32(vec![rows, self.score_width()], scores)])
    }
}

/// `LinearRegressor`: values `[N, targets]`.
#[derive(Debug)]
pub struct Regressor {
    linear: Linear,
    post_transform: PostTransform,
}

impl Regressor {
    pub fn parse(a: &Attributes) -> Result<Regressor, Error> {
        let targets =
            usize::try_from(a.int("targets").unwrap_or(1)).map_err(|_| a.error("targets must be positive"))?;
        let linear = Linear::parse(a, targets)?;
        let post_transform = PostTransform::parse(&a.string_or("post_transform", "NONE")?).map_err(|e| a.error(e))?;
        Ok(Regressor { linear, post_transform })
    }
}

impl Kernel for Regressor {
    fn op_type(&self) -> &'static str {
        "LinearRegressor"
    }
    fn output_types(&self) -> Vec<ElementType> {
        vec![ElementType::F32]
    }
    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        self.linear.check(width_of(&inputs[0]))?;
        Ok(vec![vec![self.linear.models]])
    }
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        let (x, _, _) = numeric_rows(inputs, "LinearRegressor")?;
        self.eval_numeric(&x, &inputs[0].shape)
    }
    fn eval_numeric(&self, x: &[f32], shape: &[usize]) -> Result<Vec<Array>, String> {
        let (rows, width) = rows_and_width(shape);
        self.linear.check(width)?;
        let mut values = self.linear.scores(x, rows);
        // With one target onnxruntime applies PROBIT only.
        if self.linear.models > 1 || self.post_transform == PostTransform::Probit {
            self.post_transform.apply_rows(&mut values, self.linear.models);
        }
        Ok(vec![Array::f32(vec![rows, self.linear.models], values)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portable_fused_multiply_add_matches_the_hardware_one() {
        // Large, cancelling terms: where unfused rounding would differ.
        let width = 30;
        let coefficients: Vec<f32> = (0..2 * width).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013).collect();
        let linear = Linear { coefficients, intercepts: vec![0.25, -0.5], models: 2, width };
        let x: Vec<f32> = (0..37 * width).map(|i| ((i * 7919 % 1009) as f32 - 504.0) * 1.37).collect();
        let portable = linear.scores_with(&x, 37, fused);
        let hardware = linear.scores_with(&x, 37, f32::mul_add);
        assert_eq!(portable, hardware);
        assert_eq!(linear.scores(&x, 37), hardware);
    }
}
