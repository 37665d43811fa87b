//! Integration tests of the runtime: the correctness matrix against onnxruntime (needs
//! `TRAINYARD_PYTHON`, a Python with scikit-learn, skl2onnx, onnxmltools, xgboost, lightgbm
//! and onnxruntime; without it those tests print that they are skipped and pass — CI always
//! sets it), archives, and errors on bad models and inputs.

mod errors;
mod matrix;
mod support;
