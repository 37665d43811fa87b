//! Functions: the Lambda of trainyard. A `command` function is any executable that
//! reads one event (JSON) on stdin and writes one JSON result on stdout, with its logs
//! on stderr; this crate runs it in its own process group under a timeout and turns
//! what happened into an [`Outcome`].
//!
//! It must never interpret the event or the result beyond JSON syntax, and never leave
//! a child process running after its timeout.

mod runner;

pub use runner::{run, CommandSpec, Failure, Outcome};

/// Errors setting up a function (running one reports a [`Failure`] instead).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("function {name:?}: {message}")]
    InvalidFunction { name: String, message: String },
}

/// Checks a function definition before it is stored.
pub fn validate(name: &str, command: &str, timeout_seconds: u32) -> Result<(), Error> {
    let invalid = |message: String| Error::InvalidFunction { name: name.to_string(), message };
    if command.trim().is_empty() {
        return Err(invalid("the command is empty".into()));
    }
    if !(1..=900).contains(&timeout_seconds) {
        return Err(invalid(format!("timeout is {timeout_seconds}s; it must be 1-900 seconds")));
    }
    Ok(())
}
