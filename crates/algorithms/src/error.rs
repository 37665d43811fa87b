//! The crate's single error type. Every variant carries enough context (the parameter name,
//! or the file, line and column) for the message alone to tell a user what to fix.

use std::path::PathBuf;

/// Why a training run (or a library call) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The algorithm name is not one of [`crate::ALGORITHMS`].
    #[error("unknown algorithm `{name}`; expected one of: {expected}")]
    UnknownAlgorithm { name: String, expected: String },

    /// A hyperparameter is unknown, missing, malformed or out of range.
    #[error("hyperparameter `{name}`: {reason}")]
    Hyperparameter { name: String, reason: String },

    /// A CSV cell or row is malformed. Line and column are 1-based.
    #[error("{}, line {line}, column {column}: {reason}", file.display())]
    Csv { file: PathBuf, line: usize, column: usize, reason: String },

    /// A channel as a whole is unusable (missing, empty, inconsistent files).
    #[error("channel `{channel}` ({}): {reason}", dir.display())]
    Channel { channel: String, dir: PathBuf, reason: String },

    /// Data handed to a library function does not fit (e.g. wrong feature count).
    #[error("invalid data: {reason}")]
    Data { reason: String },

    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Hyperparameters were not a JSON object.
    #[error("hyperparameters from {origin} are not a JSON object: {reason}")]
    HyperparameterSource { origin: String, reason: String },
}

impl Error {
    pub(crate) fn hp(name: &str, reason: impl Into<String>) -> Self {
        Error::Hyperparameter { name: name.to_string(), reason: reason.into() }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    pub(crate) fn data(reason: impl Into<String>) -> Self {
        Error::Data { reason: reason.into() }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
