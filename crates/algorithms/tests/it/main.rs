//! Integration tests of the built-in algorithms through the training contract.
//!
//! `contract` and `errors` need nothing but Rust (synthetic data). `sklearn` needs a Python
//! with scikit-learn and onnxruntime named by `TRAINYARD_PYTHON`; without it those tests
//! print that they are skipped and pass. CI always sets `TRAINYARD_PYTHON`.

mod common;
mod contract;
mod errors;
mod sklearn;
