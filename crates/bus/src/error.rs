/// Every way a bus operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] trainyard_store::Error),
    #[error(transparent)]
    Events(#[from] trainyard_events::Error),
    #[error(transparent)]
    Function(#[from] trainyard_functions::Error),
    /// A request argument that is wrong in itself (bad name, missing field, ...).
    #[error("{message}")]
    InvalidArgument { message: String },
    /// Too many entries or targets.
    #[error("{message}")]
    LimitExceeded { message: String },
}

impl Error {
    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidArgument { message: message.into() }
    }
}
