//! Reading the ONNX protobuf: model facts for `inspect` ([`Description`]), graph inputs, and
//! the one graph rewrite the runtime makes — removing a trailing `ZipMap`, whose list of
//! maps carries exactly the probabilities tensor it reads.

use std::collections::BTreeMap;

use prost::Message;
use serde::Serialize;
use tract_onnx::pb::{self, tensor_proto::DataType, type_proto, ModelProto};

use crate::engine::{ElementKind, GraphInput};
use crate::error::{Error, Result};

/// A tensor of the graph's signature.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TensorDescription {
    pub name: String,
    pub element_type: String,
    /// Dimensions; `None` for a symbolic one (the batch).
    pub shape: Vec<Option<i64>>,
}

/// What `trainyard runtime inspect` shows.
#[derive(Clone, Debug, Serialize)]
pub struct Description {
    pub producer: String,
    pub producer_version: String,
    pub ir_version: i64,
    /// Operator-set versions by domain (`""` is the default ONNX domain).
    pub opsets: BTreeMap<String, i64>,
    pub inputs: Vec<TensorDescription>,
    pub outputs: Vec<TensorDescription>,
    /// `domain:op_type` → number of nodes.
    pub operators: BTreeMap<String, usize>,
}

pub fn decode(bytes: &[u8], path: &std::path::Path) -> Result<ModelProto> {
    let model = ModelProto::decode(bytes)
        .map_err(|e| Error::InvalidModel { path: path.into(), reason: format!("not an ONNX protobuf ({e})") })?;
    if model.graph.is_none() {
        return Err(Error::InvalidModel { path: path.into(), reason: "the model has no graph".into() });
    }
    Ok(model)
}

fn element_name(data_type: i32) -> String {
    DataType::try_from(data_type)
        .map(|d| d.as_str_name().to_ascii_lowercase())
        .unwrap_or_else(|_| format!("type {data_type}"))
}

fn tensor_description(value: &pb::ValueInfoProto) -> TensorDescription {
    let (element_type, shape) = match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => {
            let shape = t
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => Some(v),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            (element_name(t.elem_type), shape)
        }
        _ => ("non-tensor".to_string(), Vec::new()),
    };
    TensorDescription { name: value.name.clone(), element_type, shape }
}

pub fn describe(model: &ModelProto) -> Description {
    let graph = model.graph.as_ref().expect("decode checks the graph");
    let initializers: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut operators = BTreeMap::new();
    for node in &graph.node {
        let domain = if node.domain.is_empty() { "ai.onnx" } else { &node.domain };
        *operators.entry(format!("{domain}:{}", node.op_type)).or_insert(0) += 1;
    }
    Description {
        producer: model.producer_name.clone(),
        producer_version: model.producer_version.clone(),
        ir_version: model.ir_version,
        opsets: model.opset_import.iter().map(|o| (o.domain.clone(), o.version)).collect(),
        inputs: graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .map(tensor_description)
            .collect(),
        outputs: graph.output.iter().map(tensor_description).collect(),
        operators,
    }
}

/// The graph inputs the caller feeds: every input that is not an initializer, each with a
/// batch first dimension and fixed trailing dimensions.
pub fn graph_inputs(model: &ModelProto) -> Result<Vec<GraphInput>> {
    let description = describe(model);
    description
        .inputs
        .iter()
        .map(|input| {
            let kind = match input.element_type.as_str() {
                "float" => ElementKind::F32,
                "double" => ElementKind::F64,
                "int64" => ElementKind::I64,
                "int32" => ElementKind::I32,
                "string" => ElementKind::Str,
                other => {
                    return Err(Error::Prepare {
                        reason: format!(
                            "input `{}` has element type {other}, which rows of numbers cannot feed",
                            input.name
                        ),
                    })
                }
            };
            let dims =
                input.shape.iter().skip(1).map(|d| d.map(|d| d as usize)).collect::<Option<Vec<usize>>>().ok_or_else(
                    || Error::Prepare {
                        reason: format!("input `{}` has a symbolic dimension after the batch dimension", input.name),
                    },
                )?;
            Ok(GraphInput { name: input.name.clone(), kind, dims })
        })
        .collect()
}

/// Class labels a `ZipMap` named, in its order.
#[derive(Clone, Debug, PartialEq)]
pub enum ZipMapLabels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

/// Removes `ZipMap` nodes that produce a graph output: the output becomes the probabilities
/// tensor the `ZipMap` read. Returns the labels the `ZipMap` named.
pub fn strip_zipmap(model: &mut ModelProto) -> Option<ZipMapLabels> {
    let graph = model.graph.as_mut()?;
    let mut labels = None;
    let mut keep = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        let is_output = node.output.first().and_then(|o| graph.output.iter().position(|g| &g.name == o));
        match (node.op_type.as_str(), is_output, node.input.first()) {
            ("ZipMap", Some(position), Some(input)) => {
                for attribute in &node.attribute {
                    match attribute.name.as_str() {
                        "classlabels_int64s" => labels = Some(ZipMapLabels::Ints(attribute.ints.clone())),
                        "classlabels_strings" => {
                            labels = Some(ZipMapLabels::Strings(
                                attribute.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect(),
                            ))
                        }
                        _ => {}
                    }
                }
                graph.output[position] = pb::ValueInfoProto { name: input.clone(), ..Default::default() };
            }
            _ => keep.push(node),
        }
    }
    graph.node = keep;
    labels
}
