//! The KServe Open Inference Protocol v2 (REST): tensor JSON in, tensor JSON out, and
//! the model metadata document — what `tritonclient[http]` and KServe tooling speak.

use serde::Deserialize;
use serde_json::{json, Value};
use trainyard_runtime::{Label, Model, Predictions, Task};

use crate::payload::Rows;
use crate::Error;

#[derive(Debug, Deserialize)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    pub inputs: Vec<InferInput>,
    #[serde(default)]
    pub outputs: Option<Vec<Value>>,
    #[serde(default)]
    pub parameters: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct InferInput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    pub data: Value,
    #[serde(default)]
    pub parameters: Option<Value>,
}

const NUMERIC: [&str; 12] =
    ["FP32", "FP64", "FP16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "BOOL"];

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidInput { reason: reason.into() }
}

/// What a numeric datatype holds: its least and greatest value, and whether only whole
/// numbers.
fn value_range(datatype: &str) -> (f64, f64, bool) {
    match datatype {
        "BOOL" => (0.0, 1.0, true),
        "INT8" => (i8::MIN.into(), i8::MAX.into(), true),
        "INT16" => (i16::MIN.into(), i16::MAX.into(), true),
        "INT32" => (i32::MIN.into(), i32::MAX.into(), true),
        "INT64" => (i64::MIN as f64, i64::MAX as f64, true),
        "UINT8" => (0.0, u8::MAX.into(), true),
        "UINT16" => (0.0, u16::MAX.into(), true),
        "UINT32" => (0.0, u32::MAX.into(), true),
        "UINT64" => (0.0, u64::MAX as f64, true),
        "FP16" => (-65504.0, 65504.0, false),
        "FP32" => (f32::MIN.into(), f32::MAX.into(), false),
        _ => (f64::MIN, f64::MAX, false),
    }
}

/// Appends `value`'s numbers to `into`; each must be a value of `datatype`.
fn flatten(value: &Value, into: &mut Vec<f32>, input: &str, datatype: &str) -> Result<(), Error> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| flatten(v, into, input, datatype)),
        Value::Number(n) => {
            let (least, greatest, whole) = value_range(datatype);
            let x = n.as_f64().unwrap_or(f64::NAN);
            if (whole && !(n.is_i64() || n.is_u64())) || !(least..=greatest).contains(&x) {
                return Err(invalid(format!("input {input}: {n} is not a {datatype} value")));
            }
            into.push(x as f32);
            Ok(())
        }
        Value::Bool(b) if datatype == "BOOL" => {
            into.push(f32::from(u8::from(*b)));
            Ok(())
        }
        other => Err(invalid(format!("input {input}: {other} is not a {datatype} value"))),
    }
}

/// The request's tensors as rows: shape `[rows, ...]` (or `[width]` for one row); several
/// inputs are joined column-wise in order.
pub fn parse(body: &[u8]) -> Result<(InferRequest, Rows), Error> {
    let request: InferRequest = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("malformed inference request (expected {{\"inputs\": [{{\"name\", \"shape\", \"datatype\", \"data\"}}]}}): {e}")))?;
    if request.inputs.is_empty() {
        return Err(invalid("inputs is empty"));
    }
    let mut parts: Vec<(usize, usize, Vec<f32>)> = Vec::new();
    for input in &request.inputs {
        if !NUMERIC.contains(&input.datatype.as_str()) {
            return Err(invalid(format!(
                "input {}: datatype {} is not numeric ({})",
                input.name,
                input.datatype,
                NUMERIC.join(", ")
            )));
        }
        if input.shape.is_empty() || input.shape.iter().any(|&d| d < 0) {
            return Err(invalid(format!(
                "input {}: shape {:?} must be non-empty and non-negative",
                input.name, input.shape
            )));
        }
        let mut data = Vec::new();
        flatten(&input.data, &mut data, &input.name, &input.datatype)?;
        let elements = input
            .shape
            .iter()
            .try_fold(1i64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| invalid(format!("input {}: shape {:?} is too large", input.name, input.shape)))?;
        if elements as usize != data.len() {
            return Err(invalid(format!(
                "input {}: shape {:?} holds {elements} values, data has {}",
                input.name,
                input.shape,
                data.len()
            )));
        }
        // The whole product fits (checked above), and so does any part of it unless some
        // dimension is 0, which makes the row width 0 as well.
        let (rows, width) = if input.shape.len() == 1 {
            (1, input.shape[0] as usize)
        } else if elements == 0 {
            (input.shape[0] as usize, 0)
        } else {
            (input.shape[0] as usize, input.shape[1..].iter().product::<i64>() as usize)
        };
        parts.push((rows, width, data));
    }
    let rows = parts[0].0;
    if parts.iter().any(|p| p.0 != rows) {
        return Err(invalid("every input must have the same number of rows (the first dimension)"));
    }
    let width = parts
        .iter()
        .try_fold(0usize, |acc, p| acc.checked_add(p.1))
        .ok_or_else(|| invalid("the inputs are too wide"))?;
    let mut values = Vec::with_capacity(rows * width);
    for row in 0..rows {
        for (_, w, data) in &parts {
            values.extend_from_slice(&data[row * w..(row + 1) * w]);
        }
    }
    Ok((request, Rows { values, rows, width, columns: None }))
}

