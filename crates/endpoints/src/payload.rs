//! Request bodies into rows of features, predictions into response bodies: SageMaker's
//! `text/csv` and `application/json` (`instances`, `inputs`), and MLflow's scoring payloads
//! (`dataframe_split`, `dataframe_records`).

use serde_json::{json, Value};
use trainyard_runtime::{Label, Predictions};

use crate::serving::{self, Serving};
use crate::Error;

/// Rows of features, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub values: Vec<f32>,
    pub rows: usize,
    pub width: usize,
    /// Column names, when the payload named them (MLflow data frames).
    pub columns: Option<Vec<String>>,
}

/// What a response is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    /// NumPy's `.npy` (`application/x-npy`), the SageMaker SDK's default for scikit-learn.
    Npy,
}

impl Format {
    /// From an `Accept` header: CSV when asked for, JSON otherwise.
    pub fn from_accept(accept: Option<&str>) -> Format {
        Format::negotiate(accept, Serving::Native)
    }

    /// From an `Accept` header; without one (or with `*/*`), the serving's default.
    pub fn negotiate(accept: Option<&str>, serving: Serving) -> Format {
        let accept = accept.map(str::to_ascii_lowercase).unwrap_or_default();
        if accept.contains("application/x-npy") {
            Format::Npy
        } else if accept.contains("text/csv") && !accept.contains("application/json") {
            Format::Csv
        } else if accept.contains("application/json") {
            Format::Json
        } else {
            serving.default_format()
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv",
            Format::Npy => "application/x-npy",
        }
    }
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidInput { reason: reason.into() }
}

/// Parses a request body by its content type.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Rows, Error> {
    let media = content_type.unwrap_or("application/json").split(';').next().unwrap_or_default().trim();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("the body is empty: expected CSV rows of features or a JSON document"));
    }
    match media.to_ascii_lowercase().as_str() {
        "text/csv" | "text/plain" => parse_csv(body),
        "application/x-npy" => crate::npy::parse(body),
        "application/json" | "" => {
            let value: Value = serde_json::from_slice(body).map_err(|e| invalid(format!("malformed JSON: {e}")))?;
            parse_json(&value)
        }
        other => Err(Error::UnsupportedMediaType { content_type: other.to_string() }),
    }
}

/// CSV: one row per line, features only, no header. An empty cell is a missing value.
pub fn parse_csv(body: &[u8]) -> Result<Rows, Error> {
    let text = std::str::from_utf8(body).map_err(|_| invalid("the CSV body is not UTF-8"))?;
    let mut values = Vec::new();
    let mut width = None;
    let mut rows = 0;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let before = values.len();
        for (column, cell) in line.split(',').enumerate() {
            values.push(number_text(cell.trim(), index + 1, column + 1)?);
        }
        let count = values.len() - before;
        match width {
            None => width = Some(count),
            Some(w) if w != count => {
                return Err(invalid(format!("line {}: {count} values, but the first row has {w}", index + 1)))
            }
            Some(_) => {}
        }
        rows += 1;
    }
    Ok(Rows { values, rows, width: width.unwrap_or(0), columns: None })
}

fn number_text(cell: &str, row: usize, column: usize) -> Result<f32, Error> {
    if cell.is_empty() {
        return Ok(f32::NAN);
    }
    cell.parse::<f32>().map_err(|_| invalid(format!("row {row}, column {column}: {cell:?} is not a number")))
}

fn number(value: &Value, row: usize, column: usize) -> Result<f32, Error> {
    match value {
        Value::Number(n) => n.as_f64().map(|v| v as f32).ok_or_else(|| invalid("a number out of range")),
        Value::Null => Ok(f32::NAN),
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => number_text(s.trim(), row, column),
        other => Err(invalid(format!("row {row}, column {column}: {other} is not a number"))),
    }
}

