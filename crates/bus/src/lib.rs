//! The running event bus: `PutEvents` fan-out into durable deliveries, the workers
//! that deliver them to functions and HTTP endpoints with retries, backoff and a
//! dead-letter queue, schedules, archives and replays.
//!
//! The bus owns the routing cache (one compiled matcher per event bus) and the
//! delivery loop. It must never acknowledge an event before it and its deliveries are
//! committed, and never hold the routing lock across I/O.

mod commit;
mod config;
mod deliver;
mod error;
mod invocations;
mod lambda;
mod replay;
mod routing;
mod schedule;
mod service;

pub use config::BusConfig;
pub use deliver::{alive_replicas, alive_since, DEPARTED_AFTER, HEARTBEAT};
pub use error::Error;
pub use lambda::FunctionUpdate;
pub use service::{
    ArchiveRequest, Builtins, EventBus, FunctionRequest, PutResult, ReplayRequest, RuleRequest, RunSession, Sessions,
    TargetRequest,
};
