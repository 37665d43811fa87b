//! The score transforms of ONNX-ML classifiers and regressors (`post_transform`), computed in
//! `f32` with onnxruntime's formulas so that outputs agree with it.

/// `post_transform` attribute values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostTransform {
    None,
    Softmax,
    Logistic,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    pub fn parse(value: &str) -> Result<PostTransform, String> {
        Ok(match value {
            "NONE" => PostTransform::None,
            "SOFTMAX" => PostTransform::Softmax,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => PostTransform::Probit,
            other => {
                return Err(format!(
                    "post_transform `{other}` is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT"
                ))
            }
        })
    }

    /// Transforms rows of `width` scores in place: element-wise transforms in one pass over
    /// the whole batch (vectorised), softmaxes row by row.
    pub fn apply_rows(self, scores: &mut [f32], width: usize) {
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
            PostTransform::Probit => scores.iter_mut().for_each(|s| *s = probit(*s)),
            PostTransform::Softmax | PostTransform::SoftmaxZero => {
                scores.chunks_mut(width.max(1)).for_each(|row| self.apply(row));
            }
        }
    }

    /// Transforms one row of scores in place.
    pub fn apply(self, scores: &mut [f32]) {
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
            PostTransform::Probit => scores.iter_mut().for_each(|s| *s = probit(*s)),
            PostTransform::Softmax => softmax(scores),
            PostTransform::SoftmaxZero => softmax_zero(scores),
        }
    }
}

/// `1 / (1 + e^-x)`, computed on `|x|` for stability as onnxruntime does.
#[inline]
pub fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + exp(-x.abs()));
    let flipped = 1.0 - v;
    if x < 0.0 {
        flipped
    } else {
        v
    }
}

/// `e^x` without branches or a library call, so loops over scores vectorise: Cephes'
/// range reduction and degree-6 polynomial (relative error about 1e-7, like `expf`).
#[inline]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by adding and removing 1.5·2^23 (no `floor` call, which is a
    // library call on baseline x86-64 and stops vectorisation).
    const ROUND: f32 = 12_582_912.0;
    let n = (x * LOG2_E + ROUND) - ROUND;
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 0.5;
    let e_r = p * r * r + r + 1.0;
    // 2^n from the exponent bits; n is in [-126, 127] after the clamp.
    e_r * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `sqrt(2) * erfinv(2x - 1)` with onnxruntime's closed-form `erfinv` approximation.
pub fn probit(x: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(x * 2.0 - 1.0)
}

fn erf_inv(x: f32) -> f32 {
    let sign = if x < 0.0 { -1.0f32 } else { 1.0 };
    let x = (1.0 - x) * (1.0 + x);
    let log = x.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * log;
    let v2 = 1.0 / 0.147 * log;
    let v3 = -v + (v * v - v2).sqrt();
    sign * v3.sqrt()
}

pub fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        *s = exp(*s - max);
        sum += *s;
    }
    scores.iter_mut().for_each(|s| *s /= sum);
}

/// Softmax over the non-zero scores; zeros stay zero.
pub fn softmax_zero(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        if s.abs() > 1e-7 {
            *s = exp(*s - max);
            sum += *s;
        } else {
            *s = 0.0;
        }
    }
    scores.iter_mut().for_each(|s| *s /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_agrees_with_the_library_within_two_ulps_of_relative_error() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, std) = (exp(x), x.exp());
            assert!(((ours - std) / std).abs() < 3e-7, "exp({x}) = {ours}, std {std}");
            x += 0.0137;
        }
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn logistic_is_symmetric_and_stable() {
        assert_eq!(logistic(0.0), 0.5);
        assert!((logistic(2.0) + logistic(-2.0) - 1.0).abs() < 1e-7);
        assert_eq!(logistic(-1000.0), 0.0);
        assert_eq!(logistic(1000.0), 1.0);
    }

    #[test]
    fn softmax_sums_to_one_and_handles_large_values() {
        let mut s = [1000.0, 1001.0, 999.0];
        softmax(&mut s);
        assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(s[1] > s[0] && s[0] > s[2]);
    }

    #[test]
    fn softmax_zero_keeps_zeros() {
        let mut s = [0.0, 1.0, 2.0];
        softmax_zero(&mut s);
        assert_eq!(s[0], 0.0);
        assert!((s[1] + s[2] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn probit_inverts_the_normal_cdf_approximately() {
        assert!(probit(0.5).abs() < 1e-6);
        assert!((probit(0.975) - 1.959_964).abs() < 5e-3);
    }
}
