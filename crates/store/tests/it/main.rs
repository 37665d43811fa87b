//! The store's conformance suite: every test runs on SQLite and on PostgreSQL
//! (`backends::conformance!`).

mod archives;
mod audit;
mod backends;
mod builds;
mod definitions;
mod endpoints;
mod events;
mod functions;
mod iam;
mod job_pages;
mod jobs;
mod model_registry;
mod models;
mod multipart;
mod objects;
mod pipelines;
mod processing;
mod registry;
mod replicas;
mod retraining;
mod rules;
mod sources;
