//! The crate's single error type.

/// Why an evaluation or a gate could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model could not be loaded or run.
    #[error(transparent)]
    Runtime(#[from] trainyard_runtime::Error),

    /// The test channel could not be read.
    #[error(transparent)]
    Data(#[from] trainyard_algorithms::Error),

    /// The test data does not fit the model (width, labels unknown to the classifier).
    #[error("the test data does not fit the model: {reason}")]
    Mismatch { reason: String },

    /// A gate condition is malformed.
    #[error("gate condition `{condition}`: {reason}")]
    Condition { condition: String, reason: String },

    /// A registry request is malformed (the field and the rule it breaks).
    #[error("{field}: {reason}")]
    InvalidRequest { field: String, reason: String },

    /// A registry record could not be read or written (missing, duplicate, in use, ...).
    #[error(transparent)]
    Store(#[from] trainyard_store::Error),

    /// A gate condition names a metric the report does not have.
    #[error("gate condition `{condition}`: the {side} report has no metric `{metric}` (it has: {available})")]
    UnknownMetric { condition: String, side: &'static str, metric: String, available: String },
}
