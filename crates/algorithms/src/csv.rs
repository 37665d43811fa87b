//! Line-level CSV parsing for numeric training data.
//!
//! Only what SageMaker's built-in algorithms accept: comma-separated numbers, one row per
//! line, optionally a header row. Quoted fields are unquoted but may not contain commas.
//! Missing values are not supported: every cell must be a finite number.

use std::path::Path;

use crate::error::{Error, Result};

/// How the files of a channel are laid out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// The first line of every file is a header row.
    pub header: bool,
    /// Name of the label column (requires `header`); `None` means the first column.
    pub label_column: Option<String>,
}

/// Which label values a channel may contain.
#[derive(Clone, Debug, PartialEq)]
pub enum LabelRule {
    /// Any finite number (regression).
    Any,
    /// Integral values only (classification, classes not yet known).
    Integer,
    /// One of the given class labels (validation data of a classifier).
    OneOf(Vec<i64>),
}

/// Column layout of a channel, fixed by its first file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub n_columns: usize,
    pub label_index: usize,
    /// Header names, label excluded (`None` without a header).
    pub feature_names: Option<Vec<String>>,
}

/// Splits a line into trimmed, unquoted fields.
pub(crate) fn fields(line: &str) -> impl Iterator<Item = &str> {
    line.split(',').map(|f| {
        let f = f.trim();
        f.strip_prefix('"').and_then(|f| f.strip_suffix('"')).unwrap_or(f)
    })
}

/// Builds the layout from a header line (with a header) or from the first data line.
pub(crate) fn layout_from_first_line(line: &str, options: &CsvOptions, file: &Path) -> Result<Layout> {
    let cells: Vec<&str> = fields(line).collect();
    if cells.len() < 2 {
        return Err(Error::Csv {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            reason: format!("a row needs a label and at least one feature, found {} column(s)", cells.len()),
        });
    }
    if !options.header {
        return Ok(Layout { n_columns: cells.len(), label_index: 0, feature_names: None });
    }
    let label_index = match &options.label_column {
        None => 0,
        Some(name) => cells.iter().position(|c| c == name).ok_or_else(|| {
            Error::hp(
                "label_column",
                format!("`{name}` is not a column of {} (header: {})", file.display(), cells.join(",")),
            )
        })?,
    };
    let names = cells.iter().enumerate().filter(|(i, _)| *i != label_index).map(|(_, c)| c.to_string()).collect();
    Ok(Layout { n_columns: cells.len(), label_index, feature_names: Some(names) })
}

/// Parses one data row: appends its features to `features` and returns the label.
///
/// `line_no` is 1-based. On error nothing meaningful is left in `features` beyond its
/// original length (callers abort on error anyway).
pub(crate) fn parse_row(
    line: &str,
    layout: &Layout,
    rule: &LabelRule,
    file: &Path,
    line_no: usize,
    features: &mut Vec<f32>,
) -> Result<f64> {
    let err = |column: usize, reason: String| Error::Csv { file: file.to_path_buf(), line: line_no, column, reason };
    let mut label = None;
    let mut count = 0;
    for (i, cell) in fields(line).enumerate() {
        count = i + 1;
        if i >= layout.n_columns {
            continue;
        }
        if i == layout.label_index {
            if cell.is_empty() {
                return Err(err(i + 1, "missing label".to_string()));
            }
            let value: f64 = cell.parse().map_err(|_| err(i + 1, format!("label `{cell}` is not a number")))?;
            if !value.is_finite() {
                return Err(err(i + 1, format!("label `{cell}` is not a finite number")));
            }
            check_label(value, rule).map_err(|reason| err(i + 1, reason))?;
            label = Some(value);
        } else {
            if cell.is_empty() {
                return Err(err(i + 1, "empty cell (missing values are not supported)".to_string()));
            }
            let value: f32 = cell.parse().map_err(|_| err(i + 1, format!("`{cell}` is not a number")))?;
            if !value.is_finite() {
                return Err(err(i + 1, format!("`{cell}` is not a finite 32-bit number")));
            }
            features.push(value);
        }
    }
    if count != layout.n_columns {
        let column = count.min(layout.n_columns) + 1;
        return Err(err(column, format!("row has {count} columns, expected {} (ragged rows)", layout.n_columns)));
    }
    // Invariant: count == n_columns > label_index, so the label cell was visited.
    label.ok_or_else(|| err(layout.label_index + 1, "missing label".to_string()))
}

