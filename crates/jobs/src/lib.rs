//! Training jobs: SageMaker's `CreateTrainingJob` contract on a local executor. A job
//! materialises its channels from object storage into its own directory, runs a
//! built-in algorithm or a script-mode program as a child process with the training
//! toolkit's environment, captures logs and metrics, packs `model/` and
//! `output/data/` back to object storage, and announces every state change on the bus.
//! Processing jobs ([`processing`]: SageMaker's `CreateProcessingJob`, used for evaluation
//! runs) share the executor, the slots, stops and restart recovery.
//!
//! This crate must never write outside a job's directory (and the shared virtual
//! environment cache), never unpickle or otherwise interpret a model, and never leave
//! a job `InProgress` without a live runner behind it.

mod adoption;
mod archive;
mod contract;
mod describe;
mod executor;
pub mod frameworks;
mod image;
pub mod instances;
mod metrics;
pub mod processing;
pub mod request;
mod runner;
mod service;
mod status;

pub use frameworks::Framework;
pub use request::CreateTrainingJob;
pub use service::{Jobs, JobsConfig, LogChunk};
pub use status::Secondary;

/// Every way a jobs operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", problems.join("; "))]
    InvalidRequest { problems: Vec<String> },
    #[error("{message}")]
    Unsupported { message: String },
    #[error("job {name:?} is {status}; {action} is not possible")]
    WrongState { name: String, status: String, action: &'static str },
    #[error("illegal job transition {from} -> {to}")]
    InvalidTransition { from: &'static str, to: &'static str },
    #[error("job directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] trainyard_store::Error),
    #[error(transparent)]
    Objects(#[from] trainyard_objects::Error),
}
