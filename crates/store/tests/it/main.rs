//! The store's conformance suite: every test runs on SQLite and on PostgreSQL
//! (`backends::conformance!`).

mod archives;
mod audit;
mod backends;
mod definitions;
mod events;
mod functions;
mod job_pages;
mod model_registry;
mod retraining;
mod rules;
