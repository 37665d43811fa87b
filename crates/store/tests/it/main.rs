//! The store's conformance suite: every test runs on SQLite and on PostgreSQL
//! (`backends::conformance!`).

mod archives;
mod audit;
mod backends;
mod definitions;
mod events;
mod functions;
mod iam;
mod job_pages;
mod jobs;
mod model_registry;
mod models;
mod pipelines;
mod processing;
mod retraining;
mod rules;
