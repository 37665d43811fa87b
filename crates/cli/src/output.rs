//! Tables for people, JSON for scripts.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde_json::Value;

use crate::args::Output;

/// Prints `value` as JSON, or as a table of `columns` over the array at `key`.
pub fn list(output: Output, value: &Value, key: &str, columns: &[(&str, &str)]) {
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        return;
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(columns.iter().map(|(title, _)| *title));
    for row in value.get(key).and_then(Value::as_array).into_iter().flatten() {
        table.add_row(columns.iter().map(|(_, pointer)| cell(row.pointer(pointer))));
    }
    println!("{table}");
}

/// Prints one resource: pretty JSON either way (it is nested).
pub fn item(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