fn check_label(value: f64, rule: &LabelRule) -> std::result::Result<(), String> {
    match rule {
        LabelRule::Any => Ok(()),
        LabelRule::Integer if value.fract() == 0.0 && value.abs() < 1e15 => Ok(()),
        LabelRule::Integer => Err(format!("class label {value} is not an integer")),
        LabelRule::OneOf(classes) => {
            if value.fract() == 0.0 && classes.binary_search(&(value as i64)).is_ok() {
                Ok(())
            } else {
                Err(format!("class label {value} is not one of the training classes {classes:?}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(n: usize) -> Layout {
        Layout { n_columns: n, label_index: 0, feature_names: None }
    }

    fn parse(line: &str, rule: &LabelRule) -> Result<(f64, Vec<f32>)> {
        let mut f = Vec::new();
        let label = parse_row(line, &layout(3), rule, Path::new("train.csv"), 7, &mut f)?;
        Ok((label, f))
    }

    fn csv_error(r: Result<(f64, Vec<f32>)>) -> (usize, usize, String) {
        match r {
            Err(Error::Csv { line, column, reason, .. }) => (line, column, reason),
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_row_with_spaces_and_quotes() {
        let (label, f) = parse(" 1 ,\"2.5\", -3e-2\r", &LabelRule::Any).unwrap();
        assert_eq!(label, 1.0);
        assert_eq!(f, vec![2.5, -0.03]);
    }

    #[test]
    fn reports_non_numeric_cell_with_line_and_column() {
        let (line, column, reason) = csv_error(parse("1,2,abc", &LabelRule::Any));
        assert_eq!((line, column), (7, 3));
        assert!(reason.contains("`abc` is not a number"), "{reason}");
        let msg = Error::Csv { file: "a.csv".into(), line, column, reason }.to_string();
        assert!(msg.starts_with("a.csv, line 7, column 3:"), "{msg}");
    }

    #[test]
    fn reports_ragged_rows() {
        assert_eq!(csv_error(parse("1,2", &LabelRule::Any)).1, 3);
        let (_, column, reason) = csv_error(parse("1,2,3,4", &LabelRule::Any));
        assert_eq!(column, 4);
        assert!(reason.contains("row has 4 columns, expected 3"), "{reason}");
    }

    #[test]
    fn reports_missing_label_and_empty_cells() {
        let (_, column, reason) = csv_error(parse(",2,3", &LabelRule::Any));
        assert_eq!((column, reason.as_str()), (1, "missing label"));
        assert_eq!(csv_error(parse("1,,3", &LabelRule::Any)).1, 2);
        assert_eq!(csv_error(parse("1,inf,3", &LabelRule::Any)).1, 2);
    }

    #[test]
    fn label_rules() {
        assert!(parse("1.5,2,3", &LabelRule::Integer).is_err());
        assert!(parse("2,2,3", &LabelRule::Integer).is_ok());
        let (_, column, reason) = csv_error(parse("5,2,3", &LabelRule::OneOf(vec![0, 1])));
        assert_eq!(column, 1);
        assert!(reason.contains("not one of the training classes"), "{reason}");
    }

    #[test]
    fn header_layout_finds_the_label_column() {
        let options = CsvOptions { header: true, label_column: Some("y".into()) };
        let l = layout_from_first_line("a,\"y\",b", &options, Path::new("t.csv")).unwrap();
        assert_eq!(l.label_index, 1);
        assert_eq!(l.feature_names, Some(vec!["a".to_string(), "b".to_string()]));
        let missing = CsvOptions { header: true, label_column: Some("z".into()) };
        let err = layout_from_first_line("a,y,b", &missing, Path::new("t.csv")).unwrap_err();
        assert!(err.to_string().starts_with("hyperparameter `label_column`"), "{err}");
    }
}
