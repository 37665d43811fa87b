//! Endpoints over a real store, bus, object storage and registry, with models trained by
//! the built-in algorithms: creation, deployments under load, rollback, restarts.

mod catalog;
mod deployments;
mod harness;
