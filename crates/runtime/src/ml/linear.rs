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

    fn scores(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(rows * self.models);
        for row in x.chunks(self.width).take(rows) {
            for (m, coefficients) in self.coefficients.chunks(self.width).enumerate() {
                out.push(dot(row, coefficients) + self.intercepts.get(m).copied().unwrap_or(0.0));
            }
        }
        out
    }
}

/// A dot product over eight independent lanes, which the compiler vectorises (a single
/// running sum would be one long dependency chain). The summation order differs from a
/// BLAS's by rounding only, well inside the 1e-5 agreement.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    let mut sum: f32 = lanes.iter().sum();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
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
                let start = scores.len();
                scores.extend_from_slice(row);
                self.post_transform.apply(&mut scores[start..]);
            }
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
            for row in values.chunks_mut(self.linear.models) {
                self.post_transform.apply(row);
            }
        }
        Ok(vec![Array::f32(vec![rows, self.linear.models], values)])
    }
}
