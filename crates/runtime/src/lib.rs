//! The model runtime of trainyard: loads an ONNX model (`model.onnx`, with `model.json` when
//! present, from a file, a directory or a `model.tar.gz`) and runs batches of rows, returning
//! labels and per-class probabilities or regression values. Evaluation and every endpoint use
//! this one runtime, so the numbers a model is approved on are the numbers it serves.
//!
//! tract is the graph engine; the `ai.onnx.ml` operators real exports use (tree ensembles,
//! linear models, scalers, encoders, ...) are the project's own kernels in [`ml`], with a
//! native tree-ensemble kernel; with the `onnxruntime` cargo feature, ONNX Runtime can run the
//! graph instead. A [`Model`] is loaded once and run by many threads without a lock.
//!
//! This crate must never panic on a model or an input (every problem is an [`Error`] naming
//! the node, operator or width), never unpickle or execute anything a model carries, never
//! extract an archive to disk, and never touch the network.

mod artifact;
pub mod engine;
mod error;
mod metadata;
pub mod ml;
mod model;
mod proto;

pub use error::{Error, Result};
pub use metadata::{Label, Metadata};
pub use model::{inspect, Backend, Model, Predictions, Task};
pub use proto::{Description, TensorDescription};
