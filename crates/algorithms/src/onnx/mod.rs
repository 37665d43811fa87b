//! ONNX export with a hand-written protobuf encoder (no protobuf toolchain).

mod export;
mod protobuf;

pub use export::{output_names, to_onnx, INPUT_NAME};
