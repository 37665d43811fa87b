//! Sources: followed branches of git repositories. A branch is polled (`git fetch` into a
//! bare mirror per source) or pushed to us by a GitHub webhook (verified by its
//! `X-Hub-Signature-256`); every move of the branch becomes one `Git Push` event on the
//! bus, and each commit is announced in exactly one of them, across restarts too.
//!
//! This crate must never run git with an argument a user could turn into an option or a
//! transport helper, never act on an unsigned or badly signed webhook, and never announce a
//! push before it is recorded.

pub mod git;
mod service;
pub mod signature;

pub use service::{AddSource, Sources, SourcesConfig, Webhook};

/// Every way a sources operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {reason}")]
    InvalidRequest { field: String, reason: String },
    #[error("git {command}: {message}")]
    Git { command: String, message: String },
    /// A webhook delivery no source's secret signs.
    #[error("the webhook's X-Hub-Signature-256 does not match any source's secret")]
    BadSignature,
    #[error(transparent)]
    Store(#[from] trainyard_store::Error),
}
