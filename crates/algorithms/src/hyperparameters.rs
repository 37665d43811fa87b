//! Hyperparameter reading and validation.
//!
//! SageMaker writes every value of `hyperparameters.json` as a JSON string, while
//! `SM_HPS` (and library callers) may use typed JSON values; both are accepted. Every
//! name must be consumed by the algorithm, so a typo is an error rather than silently
//! ignored. Names starting with `_` or `sagemaker_` (platform bookkeeping such as
//! `_tuning_objective_metric`) are ignored.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::csv::CsvOptions;
use crate::error::{Error, Result};

/// Hyperparameters being read by one algorithm; tracks which names were consumed and the
/// resolved value (given or default) of each, for `model.json`.
#[derive(Debug, Clone)]
pub struct Hyperparameters {
    given: Map<String, Value>,
    used: BTreeSet<String>,
    resolved: Map<String, Value>,
}

impl Hyperparameters {
    /// Wraps a JSON object of hyperparameters.
    pub fn new(given: Map<String, Value>) -> Self {
        Hyperparameters { given, used: BTreeSet::new(), resolved: Map::new() }
    }

    /// The value given under the first present name of `names` (aliases); two present is an error.
    fn take(&mut self, names: &[&str]) -> Result<Option<(String, Value)>> {
        let present: Vec<&str> = names.iter().copied().filter(|n| self.given.contains_key(*n)).collect();
        for n in names {
            self.used.insert(n.to_string());
        }
        match present.as_slice() {
            [] => Ok(None),
            [name] => Ok(self.given.get(*name).map(|v| (name.to_string(), v.clone()))),
            [a, b, ..] => Err(Error::hp(a, format!("give either `{a}` or `{b}`, not both"))),
        }
    }

    fn record(&mut self, name: &str, value: Value) {
        self.resolved.insert(name.to_string(), value);
    }

    /// An optional number under `names[0]` (or an alias), checked by `valid` (`expect` describes it).
    pub fn optional_f64(&mut self, names: &[&str], valid: impl Fn(f64) -> bool, expect: &str) -> Result<Option<f64>> {
        let Some((name, value)) = self.take(names)? else { return Ok(None) };
        let number = match &value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        let Some(number) = number.filter(|n| n.is_finite()) else {
            return Err(Error::hp(&name, format!("expected a number, got {value}")));
        };
        if !valid(number) {
            return Err(Error::hp(&name, format!("must be {expect}, got {number}")));
        }
        self.record(names[0], number.into());
        Ok(Some(number))
    }

    /// A number with a default.
    pub fn f64(&mut self, names: &[&str], default: f64, valid: impl Fn(f64) -> bool, expect: &str) -> Result<f64> {
        let value = self.optional_f64(names, valid, expect)?.unwrap_or(default);
        self.record(names[0], value.into());
        Ok(value)
    }

    /// An optional integer in `min..=max`.
    pub fn optional_usize(&mut self, names: &[&str], min: usize, max: usize) -> Result<Option<usize>> {
        let expect = format!("an integer in [{min}, {max}]");
        let valid = |v: f64| v.fract() == 0.0 && v >= min as f64 && v <= max as f64;
        let value = self.optional_f64(names, valid, &expect)?.map(|v| v as usize);
        if let Some(v) = value {
            self.record(names[0], v.into());
        }
        Ok(value)
    }

    /// An integer in `min..=max` with a default.
    pub fn usize(&mut self, names: &[&str], default: usize, min: usize, max: usize) -> Result<usize> {
        let value = self.optional_usize(names, min, max)?.unwrap_or(default);
        self.record(names[0], value.into());
        Ok(value)
    }

    /// A boolean (`true`/`false`, any case, as a string or a JSON bool).
    pub fn bool(&mut self, name: &str, default: bool) -> Result<bool> {
        let value = match self.take(&[name])? {
            None => default,
            Some((_, Value::Bool(b))) => b,
            Some((_, Value::String(s))) if s.trim().eq_ignore_ascii_case("true") => true,
            Some((_, Value::String(s))) if s.trim().eq_ignore_ascii_case("false") => false,
            Some((_, other)) => return Err(Error::hp(name, format!("expected true or false, got {other}"))),
        };
        self.record(name, value.into());
        Ok(value)
    }

    /// An optional string (numbers are accepted and rendered as text).
    pub fn optional_string(&mut self, name: &str) -> Result<Option<String>> {
        let value = match self.take(&[name])? {
            None => return Ok(None),
            Some((_, Value::String(s))) => s.trim().to_string(),
            Some((_, Value::Number(n))) => n.to_string(),
            Some((_, other)) => return Err(Error::hp(name, format!("expected a string, got {other}"))),
        };
        self.record(name, value.clone().into());
        Ok(Some(value))
    }

    /// One of `choices` (case-sensitive), with an optional default.
    pub fn choice(&mut self, name: &str, choices: &[&str], default: Option<&str>) -> Result<String> {
        let value = match (self.optional_string(name)?, default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_string(),
            (None, None) => return Err(Error::hp(name, format!("is required; one of: {}", choices.join(", ")))),
        };
        if !choices.contains(&value.as_str()) {
            return Err(Error::hp(name, format!("`{value}` is not one of: {}", choices.join(", "))));
        }
        self.record(name, value.clone().into());
        Ok(value)
    }

