//! The `trainyard` command line: `trainyard <noun> <verb>` over the REST API, the
//! `server` and `quickstart` commands, and offline tools (`events test-pattern`,
//! `runtime inspect|predict|bench`).
//!
//! The CLI only talks to the API (or runs the server); it must never open the
//! database or the data directory's files other than `admin.token` and `server.url`.
//! Exit codes: 0 ok, 1 failure, 2 usage or validation error.

mod args;
mod bench;
mod build;
mod client;
mod commands;
mod credentials;
mod data;
mod embedded;
mod endpoints;
mod iam;
mod images;
mod jobs;
mod man;
mod models;
mod output;
mod pipelines;
mod processing;
mod quickstart;
mod runtime;
mod sources;
mod time;

use clap::Parser;

pub use client::Error;

/// Runs the CLI with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAINYARD_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "info,sqlx=warn,tower_http=warn,tract_onnx=error,tract_hir=error,tract_core=error",
        )
    });
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}