/// A list of rows (`[[...], ...]`) or one row (`[...]`).
fn matrix(value: &Value, what: &str) -> Result<Rows, Error> {
    let Value::Array(items) = value else {
        return Err(invalid(format!("{what} must be an array of rows (arrays of numbers)")));
    };
    if items.is_empty() {
        return Err(invalid(format!("{what} is empty: expected at least one row")));
    }
    let rows: Vec<&Value> = if items.iter().all(Value::is_array) { items.iter().collect() } else { vec![value] };
    let mut values = Vec::new();
    let mut width = None;
    for (r, row) in rows.iter().enumerate() {
        let cells = row.as_array().map(Vec::as_slice).unwrap_or_default();
        if let Some(w) = width {
            if w != cells.len() {
                return Err(invalid(format!("{what}: row {} has {} values, but row 1 has {w}", r + 1, cells.len())));
            }
        }
        width = Some(cells.len());
        for (c, cell) in cells.iter().enumerate() {
            values.push(number(cell, r + 1, c + 1)?);
        }
    }
    Ok(Rows { values, rows: rows.len(), width: width.unwrap_or(0), columns: None })
}

/// `instances`, `inputs` (an array, or an object with one tensor), `dataframe_split`,
/// `dataframe_records`, or a bare array.
pub fn parse_json(value: &Value) -> Result<Rows, Error> {
    let expected = "expected {\"instances\": [[...]]}, {\"inputs\": [[...]]}, {\"dataframe_split\": {\"columns\", \"data\"}}, {\"dataframe_records\": [{...}]} or [[...]]";
    match value {
        Value::Array(_) => matrix(value, "the body"),
        Value::Object(object) => {
            if let Some(instances) = object.get("instances") {
                return matrix(instances, "instances");
            }
            if let Some(inputs) = object.get("inputs") {
                return match inputs {
                    Value::Object(tensors) if tensors.len() == 1 => {
                        matrix(tensors.values().next().unwrap_or(&Value::Null), "inputs")
                    }
                    Value::Object(_) => Err(invalid("inputs: give one tensor (an object with one key)")),
                    other => matrix(other, "inputs"),
                };
            }
            if let Some(split) = object.get("dataframe_split") {
                let data = split.get("data").ok_or_else(|| invalid("dataframe_split needs \"data\""))?;
                let mut rows = matrix(data, "dataframe_split.data")?;
                if let Some(columns) = split.get("columns").and_then(Value::as_array) {
                    let names: Vec<String> =
                        columns.iter().map(|c| c.as_str().map_or_else(|| c.to_string(), String::from)).collect();
                    if names.len() != rows.width {
                        return Err(invalid(format!(
                            "dataframe_split: {} columns but rows of {} values",
                            names.len(),
                            rows.width
                        )));
                    }
                    rows.columns = Some(names);
                }
                return Ok(rows);
            }
            if let Some(records) = object.get("dataframe_records") {
                return records_rows(records);
            }
            Err(invalid(format!("unknown JSON payload: {expected}")))
        }
        _ => Err(invalid(format!("unknown JSON payload: {expected}"))),
    }
}

fn records_rows(records: &Value) -> Result<Rows, Error> {
    let items = records
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("dataframe_records must be a non-empty array of objects (column name → value)"))?;
    let first = items[0].as_object().ok_or_else(|| invalid("dataframe_records: record 1 is not an object"))?;
    let columns: Vec<String> = first.keys().cloned().collect();
    let mut values = Vec::with_capacity(items.len() * columns.len());
    for (r, item) in items.iter().enumerate() {
        let record =
            item.as_object().ok_or_else(|| invalid(format!("dataframe_records: record {} is not an object", r + 1)))?;
        if record.len() != columns.len() {
            return Err(invalid(format!(
                "dataframe_records: record {} has {} columns, record 1 has {}",
                r + 1,
                record.len(),
                columns.len()
            )));
        }
        for (c, name) in columns.iter().enumerate() {
            let cell = record
                .get(name)
                .ok_or_else(|| invalid(format!("dataframe_records: record {} has no column {name:?}", r + 1)))?;
            values.push(number(cell, r + 1, c + 1)?);
        }
    }
    Ok(Rows { values, rows: items.len(), width: columns.len(), columns: Some(columns) })
}

