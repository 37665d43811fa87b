//! Graph engines: something that runs a prepared ONNX graph on a batch. The default is tract
//! with the project's ONNX-ML kernels; with the `onnxruntime` feature, ONNX Runtime loaded at
//! run time from `ORT_DYLIB_PATH`.

#[cfg(feature = "onnxruntime")]
pub mod onnxruntime;
pub mod tract;

use crate::error::Result;
use crate::ml::Array;

/// Element types a graph input may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementKind {
    F32,
    F64,
    I64,
    I32,
    Str,
}

/// A graph input: its name, element type and dimensions after the batch dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphInput {
    pub name: String,
    pub kind: ElementKind,
    pub dims: Vec<usize>,
}

/// The `f32` values fed to one graph input (cast to its element type by the engine),
/// borrowed from the caller's rows when the graph has one input.
pub struct Feed<'a> {
    pub shape: Vec<usize>,
    pub data: std::borrow::Cow<'a, [f32]>,
}

/// Runs a compiled graph. Implementations are shared by many threads: `run` takes `&self`.
pub trait Engine: Send + Sync {
    /// Runs one batch; `inputs` are in graph-input order, outputs in graph-output order.
    fn run(&self, inputs: Vec<Feed<'_>>) -> Result<Vec<Array>>;
}
