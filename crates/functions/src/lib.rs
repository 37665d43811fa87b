//! Functions: the Lambda of trainyard. A `command` function is any executable that
//! reads one event (JSON) on stdin and writes one JSON result on stdout, with its logs
//! on stderr; this crate runs it in its own process group under a timeout and turns
//! what happened into an [`Outcome`]. A Lambda function (`lambda`) is a handler in warm
//! execution environments that pull invocations from the Lambda Runtime API.
//!
//! A function sees only its own environment (plus `PATH`, `HOME`, `LANG` and `TZ`), never
//! the server's. It must never interpret the event or the result beyond JSON syntax, and
//! never leave a child process running after its timeout.

pub mod lambda;
mod runner;

pub use runner::{run, CommandSpec, Failure, Outcome};

/// Errors setting up a function (running one reports a [`Failure`] instead).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("function {name:?}: {message}")]
    InvalidFunction { name: String, message: String },
    /// A Lambda function's code archive is refused (the reason says why).
    #[error("the code is refused: {message}")]
    InvalidCode { message: String },
}

/// The most bytes of environment a function may set (Lambda's limit).
pub const MAX_ENVIRONMENT_BYTES: usize = 4 * 1024;

/// Checks a function definition before it is stored: anything that would make every
/// invocation fail is refused here.
pub fn validate(
    name: &str,
    command: &str,
    environment: &std::collections::BTreeMap<String, String>,
    timeout_seconds: u32,
) -> Result<(), Error> {
    let invalid = |message: String| Error::InvalidFunction { name: name.to_string(), message };
    if command.trim().is_empty() {
        return Err(invalid("the command is empty".into()));
    }
    if command.contains('\0') {
        return Err(invalid("the command contains a NUL character".into()));
    }
    let mut size = 0;
    for (key, value) in environment {
        let mut chars = key.chars();
        let key_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !key_ok {
            return Err(invalid(format!(
                "environment key {key:?} must start with a letter or _ and hold only letters, digits and _"
            )));
        }
        if value.contains('\0') {
            return Err(invalid(format!("environment variable {key} contains a NUL character")));
        }
        size += key.len() + value.len();
    }
    if size > MAX_ENVIRONMENT_BYTES {
        return Err(invalid(format!("the environment is {size} bytes; at most {MAX_ENVIRONMENT_BYTES} are allowed")));
    }
    if !(1..=900).contains(&timeout_seconds) {
        return Err(invalid(format!("timeout is {timeout_seconds}s; it must be 1-900 seconds")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn environments_that_cannot_be_passed_are_refused() {
        let env = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        for (key, value, expected) in [
            ("A\0B", "x", "environment key"),
            ("OK", "a\0b", "NUL"),
            ("", "x", "environment key"),
            ("1ABC", "x", "environment key"),
            ("A=B", "x", "environment key"),
            ("BIG", &"x".repeat(5000), "at most 4096"),
        ] {
            let err = validate("f", "cat", &env(key, value), 3).unwrap_err().to_string();
            assert!(err.contains(expected), "{key:?}: {err}");
        }
        assert!(validate("f", "cat\0", &BTreeMap::new(), 3).unwrap_err().to_string().contains("NUL"));
        assert!(validate("f", "cat", &env("_OK_1", "value with spaces = fine"), 3).is_ok());
    }
}