impl Rows {
    /// Puts named columns in the model's feature order. Positional rows, and columns that
    /// share no name with the model's features (models trained without names get `f0`,
    /// `f1`, ...), stay as they are; columns that name some features but not all are an
    /// error.
    pub fn in_feature_order(self, feature_names: &[String]) -> Result<Rows, Error> {
        let Some(columns) = &self.columns else { return Ok(self) };
        let shared = columns.iter().filter(|c| feature_names.contains(c)).count();
        if feature_names.is_empty() || columns.as_slice() == feature_names || shared == 0 {
            return Ok(self);
        }
        let positions: Vec<usize> = feature_names
            .iter()
            .map(|name| {
                columns
                    .iter()
                    .position(|c| c == name)
                    .ok_or_else(|| invalid(format!("the model needs column {name:?}; the request has {columns:?}")))
            })
            .collect::<Result<_, _>>()?;
        let mut values = Vec::with_capacity(self.rows * positions.len());
        for row in self.values.chunks(self.width.max(1)).take(self.rows) {
            values.extend(positions.iter().map(|&p| row[p]));
        }
        Ok(Rows { values, rows: self.rows, width: positions.len(), columns: Some(feature_names.to_vec()) })
    }
}

fn label_json(label: &Label) -> Value {
    match label {
        Label::Int(i) => json!(i),
        Label::Str(s) => json!(s),
    }
}

/// The response body as `serving` writes it in `format`.
pub fn render(predictions: &Predictions, classes: &[Label], format: Format, serving: Serving) -> Vec<u8> {
    match serving {
        Serving::Native if format == Format::Npy => serving::render_sklearn(predictions, format),
        Serving::Native => render_native(predictions, classes, format),
        Serving::Xgboost => serving::render_xgboost(predictions, format),
        Serving::ScikitLearn => serving::render_sklearn(predictions, format),
    }
}

