//! The registration gate: conditions on a candidate's report, absolute (`auc >= 0.85`) or
//! relative to the champion evaluated on the same test data
//! (`auc >= champion.auc - 0.005`), and the recorded decision.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::metrics::Report;

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = ">")]
    Above,
    #[serde(rename = "<=")]
    AtMost,
    #[serde(rename = "<")]
    Below,
    #[serde(rename = "==")]
    Equal,
}

impl Operator {
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Operator::AtLeast => left >= right,
            Operator::Above => left > right,
            Operator::AtMost => left <= right,
            Operator::Below => left < right,
            Operator::Equal => left == right,
        }
    }
}

/// The right-hand side of a condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    Number(f64),
    /// `champion.<metric> + offset` (offset negative for `-`).
    Champion {
        metric: String,
        offset: f64,
    },
}

/// One gate condition, e.g. `auc >= champion.auc - 0.005`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub text: String,
    pub metric: String,
    pub operator: Operator,
    pub threshold: Threshold,
}

fn is_metric_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

impl Condition {
    /// Parses `<metric> <op> <number>` or `<metric> <op> champion.<metric> [+|- <number>]`.
    pub fn parse(text: &str) -> Result<Condition, Error> {
        let error = |reason: &str| Error::Condition { condition: text.to_string(), reason: reason.to_string() };
        let operators = [
            (">=", Operator::AtLeast),
            ("<=", Operator::AtMost),
            ("==", Operator::Equal),
            (">", Operator::Above),
            ("<", Operator::Below),
        ];
        let (position, symbol, operator) = operators
            .iter()
            .filter_map(|(s, o)| text.find(s).map(|p| (p, *s, *o)))
            .min_by_key(|(p, s, _)| (*p, std::cmp::Reverse(s.len())))
            .ok_or_else(|| error("expected an operator: >=, >, <=, < or =="))?;
        let metric = text[..position].trim();
        let right = text[position + symbol.len()..].trim();
        if !is_metric_name(metric) {
            return Err(error("the left side must be a metric name such as auc, accuracy or rmse"));
        }
        let threshold = match right.strip_prefix("champion.") {
            Some(rest) => {
                let (name, offset) = match rest.find(['+', '-']) {
                    Some(at) => {
                        let amount: f64 =
                            rest[at + 1..].trim().parse().map_err(|_| error("expected a number after + or -"))?;
                        (rest[..at].trim(), if rest.as_bytes()[at] == b'-' { -amount } else { amount })
                    }
                    None => (rest.trim(), 0.0),
                };
                if !is_metric_name(name) {
                    return Err(error("expected champion.<metric>"));
                }
                Threshold::Champion { metric: name.to_string(), offset }
            }
            None => Threshold::Number(
                right
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| error("expected a number or champion.<metric>"))?,
            ),
        };
        Ok(Condition { text: text.trim().to_string(), metric: metric.to_string(), operator, threshold })
    }
}

/// How one condition came out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionResult {
    pub condition: String,
    pub left: f64,
    /// `None` for a relative condition with no champion.
    pub right: Option<f64>,
    pub passed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The gate's decision, recorded on the model version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub passed: bool,
    pub conditions: Vec<ConditionResult>,
    /// The champion's version, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub champion: Option<String>,
}

fn lookup(report: &Report, metric: &str, condition: &str, side: &'static str) -> Result<f64, Error> {
    report.metric(metric).ok_or_else(|| Error::UnknownMetric {
        condition: condition.to_string(),
        side,
        metric: metric.to_string(),
        available: report.metric_names().join(", "),
    })
}

/// Decides on `candidate`; `champion` is the current champion's version and its report on
/// the same test data. With no champion, relative conditions pass and say so.
pub fn decide(
    conditions: &[Condition],
    candidate: &Report,
    champion: Option<(&str, &Report)>,
) -> Result<Decision, Error> {
    let mut results = Vec::with_capacity(conditions.len());
    for c in conditions {
        let left = lookup(candidate, &c.metric, &c.text, "candidate")?;
        let (right, note) = match (&c.threshold, champion) {
            (Threshold::Number(v), _) => (Some(*v), None),
            (Threshold::Champion { metric, offset }, Some((_, report))) => {
                (Some(lookup(report, metric, &c.text, "champion")? + offset), None)
            }
            (Threshold::Champion { .. }, None) => (None, Some("no champion: a relative condition passes".to_string())),
        };
        let passed = right.is_none_or(|r| c.operator.holds(left, r));
        results.push(ConditionResult { condition: c.text.clone(), left, right, passed, note });
    }
    Ok(Decision {
        passed: results.iter().all(|r| r.passed),
        conditions: results,
        champion: champion.map(|(v, _)| v.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(auc: f64) -> Report {
        Report(json!({"binary_classification_metrics": {"auc": {"value": auc, "standard_deviation": 0.01}}}))
    }

    #[test]
    fn parses_absolute_and_relative_conditions() {
        let c = Condition::parse("auc >= 0.85").unwrap();
        assert_eq!((c.metric.as_str(), c.operator, c.threshold), ("auc", Operator::AtLeast, Threshold::Number(0.85)));
        let c = Condition::parse(" auc>=champion.auc - 0.005 ").unwrap();
        assert_eq!(c.threshold, Threshold::Champion { metric: "auc".into(), offset: -0.005 });
        let c = Condition::parse("rmse < champion.rmse").unwrap();
        assert_eq!(
            (c.operator, c.threshold),
            (Operator::Below, Threshold::Champion { metric: "rmse".into(), offset: 0.0 })
        );
        assert_eq!(Condition::parse("accuracy == 1").unwrap().operator, Operator::Equal);
    }

    #[test]
    fn rejects_malformed_conditions_naming_them() {
        for bad in ["auc", ">= 0.8", "auc >= high", "auc >= champion.", "auc >= champion.auc - x", "a-b > 1"] {
            let err = Condition::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad.trim()), "{err}");
        }
    }

    #[test]
    fn decides_against_numbers_and_the_champion() {
        let conditions =
            [Condition::parse("auc >= 0.85").unwrap(), Condition::parse("auc >= champion.auc - 0.005").unwrap()];
        let d = decide(&conditions, &report(0.90), Some(("3", &report(0.904)))).unwrap();
        assert!(d.passed, "{d:?}");
        assert_eq!(d.champion.as_deref(), Some("3"));
        let d = decide(&conditions, &report(0.90), Some(("3", &report(0.95)))).unwrap();
        assert!(!d.passed);
        assert!(!d.conditions[1].passed && d.conditions[0].passed);
        let d = decide(&conditions, &report(0.90), None).unwrap();
        assert!(d.passed && d.conditions[1].right.is_none() && d.conditions[1].note.is_some());
        let d = decide(&conditions, &report(0.80), None).unwrap();
        assert!(!d.passed);
    }

    #[test]
    fn an_unknown_metric_lists_the_available_ones() {
        let err = decide(&[Condition::parse("rmse < 3").unwrap()], &report(0.9), None).unwrap_err().to_string();
        assert!(err.contains("no metric `rmse`") && err.contains("auc"), "{err}");
    }
}
