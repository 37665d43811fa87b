//! Model evaluation and the registration gate (DESIGN §7): runs a model artifact through the
//! serving runtime over a test channel and writes a SageMaker model-quality report
//! ([`evaluate`], [`metrics`]), and decides whether a candidate may be registered from
//! conditions on that report, absolute or relative to the champion ([`gate`]); it
//! runs evaluations on the server as processing jobs of the built-in evaluator
//! ([`evaluator`], [`evaluation`]: the champion on the same data in the same run); and keeps
//! the model registry ([`Registry`]: groups, immutable numbered versions with metrics,
//! gate decision and lineage, approval, aliases, `SageMaker Model Package State Change`
//! events).
//!
//! This crate must never evaluate with anything but `trainyard-runtime` (no train/serve
//! skew), never edit a registered version beyond its approval status, and never write
//! outside the paths it is handed. Metrics are pure functions of labels and predictions, deterministic (the
//! bootstrap uses a fixed seed).

mod bootstrap;
mod error;
pub mod evaluate;
pub mod evaluation;
pub mod evaluator;
pub mod gate;
pub mod metrics;
pub mod registry;

pub use error::Error;
pub use evaluate::{evaluate, EvaluationInput};
pub use gate::{Condition, ConditionResult, Decision};
pub use metrics::{Metric, Report};
pub use registry::{Registry, GATE_FAILURE};
