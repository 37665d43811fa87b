//! Reads an ONNX node's attributes with errors that name the node, its operator and the
//! attribute. Only this module knows the protobuf attribute layout.

use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};

use crate::error::Error;

/// A node's attributes, looked up by name.
pub struct Attributes<'a> {
    node: &'a NodeProto,
}

impl<'a> Attributes<'a> {
    pub fn new(node: &'a NodeProto) -> Self {
        Attributes { node }
    }

    pub fn node_name(&self) -> String {
        if !self.node.name.is_empty() {
            self.node.name.clone()
        } else {
            self.node.output.first().cloned().unwrap_or_default()
        }
    }

    /// An error about this node.
    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::InvalidNode { node: self.node_name(), op_type: self.node.op_type.clone(), reason: reason.into() }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, Error> {
        self.get(name)
            .map(|a| String::from_utf8(a.s.clone()).map_err(|_| self.error(format!("attribute `{name}` is not UTF-8"))))
            .transpose()
    }

    pub fn string_or(&self, name: &str, default: &str) -> Result<String, Error> {
        Ok(self.string(name)?.unwrap_or_else(|| default.to_string()))
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).map(|a| a.i)
    }

    pub fn float(&self, name: &str) -> Option<f32> {
        self.get(name).map(|a| a.f)
    }

    pub fn ints(&self, name: &str) -> Vec<i64> {
        self.get(name).map(|a| a.ints.clone()).unwrap_or_default()
    }

    pub fn floats(&self, name: &str) -> Vec<f32> {
        self.get(name).map(|a| a.floats.clone()).unwrap_or_default()
    }

    pub fn strings(&self, name: &str) -> Result<Vec<String>, Error> {
        let Some(attribute) = self.get(name) else { return Ok(Vec::new()) };
        attribute
            .strings
            .iter()
            .map(|s| String::from_utf8(s.clone()).map_err(|_| self.error(format!("attribute `{name}` is not UTF-8"))))
            .collect()
    }

    /// A numeric attribute given either as `name` (floats) or `name_as_tensor` (a tensor,
    /// usually doubles), as `f64`.
    pub fn floats_or_tensor(&self, name: &str) -> Result<Option<Vec<f64>>, Error> {
        if let Some(tensor) = self.get(&format!("{name}_as_tensor")).and_then(|a| a.t.as_ref()) {
            return tensor_values(tensor)
                .map(Some)
                .map_err(|e| self.error(format!("attribute `{name}_as_tensor`: {e}")));
        }
        Ok(self.get(name).map(|a| a.floats.iter().map(|&f| f as f64).collect()))
    }
}

impl Attributes<'_> {
    /// A float tensor attribute: its values and dimensions.
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), Error> {
        let tensor =
            self.get(name).and_then(|a| a.t.as_ref()).ok_or_else(|| self.error(format!("no tensor `{name}`")))?;
        let values = tensor_values(tensor).map_err(|e| self.error(format!("attribute `{name}`: {e}")))?;
        let dims = tensor
            .dims
            .iter()
            .map(|&d| usize::try_from(d).ok())
            .collect::<Option<Vec<usize>>>()
            .filter(|dims| dims.iter().product::<usize>() == values.len())
            .ok_or_else(|| self.error(format!("attribute `{name}`: dimensions do not match its values")))?;
        Ok((values.into_iter().map(|v| v as f32).collect(), dims))
    }
}

/// The values of a numeric tensor attribute as `f64`.
fn tensor_values(tensor: &TensorProto) -> Result<Vec<f64>, String> {
    const FLOAT: i32 = 1;
    const DOUBLE: i32 = 11;
    match tensor.data_type {
        FLOAT if !tensor.raw_data.is_empty() => {
            Ok(tensor.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect())
        }
        FLOAT => Ok(tensor.float_data.iter().map(|&f| f as f64).collect()),
        DOUBLE if !tensor.raw_data.is_empty() => Ok(tensor
            .raw_data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")))
            .collect()),
        DOUBLE => Ok(tensor.double_data.clone()),
        other => Err(format!("tensor element type {other} is not float or double")),
    }
}
