//! Any bytes as an inference request body (CSV, SageMaker/MLflow JSON, KServe v2 tensors):
//! parsing never panics, and what parses has as many values as rows × width.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trainyard_endpoints::{kserve, payload};

fuzz_target!(|data: &[u8]| {
    for content_type in ["text/csv", "application/json"] {
        if let Ok(rows) = payload::parse(Some(content_type), data) {
            assert_eq!(rows.values.len(), rows.rows * rows.width);
        }
    }
    if let Ok((_, rows)) = kserve::parse(data) {
        assert_eq!(rows.values.len(), rows.rows * rows.width);
    }
});
