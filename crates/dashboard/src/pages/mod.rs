//! One module per section of the dashboard: its handlers, typed views of what the services
//! answer, and the templates they fill.

pub mod dlq;
pub mod endpoints;
pub mod events;
pub mod jobs;
pub mod models;
pub mod overview;
pub mod pipelines;
pub mod rules;
pub mod supply;
