//! Inference endpoints (DESIGN §9): the serving data plane — request payloads of SageMaker,
//! MLflow and the KServe v2 protocol into rows, a lock-free routing table per endpoint,
//! per-variant statistics — and the control plane: endpoint configurations with weighted
//! production variants, blue/green deployments that shift traffic all at once, as a canary
//! or linearly, bake under rollback alarms, and survive a restart on the last committed
//! configuration; every status change and deployment step is an event on the bus.
//!
//! This crate must never touch the metadata database on the request path, never change
//! a live routing except by swapping it whole, never send traffic to a fleet that has not
//! loaded and passed its health check, and never execute anything a model carries.

mod catalog;
pub mod kserve;
pub mod live;
pub mod npy;
pub mod payload;
pub mod policy;
mod replicas;
mod service;
pub mod serving;
pub mod stats;

pub use catalog::{ContainerDefinition, CreateEndpointConfig, CreateModel};
pub use live::DataPlane;
pub use service::{Deploy, Endpoints, EndpointsConfig, VariantSpec};
pub use serving::Serving;

/// Every way an endpoint operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request body does not fit the endpoint (what was expected is in the reason).
    #[error("{reason}")]
    InvalidInput { reason: String },
    #[error("unsupported content type {content_type:?}: send text/csv, application/json or application/x-npy")]
    UnsupportedMediaType { content_type: String },
    #[error("endpoint {name:?} does not exist or is not in service")]
    EndpointNotFound { name: String },
    #[error("endpoint {endpoint:?} has no variant {variant:?} (it has: {available})")]
    VariantNotFound { endpoint: String, variant: String, available: String },
    /// The model failed on input it accepted.
    #[error("variant {variant}: {message}")]
    Model { variant: String, message: String },
    /// A control-plane request is malformed (the field and the rule it breaks).
    #[error("{field}: {reason}")]
    InvalidRequest { field: String, reason: String },
    #[error("endpoint {name:?} is {status}; {action} is not possible now")]
    WrongState { name: String, status: String, action: &'static str },
    /// A model could not be fetched or loaded.
    #[error("cannot load {model}: {reason}")]
    Load { model: String, reason: String },
    #[error(transparent)]
    Store(#[from] trainyard_store::Error),
    #[error(transparent)]
    Registry(#[from] trainyard_models::Error),
}
