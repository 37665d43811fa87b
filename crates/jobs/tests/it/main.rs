//! Training jobs with real processes, a real SQLite store, real object storage and
//! the real event bus.

mod harness;
mod lifecycle;
mod processing;
mod script_mode;
