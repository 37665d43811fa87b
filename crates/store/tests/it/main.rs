//! The store's conformance suite: every test runs on SQLite and on PostgreSQL
//! (`backends::conformance!`).

mod backends;
mod definitions;
mod events;
mod job_pages;
mod model_registry;
mod retraining;
