//! Pipelines: a `trainyard.yaml` (`spec.rs`, validated with every problem and its line)
//! applied as ordinary resources — builtin functions and the rules that route the
//! platform's events to them (`plan.rs`) — and the builtin functions themselves
//! (`builtins.rs`: `trigger_model_training`, `evaluate_model_function`,
//! `register_model_in_registry`, `deploy_sagemaker_model`, `retrain_model_on_new_data`),
//! which carry a PipelineRun from a pushed image or new data to a live endpoint, and the
//! reconciler (`reconcile.rs`) that carries on runs whose event was lost.
//!
//! This crate must never start a second job, register a second version or deploy twice
//! for one trigger, and never carry a run past a failed step.

mod builtins;
pub mod plan;
mod reconcile;
pub mod roles;
mod service;
pub mod spec;

pub use service::{Pipelines, Services};

/// Every way a pipeline operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid trainyard.yaml:\n  - {}", problems.join("\n  - "))]
    InvalidSpec { problems: Vec<String> },
    #[error("run {run} exists already")]
    Duplicate { run: String },
    #[error("pipeline {pipeline} has no built image to train yet")]
    NoImage { pipeline: String },
    #[error("unusable event: {reason}")]
    Event { reason: String },
    #[error("{message}")]
    Internal { message: String },
    #[error(transparent)]
    Store(#[from] trainyard_store::Error),
    #[error(transparent)]
    Bus(#[from] trainyard_bus::Error),
    #[error(transparent)]
    Sources(#[from] trainyard_source::Error),
    #[error(transparent)]
    Jobs(#[from] trainyard_jobs::Error),
    #[error(transparent)]
    Models(#[from] trainyard_models::Error),
    #[error(transparent)]
    Endpoints(#[from] trainyard_endpoints::Error),
    /// A builtin's role does not allow what the step would do, or a role is unusable.
    #[error(transparent)]
    Identity(#[from] trainyard_identity::Error),
}

impl Error {
    /// The stable code a builtin function's failure carries.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidSpec { .. } => "InvalidPipeline",
            Error::Duplicate { .. } => "Duplicate",
            Error::NoImage { .. } => "NoImage",
            Error::Event { .. } => "InvalidEvent",
            Error::Identity(trainyard_identity::Error::AccessDenied(_)) => "AccessDenied",
            _ => "PipelineStepFailed",
        }
    }

    /// Whether retrying the step can help.
    pub fn retriable(&self) -> bool {
        !matches!(
            self,
            Error::InvalidSpec { .. }
                | Error::Event { .. }
                | Error::Duplicate { .. }
                | Error::Identity(trainyard_identity::Error::AccessDenied(_))
        )
    }
}