    /// The CSV layout options shared by all algorithms: `content_type` and `label_column`.
    pub fn csv_options(&mut self) -> Result<CsvOptions> {
        let mut header = None;
        if let Some(content_type) = self.optional_string("content_type")? {
            let mut parts = content_type.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            if media != "text/csv" && media != "csv" {
                return Err(Error::hp("content_type", format!("`{content_type}` is not supported; use text/csv")));
            }
            for part in parts {
                match part.to_ascii_lowercase().replace(' ', "").as_str() {
                    "header=present" => header = Some(true),
                    "header=absent" => header = Some(false),
                    "label_size=1" | "" => {}
                    other => return Err(Error::hp("content_type", format!("unsupported parameter `{other}`"))),
                }
            }
        }
        let label_column = self.optional_string("label_column")?.filter(|s| !s.is_empty());
        if label_column.is_some() && header == Some(false) {
            return Err(Error::hp("label_column", "needs a header row, but content_type says header=absent"));
        }
        let header = header.unwrap_or(label_column.is_some());
        Ok(CsvOptions { header, label_column })
    }

    /// The number of worker threads: `nthread`, default all available cores.
    pub fn nthread(&mut self) -> Result<usize> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        self.usize(&["nthread"], cores, 1, 1024)
    }

    /// Fails on the first given name that no reader consumed; returns the resolved values.
    pub fn finish(self, algorithm: &str) -> Result<Map<String, Value>> {
        for name in self.given.keys() {
            let ignored = name.starts_with('_') || name.starts_with("sagemaker_");
            if !ignored && !self.used.contains(name) {
                return Err(Error::hp(name, format!("unknown hyperparameter for `{algorithm}`")));
            }
        }
        Ok(self.resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hp(v: Value) -> Hyperparameters {
        match v {
            Value::Object(m) => Hyperparameters::new(m),
            _ => unreachable!(),
        }
    }

    #[test]
    fn numbers_from_strings_and_values() {
        let mut h = hp(json!({"eta": "0.1", "num_round": 20, "max_depth": "4"}));
        assert_eq!(h.f64(&["eta"], 0.3, |v| v > 0.0, "positive").unwrap(), 0.1);
        assert_eq!(h.usize(&["num_round"], 10, 1, 100).unwrap(), 20);
        assert_eq!(h.usize(&["max_depth"], 6, 1, 10).unwrap(), 4);
        assert_eq!(h.usize(&["min"], 7, 1, 10).unwrap(), 7);
        let resolved = h.finish("gbdt").unwrap();
        assert_eq!(resolved["min"], json!(7));
        assert_eq!(resolved["eta"], json!(0.1));
    }

    #[test]
    fn out_of_range_and_malformed_values_name_the_parameter() {
        let mut h = hp(json!({"eta": "2", "max_depth": "4.5", "subsample": "lots"}));
        let e = h.f64(&["eta"], 0.3, |v| v > 0.0 && v <= 1.0, "in (0, 1]").unwrap_err();
        assert_eq!(e.to_string(), "hyperparameter `eta`: must be in (0, 1], got 2");
        let e = h.usize(&["max_depth"], 6, 1, 10).unwrap_err();
        assert!(e.to_string().starts_with("hyperparameter `max_depth`"), "{e}");
        let e = h.f64(&["subsample"], 1.0, |_| true, "").unwrap_err();
        assert!(e.to_string().contains("`subsample`: expected a number"), "{e}");
    }

    #[test]
    fn unknown_names_fail_and_platform_names_are_ignored() {
        let h = hp(json!({"_tuning_objective_metric": "validation:auc", "sagemaker_region": "x", "etta": "1"}));
        let e = h.finish("gbdt").unwrap_err();
        assert_eq!(e.to_string(), "hyperparameter `etta`: unknown hyperparameter for `gbdt`");
    }

    #[test]
    fn aliases_conflict() {
        let mut h = hp(json!({"l2": "1", "wd": "2"}));
        assert!(h.f64(&["l2", "wd"], 0.0, |_| true, "").unwrap_err().to_string().contains("not both"));
        let mut h = hp(json!({"wd": "2"}));
        assert_eq!(h.f64(&["l2", "wd"], 0.0, |_| true, "").unwrap(), 2.0);
        assert!(h.finish("linear-learner").is_ok());
    }

    #[test]
    fn choices_and_bools() {
        let mut h = hp(json!({"objective": "binary:logistic", "normalize_data": "False", "x": "maybe"}));
        let o = h.choice("objective", &["reg:squarederror", "binary:logistic"], None).unwrap();
        assert_eq!(o, "binary:logistic");
        assert!(!h.bool("normalize_data", true).unwrap());
        assert!(h.bool("x", true).is_err());
        assert!(h.choice("predictor_type", &["regressor"], None).unwrap_err().to_string().contains("is required"));
    }

    #[test]
    fn csv_options_from_content_type_and_label_column() {
        let mut h = hp(json!({"content_type": "text/csv;header=present"}));
        assert_eq!(h.csv_options().unwrap(), CsvOptions { header: true, label_column: None });
        let mut h = hp(json!({"label_column": "y"}));
        assert_eq!(h.csv_options().unwrap(), CsvOptions { header: true, label_column: Some("y".into()) });
        let mut h = hp(json!({"content_type": "application/x-recordio-protobuf"}));
        assert!(h.csv_options().unwrap_err().to_string().contains("`content_type`"));
        let mut h = hp(json!({"content_type": "text/csv; header=absent", "label_column": "y"}));
        assert!(h.csv_options().unwrap_err().to_string().contains("`label_column`"));
    }
}