/// trainyard's own answer: JSON `{"predictions": [...], "probabilities": [[...]], "classes": [...]}`
/// (MLflow's `predictions` first), or CSV with one line per row.
fn render_native(predictions: &Predictions, classes: &[Label], format: Format) -> Vec<u8> {
    match (format, predictions) {
        (Format::Json, Predictions::Classification { labels, probabilities, classes: width }) => {
            let mut body = json!({"predictions": labels.iter().map(label_json).collect::<Vec<_>>()});
            if let Some(p) = probabilities {
                body["probabilities"] = json!(p.chunks((*width).max(1)).collect::<Vec<_>>());
                body["classes"] = json!(classes.iter().map(label_json).collect::<Vec<_>>());
            }
            serde_json::to_vec(&body).unwrap_or_default()
        }
        (Format::Json, Predictions::Regression { values, targets }) => {
            let body = if *targets == 1 {
                json!({"predictions": values})
            } else {
                json!({"predictions": values.chunks((*targets).max(1)).collect::<Vec<_>>()})
            };
            serde_json::to_vec(&body).unwrap_or_default()
        }
        (_, Predictions::Classification { labels, .. }) => {
            labels.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes()
        }
        (_, Predictions::Regression { values, targets }) => values
            .chunks((*targets).max(1))
            .map(|row| row.iter().map(f32::to_string).collect::<Vec<_>>().join(",") + "\n")
            .collect::<String>()
            .into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: &[f32], rows: usize, width: usize) -> Rows {
        Rows { values: values.to_vec(), rows, width, columns: None }
    }

    #[test]
    fn every_payload_shape_gives_the_same_rows() {
        let expected = rows(&[1.0, 2.0, 3.0, 4.0], 2, 2);
        assert_eq!(parse(Some("text/csv"), b"1,2\n3,4\n").unwrap(), expected);
        assert_eq!(parse(Some("text/csv; charset=utf-8"), b"1, 2\r\n3,4").unwrap(), expected);
        for body in [
            r#"{"instances": [[1, 2], [3, 4]]}"#,
            r#"{"inputs": [[1, 2], [3, 4]]}"#,
            r#"{"inputs": {"x": [[1, 2], [3, 4]]}}"#,
            r#"[[1, "2"], [3, 4]]"#,
        ] {
            assert_eq!(parse(Some("application/json"), body.as_bytes()).unwrap(), expected, "{body}");
        }
        let split = parse(None, br#"{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}}"#).unwrap();
        assert_eq!(
            (split.values.clone(), split.columns.clone()),
            (expected.values.clone(), Some(vec!["a".into(), "b".into()]))
        );
        let records = parse(None, br#"{"dataframe_records": [{"b": 2, "a": 1}, {"a": 3, "b": 4}]}"#).unwrap();
        let ordered = records.in_feature_order(&["a".into(), "b".into()]).unwrap();
        assert_eq!(ordered.values, expected.values);
        assert_eq!(parse(None, b"[1, 2, 3]").unwrap(), rows(&[1.0, 2.0, 3.0], 1, 3));
        assert!(parse(Some("text/csv"), b"1,,3\n").unwrap().values[1].is_nan(), "an empty cell is missing");
    }

    #[test]
    fn bad_input_names_what_was_wrong() {
        let message = |ct: &str, body: &str| parse(Some(ct), body.as_bytes()).unwrap_err().to_string();
        assert!(message("text/csv", "1,2\n3\n").contains("line 2: 1 values, but the first row has 2"));
        assert!(message("text/csv", "1,x\n").contains("row 1, column 2: \"x\" is not a number"));
        assert!(message("application/json", "{\"instances\": [[1, 2], [3]]}").contains("row 2 has 1 values"));
        assert!(message("application/json", "{\"instances\": [[1, {}]]}").contains("row 1, column 2"));
        assert!(message("application/json", "{\"instances\": ").contains("malformed JSON"));
        assert!(message("application/json", "{\"rows\": []}").contains("unknown JSON payload"));
        assert!(message("application/json", "  ").contains("empty"));
        assert!(matches!(parse(Some("image/png"), b"x"), Err(Error::UnsupportedMediaType { .. })));
        let records = parse(None, br#"{"dataframe_records": [{"a": 1}]}"#).unwrap();
        assert!(records.in_feature_order(&["a".into(), "b".into()]).unwrap_err().to_string().contains("column \"b\""));
        let unnamed = parse(None, br#"{"dataframe_records": [{"x": 1, "y": 2}]}"#).unwrap();
        assert_eq!(unnamed.in_feature_order(&["f0".into(), "f1".into()]).unwrap().values, [1.0, 2.0]);
    }

    #[test]
    fn responses_in_json_and_csv() {
        let p = Predictions::Classification {
            labels: vec![Label::Int(1), Label::Int(0)],
            probabilities: Some(vec![0.25, 0.75, 0.5, 0.5]),
            classes: 2,
        };
        let classes = [Label::Int(0), Label::Int(1)];
        let body: Value = serde_json::from_slice(&render(&p, &classes, Format::Json, Serving::Native)).unwrap();
        assert_eq!(
            body,
            json!({"predictions": [1, 0], "probabilities": [[0.25, 0.75], [0.5, 0.5]], "classes": [0, 1]})
        );
        assert_eq!(render(&p, &classes, Format::Csv, Serving::Native), b"1\n0\n");
        let r = Predictions::Regression { values: vec![1.5, -2.0], targets: 1 };
        assert_eq!(render(&r, &[], Format::Csv, Serving::Native), b"1.5\n-2\n");
        assert_eq!(Format::from_accept(Some("text/csv")), Format::Csv);
        assert_eq!(Format::from_accept(Some("*/*")), Format::Json);
    }

    proptest::proptest! {
        #[test]
        fn no_body_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            for content_type in ["text/csv", "application/json"] {
                if let Ok(rows) = parse(Some(content_type), &body) {
                    proptest::prop_assert_eq!(rows.values.len(), rows.rows * rows.width);
                }
            }
        }
    }
}
