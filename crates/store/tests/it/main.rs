//! The store's conformance suite: every test runs on SQLite and on PostgreSQL
//! (`backends::conformance!`).

mod backends;
mod builds;
mod definitions;
mod endpoints;
mod events;
mod job_pages;
mod model_registry;
mod multipart;
mod objects;
mod registry;
mod retraining;
mod sources;
