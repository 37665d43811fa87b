//! The `ai.onnx.ml` operators as plain kernels over [`Array`]s: parsed from a node's
//! attributes by [`build`], evaluated without any graph-engine types. The engine adapters
//! wrap them; the tests here run them directly.

pub mod array;
pub mod attributes;
pub mod dense;
mod linear;
pub mod post_transform;
mod preprocess;
pub mod tree;
mod tree_operators;

use std::fmt::Debug;
use std::sync::Arc;

use tract_onnx::pb::NodeProto;

pub use array::{Array, Data, ElementType};
use attributes::Attributes;

use crate::error::Error;

/// One ONNX-ML operator, ready to run.
pub trait Kernel: Debug + Send + Sync + 'static {
    fn op_type(&self) -> &'static str;

    /// Element type of each output.
    fn output_types(&self) -> Vec<ElementType>;

    /// Dimensions of each output after the batch dimension, given the dimensions of each
    /// input after its batch dimension.
    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String>;

    /// Runs the operator on a batch.
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String>;

    /// Runs a single-input operator on borrowed `f32` data of `shape` (no copy of the input).
    fn eval_numeric(&self, x: &[f32], shape: &[usize]) -> Result<Vec<Array>, String> {
        self.eval(&[Array::f32(shape.to_vec(), x.to_vec())])
    }
}

/// The `ai.onnx.ml` operators this crate implements.
pub const OPERATORS: &[&str] = &[
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    "LinearClassifier",
    "LinearRegressor",
    "Scaler",
    "Normalizer",
    "Imputer",
    "OneHotEncoder",
    "LabelEncoder",
    "Binarizer",
    "ArrayFeatureExtractor",
    "FeatureVectorizer",
];

/// Builds the kernel for `node`, one of [`OPERATORS`] but `ArrayFeatureExtractor` (a gather
/// along the last axis, which the engine wires from its own operators), or a fused
/// [`dense`] node.
pub fn build(node: &NodeProto) -> Result<Arc<dyn Kernel>, Error> {
    let attributes = Attributes::new(node);
    Ok(match node.op_type.as_str() {
        "TreeEnsembleClassifier" => Arc::new(tree_operators::Classifier::parse(&attributes)?),
        "TreeEnsembleRegressor" => Arc::new(tree_operators::Regressor::parse(&attributes)?),
        "LinearClassifier" => Arc::new(linear::Classifier::parse(&attributes)?),
        "LinearRegressor" => Arc::new(linear::Regressor::parse(&attributes)?),
        "Scaler" => Arc::new(preprocess::Scaler::parse(&attributes)?),
        "Normalizer" => Arc::new(preprocess::Normalizer::parse(&attributes)?),
        "Imputer" => Arc::new(preprocess::Imputer::parse(&attributes)?),
        "OneHotEncoder" => Arc::new(preprocess::OneHotEncoder::parse(&attributes)?),
        "LabelEncoder" => Arc::new(preprocess::LabelEncoder::parse(&attributes)?),
        "Binarizer" => Arc::new(preprocess::Binarizer::parse(&attributes)?),
        "FeatureVectorizer" => Arc::new(preprocess::FeatureVectorizer::parse(&attributes)?),
        dense::OP_TYPE => Arc::new(dense::Dense::parse(&attributes)?),
        other => {
            return Err(Error::UnsupportedOperator {
                domain: node.domain.clone(),
                op_type: other.into(),
                node: attributes.node_name(),
            })
        }
    })
}

/// The single numeric input of a row-wise operator as `f32` rows.
pub(crate) fn numeric_rows<'a>(
    inputs: &'a [Array],
    op: &str,
) -> Result<(std::borrow::Cow<'a, [f32]>, usize, usize), String> {
    let input = inputs.first().ok_or_else(|| format!("{op} needs one input"))?;
    let (rows, width) = input.rows_and_width();
    Ok((input.to_f32()?, rows, width))
}

/// Threads a kernel may use for one large batch: the machine's parallelism, read once
/// (`available_parallelism` reads cgroup files: far too slow for every call).
pub fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Rows (the first dimension; 1 for a scalar) and elements per row of a shape.
pub(crate) fn rows_and_width(shape: &[usize]) -> (usize, usize) {
    match shape.split_first() {
        None => (1, 1),
        Some((rows, rest)) => (*rows, rest.iter().product()),
    }
}

/// The input dimensions after the batch dimension, as a row width (`[]` counts as 1).
pub(crate) fn width_of(dims: &[usize]) -> usize {
    dims.iter().product()
}
