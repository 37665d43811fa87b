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

    /// A file of the evaluation could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// The evaluation's processing job could not be started or read.
    #[error(transparent)]
    Jobs(#[from] trainyard_jobs::Error),

    /// A report could not be read from object storage.
    #[error(transparent)]
    Objects(#[from] trainyard_objects::Error),

    /// The evaluation job cannot back a registration (not finished, not the built-in
    /// evaluator, report missing).
    #[error("evaluation {job}: {reason}")]
    Evaluation { job: String, reason: String },

    /// The evaluation's gate compared with a champion that is no longer the group's:
    /// evaluate again.
    #[error("evaluation {job} met champion {met}, but the champion is now {current}; evaluate again")]
    ChampionChanged { job: String, met: String, current: String },

    /// The gate failed and the group discards failed candidates: nothing was registered.
    #[error("not registered: the gate failed ({reasons}) and group {group} discards failed candidates")]
    GateFailed { group: String, reasons: String },
}
