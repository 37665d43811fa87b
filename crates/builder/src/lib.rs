//! The build service, the CodeBuild of trainyard: every announced push of a followed
//! branch is built once. The commit's tree is exported, the `build` section of its
//! `trainyard.yaml` read, the image built without a container engine (`trainyard-build`)
//! and pushed into the registry tagged with the commit id and the branch.
//! `CodeBuild Build State Change` events mark the start and the end; each build keeps its
//! log.
//!
//! This crate must never build a push twice, never read outside the exported tree, and
//! never leave a build `IN_PROGRESS` once its loop has moved on.

mod service;
mod spec;

pub use service::{Builds, BuildsConfig};
pub use spec::{parse, BuildSpec, Command, Scalar};

/// Every way a build request can fail (a failing build is a `FAILED` build, not an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("build log {path}: {source}")]
    Log {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] trainyard_store::Error),
}
