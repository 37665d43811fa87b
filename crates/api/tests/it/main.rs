//! API integration tests: a real server on 127.0.0.1:0 over a real SQLite database,
//! real HTTP targets and real function processes.

mod archives;
mod auth;
mod delivery;
mod endpoints;
mod harness;
mod iam;
mod models;
mod objects;
mod processing;
mod put_events;
mod registry;
mod rules;
mod training;
