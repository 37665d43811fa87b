/// Every way the event domain can refuse an input.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// An event pattern EventBridge would reject; `path` is the JSON path at fault.
    #[error("invalid event pattern at {path}: {message}")]
    InvalidPattern { path: String, message: String },
    /// An event (or PutEvents entry) that is not acceptable.
    #[error("invalid event: {message}")]
    InvalidEvent { message: String },
    /// A `rate(...)` or `cron(...)` expression that cannot be parsed.
    #[error("invalid schedule expression {expression:?}: {message}")]
    InvalidSchedule { expression: String, message: String },
    /// An `InputPath` / `InputTransformer` that is malformed.
    #[error("invalid input transformer: {message}")]
    InvalidTransformer { message: String },
    /// A retry policy outside EventBridge's limits.
    #[error("invalid retry policy: {message}")]
    InvalidRetryPolicy { message: String },
    /// A source name reserved for the platform (`aws.`).
    #[error("source {source_name:?} is reserved for the platform")]
    ReservedSource { source_name: String },
}

impl Error {
    pub(crate) fn pattern(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidPattern { path: path.into(), message: message.into() }
    }
}
