//! The trainyard server: typed configuration (defaults → `trainyard.toml` →
//! `TRAINYARD_*` environment → flags), the data directory, start-up of every
//! subsystem on one listener, and graceful shutdown.
//!
//! This crate wires subsystems together; it must never contain their logic, and never
//! bind anything but the configured address (127.0.0.1 by default).

mod config;
mod replica;
mod run;
mod serve;

pub use config::{Config, Flags, DEFAULT_LISTEN};
pub use run::{run, Shutdown};
pub use serve::{serve, HttpLimits};

/// Every way the server can fail to start or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration problems, all of them at once.
    #[error("invalid configuration:\n  - {}", errors.join("\n  - "))]
    Config { errors: Vec<String> },
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Auth(#[from] trainyard_auth::Error),
    #[error(transparent)]
    Store(#[from] trainyard_store::Error),
    #[error(transparent)]
    Bus(#[from] trainyard_bus::Error),
    #[error(transparent)]
    Objects(#[from] trainyard_objects::Error),
    #[error(transparent)]
    Jobs(#[from] trainyard_jobs::Error),
    #[error(transparent)]
    Endpoints(#[from] trainyard_endpoints::Error),
    #[error(transparent)]
    Registry(#[from] trainyard_registry::Error),
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("start-up: {0}")]
    Startup(String),
}

impl Error {
    /// Whether start-up failed because a service the configuration names (the database or
    /// the object store) did not answer; the CLI exits 2 for it, as for any other bad setting.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::Store(trainyard_store::Error::Unreachable { .. })
                | Error::Objects(trainyard_objects::Error::Unreachable { .. })
        )
    }
}
