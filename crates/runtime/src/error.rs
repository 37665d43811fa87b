//! The crate's single error type. Every variant names what was wrong (the file, the node
//! and its operator, the attribute, the expected width) so the message alone says what to fix.

use std::path::PathBuf;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a file failed.
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// The bytes are not a usable ONNX model (corrupt protobuf, missing graph, bad archive).
    #[error("{} is not a valid model: {reason}", path.display())]
    InvalidModel { path: PathBuf, reason: String },

    /// `model.json` exists but cannot be used.
    #[error("model.json: {reason}")]
    InvalidMetadata { reason: String },

    /// The graph uses an operator no backend implements.
    #[error("unsupported operator {domain}:{op_type} (node `{node}`)")]
    UnsupportedOperator { domain: String, op_type: String, node: String },

    /// An ONNX-ML node's attributes are missing, malformed or inconsistent.
    #[error("node `{node}` ({op_type}): {reason}")]
    InvalidNode { node: String, op_type: String, reason: String },

    /// The graph engine refused the model (shape or type inference, optimisation).
    #[error("cannot prepare the model: {reason}")]
    Prepare { reason: String },

    /// The rows handed to the model do not fit its input.
    #[error("invalid input: {reason}")]
    Input { reason: String },

    /// Running the graph failed.
    #[error("inference failed: {reason}")]
    Inference { reason: String },

    /// The requested backend is not available in this build or on this machine.
    #[error("backend `{backend}` unavailable: {reason}")]
    BackendUnavailable { backend: String, reason: String },
}

impl Error {
    pub(crate) fn input(reason: impl Into<String>) -> Self {
        Error::Input { reason: reason.into() }
    }
    pub(crate) fn inference(reason: impl std::fmt::Display) -> Self {
        Error::Inference { reason: reason.to_string() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
