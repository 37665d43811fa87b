//! Builds: a build context (a working tree or a commit's files) into a reproducible OCI
//! image without a container engine — the context as one layer under the working
//! directory (less what `.trainyardignore`/`.dockerignore` and `.git` leave out), an image
//! config with the entrypoint, command, environment and labels, and a manifest, written
//! into an OCI image layout that `skopeo` and the registry read; and layers unpacked onto a
//! root directory with every way out refused.
//!
//! This crate must never follow a symbolic link out of the context, never put a timestamp,
//! an owner name or anything else of the build machine into the image, and never leave a
//! half-written blob under its digest.

mod ignore;
mod image;
mod unpack;

pub use ignore::Ignore;
pub use image::{build, Built, ImageConfig, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
pub use unpack::unpack_layer;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{reason}")]
    Invalid { reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
