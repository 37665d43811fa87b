//! ONNX Runtime as the graph engine, through the `ort` crate with `load-dynamic`: the shared
//! library is loaded at run time from `ORT_DYLIB_PATH` (the onnxruntime pip wheel ships one
//! at `onnxruntime/capi/libonnxruntime.so.<version>`), so the build needs nothing but cargo.
//!
//! `ort` sessions run with `&mut self`, so calls on one model are serialised by a mutex;
//! ONNX Runtime parallelises inside each call with its own thread pool.

use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::{DynValue, Tensor};

use super::{ElementKind, Engine, Feed, GraphInput};
use crate::error::{Error, Result};
use crate::ml::Array;

fn unavailable(reason: impl std::fmt::Display) -> Error {
    Error::BackendUnavailable { backend: "onnxruntime".into(), reason: reason.to_string() }
}

fn environment() -> Result<&'static Environment> {
    static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();
    ENVIRONMENT
        .get_or_init(|| {
            let path = std::env::var_os("ORT_DYLIB_PATH").ok_or_else(|| {
                "ORT_DYLIB_PATH is not set; point it at libonnxruntime.so (the onnxruntime pip wheel has one in onnxruntime/capi/)".to_string()
            })?;
            let builder = ort::init_from(&path).map_err(|e| format!("cannot load {}: {e}", path.to_string_lossy()))?;
            builder.build().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(unavailable)
}

pub struct OrtEngine {
    session: Mutex<Session>,
    names: Vec<String>,
    inputs: Vec<GraphInput>,
}

impl OrtEngine {
    pub fn compile(bytes: &[u8], inputs: &[GraphInput]) -> Result<OrtEngine> {
        let environment = environment()?;
        let prepare = |e: ort::Error| Error::Prepare { reason: format!("onnxruntime: {e}") };
        let session = Session::builder(environment).and_then(|mut b| b.commit_from_memory(bytes)).map_err(prepare)?;
        let names = session.inputs().iter().map(|i| i.name().to_string()).collect();
        Ok(OrtEngine { session: Mutex::new(session), names, inputs: inputs.to_vec() })
    }
}

fn to_value(feed: &Feed<'_>, kind: ElementKind) -> ort::Result<DynValue> {
    let shape: Vec<i64> = feed.shape.iter().map(|&d| d as i64).collect();
    let data = &feed.data;
    Ok(match kind {
        ElementKind::F64 => Tensor::from_array((shape, data.iter().map(|&x| x as f64).collect::<Vec<_>>()))?.into_dyn(),
        ElementKind::I64 => Tensor::from_array((shape, data.iter().map(|&x| x as i64).collect::<Vec<_>>()))?.into_dyn(),
        ElementKind::I32 => Tensor::from_array((shape, data.iter().map(|&x| x as i32).collect::<Vec<_>>()))?.into_dyn(),
        ElementKind::F32 | ElementKind::Str => Tensor::from_array((shape, data.to_vec()))?.into_dyn(),
    })
}

fn from_value(value: &DynValue) -> Result<Array> {
    let dims = |shape: &ort::value::Shape| shape.iter().map(|&d| d.max(0) as usize).collect::<Vec<_>>();
    if let Ok((shape, data)) = value.try_extract_tensor::<f32>() {
        return Ok(Array::f32(dims(shape), data.to_vec()));
    }
    if let Ok((shape, data)) = value.try_extract_tensor::<i64>() {
        return Ok(Array::i64(dims(shape), data.to_vec()));
    }
    if let Ok((shape, data)) = value.try_extract_tensor::<f64>() {
        return Ok(Array::f32(dims(shape), data.iter().map(|&x| x as f32).collect()));
    }
    if let Ok((shape, data)) = value.try_extract_tensor::<i32>() {
        return Ok(Array::i64(dims(shape), data.iter().map(|&x| x as i64).collect()));
    }
    if let Ok((shape, data)) = value.try_extract_strings() {
        return Ok(Array::strings(dims(shape), data));
    }
    Err(Error::inference(format!("onnxruntime returned an output of unsupported type {:?}", value.dtype())))
}

impl Engine for OrtEngine {
    fn run(&self, inputs: Vec<Feed<'_>>) -> Result<Vec<Array>> {
        let values = inputs
            .iter()
            .zip(&self.inputs)
            .zip(&self.names)
            .map(|((feed, spec), name)| to_value(feed, spec.kind).map(|v| (name.clone(), v)))
            .collect::<ort::Result<Vec<_>>>()
            .map_err(Error::inference)?;
        let mut session = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session.run(values).map_err(Error::inference)?;
        outputs.values().map(|v| from_value(&v)).collect()
    }
}