fn label_tensor(labels: &[Label]) -> (&'static str, Value) {
    if labels.iter().all(|l| matches!(l, Label::Int(_))) {
        ("INT64", json!(labels.iter().map(|l| if let Label::Int(i) = l { *i } else { 0 }).collect::<Vec<_>>()))
    } else {
        ("BYTES", json!(labels.iter().map(ToString::to_string).collect::<Vec<_>>()))
    }
}

/// The inference response: `label` (+ `probabilities`) for classifiers, `predictions`
/// for regressors.
pub fn render(model_name: &str, version: &str, id: Option<&str>, predictions: &Predictions) -> Value {
    let outputs = match predictions {
        Predictions::Classification { labels, probabilities, classes } => {
            let (datatype, data) = label_tensor(labels);
            let mut outputs =
                vec![json!({"name": "label", "datatype": datatype, "shape": [labels.len()], "data": data})];
            if let Some(p) = probabilities {
                outputs.push(
                    json!({"name": "probabilities", "datatype": "FP32", "shape": [labels.len(), classes], "data": p}),
                );
            }
            outputs
        }
        Predictions::Regression { values, targets } => {
            let rows = values.len() / (*targets).max(1);
            vec![json!({"name": "predictions", "datatype": "FP32", "shape": [rows, targets], "data": values})]
        }
    };
    let mut body = json!({"model_name": model_name, "model_version": version, "outputs": outputs});
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    body
}

/// `GET /v2/models/{name}`: the model's signature.
/// The one model version an endpoint serves over the Open Inference Protocol.
pub const VERSION: &str = "1";

pub fn metadata(model_name: &str, version: &str, model: &Model) -> Value {
    let outputs = match model.task() {
        Task::Classification { classes, probabilities, .. } => {
            let (datatype, _) = label_tensor(classes);
            let mut outputs = vec![json!({"name": "label", "datatype": datatype, "shape": [-1]})];
            if probabilities.is_some() {
                outputs.push(json!({"name": "probabilities", "datatype": "FP32", "shape": [-1, classes.len()]}));
            }
            outputs
        }
        Task::Regression { targets, .. } => {
            vec![json!({"name": "predictions", "datatype": "FP32", "shape": [-1, targets]})]
        }
    };
    json!({
        "name": model_name,
        "versions": [version],
        "platform": "onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, model.n_features()]}],
        "outputs": outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_become_rows() {
        let body = br#"{"id": "7", "inputs": [{"name": "input", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}]}"#;
        let (request, rows) = parse(body).unwrap();
        assert_eq!((rows.rows, rows.width, request.id.as_deref()), (2, 3, Some("7")));
        let nested = br#"{"inputs": [{"name": "a", "shape": [2, 1], "datatype": "INT64", "data": [[1], [4]]},
                                     {"name": "b", "shape": [2, 2], "datatype": "FP64", "data": [[2, 3], [5, 6]]}]}"#;
        assert_eq!(parse(nested).unwrap().1.values, rows.values, "inputs join column-wise");
        let one = br#"{"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2, 3]}]}"#;
        assert_eq!((parse(one).unwrap().1.rows, parse(one).unwrap().1.width), (1, 3));
    }

    #[test]
    fn bad_tensors_are_explained() {
        let err = |body: &str| parse(body.as_bytes()).unwrap_err().to_string();
        assert!(err(r#"{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}]}"#)
            .contains("holds 4 values, data has 3"));
        assert!(err(r#"{"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}"#)
            .contains("not numeric"));
        assert!(err(r#"{"inputs": []}"#).contains("empty"));
        assert!(err(r#"{"input": 1}"#).contains("malformed inference request"));
        assert!(err(r#"{"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": []}]}"#)
            .contains("non-negative"));
    }

    #[test]
    fn values_must_fit_their_datatype() {
        let body = |datatype: &str, data: &str| {
            format!(r#"{{"inputs": [{{"name": "x", "shape": [1], "datatype": "{datatype}", "data": [{data}]}}]}}"#)
        };
        for (datatype, data) in [
            ("INT8", "128"),
            ("INT8", "-129"),
            ("INT8", "1.5"),
            ("UINT8", "-1"),
            ("UINT16", "65536"),
            ("INT32", "2147483648"),
            ("BOOL", "2"),
            ("FP16", "70000"),
            ("FP32", "1e39"),
            ("FP32", "true"),
        ] {
            let err = parse(body(datatype, data).as_bytes()).unwrap_err().to_string();
            assert!(err.contains(&format!("is not a {datatype} value")), "{datatype} {data}: {err}");
        }
        for (datatype, data, value) in [
            ("INT8", "-128", -128.0),
            ("INT8", "127", 127.0),
            ("UINT8", "255", 255.0),
            ("BOOL", "true", 1.0),
            ("FP16", "-65504", -65504.0),
            ("FP64", "1e300", f32::INFINITY),
        ] {
            let (_, rows) = parse(body(datatype, data).as_bytes()).unwrap();
            assert_eq!(rows.values, [value], "{datatype} {data}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_body_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            if let Ok((_, rows)) = parse(&body) {
                proptest::prop_assert_eq!(rows.values.len(), rows.rows * rows.width);
            }
        }
    }
}
