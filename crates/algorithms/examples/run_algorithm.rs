//! Runs a built-in algorithm under the SageMaker contract read from the environment, as
//! `trainyard algorithm <name>` does: `run_algorithm gbdt` or `run_algorithm linear-learner`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(algorithm) = std::env::args().nth(1) else {
        eprintln!("usage: run_algorithm <{}>", trainyard_algorithms::ALGORITHMS.join("|"));
        return ExitCode::from(2);
    };
    match trainyard_algorithms::run_from_environment(&algorithm) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{algorithm} failed: {e}");
            ExitCode::FAILURE
        }
    }
}
