//! Condition operators: parsing `Condition` blocks and evaluating them against a
//! request context.
//!
//! Operators are ANDed, keys under one operator are ANDed, values of one key are
//! ORed; a negated operator (`StringNotEquals`, ...) is a NOR over its values.

use std::net::IpAddr;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use ipnet::IpNet;

use crate::arn::ArnPattern;
use crate::context::{Context, ContextValue};
use crate::error::{Problems, LEGACY, SYNTAX};
use crate::json::Json;
use crate::template::Template;

/// What a condition compares, with the policy values pre-parsed.
#[derive(Debug, Clone)]
enum Values {
    /// `StringEquals`, `StringLike`, `Bool`, `ArnLike`, ... (variables allowed).
    Text(Vec<Template>),
    /// `StringEqualsIgnoreCase` values are stored lowercased.
    Numbers(Vec<f64>),
    /// Dates as milliseconds since the epoch.
    Dates(Vec<i64>),
    Binary(Vec<Vec<u8>>),
    Nets(Vec<IpNet>),
    /// `Null`: true = "the key must be absent".
    Null(Vec<bool>),
}

/// The positive comparison an operator makes (the negated ones invert it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetMode {
    Plain,
    ForAllValues,
    ForAnyValue,
}

/// One `operator: { key: values }` pair of a statement's `Condition`.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    compare: Compare,
    negated: bool,
    if_exists: bool,
    set: SetMode,
    /// Invariant: lowercased (context keys are case-insensitive).
    key: String,
    values: Values,
}

/// Operator name (without prefix and `IfExists`) to its comparison and negation.
fn operator(name: &str) -> Option<(Compare, bool)> {
    use Compare::*;
    Some(match name {
        "StringEquals" => (StringEquals, false),
        "StringNotEquals" => (StringEquals, true),
        "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
        "StringLike" => (StringLike, false),
        "StringNotLike" => (StringLike, true),
        "NumericEquals" => (NumericEquals, false),
        "NumericNotEquals" => (NumericEquals, true),
        "NumericLessThan" => (NumericLessThan, false),
        "NumericLessThanEquals" => (NumericLessThanEquals, false),
        "NumericGreaterThan" => (NumericGreaterThan, false),
        "NumericGreaterThanEquals" => (NumericGreaterThanEquals, false),
        "DateEquals" => (DateEquals, false),
        "DateNotEquals" => (DateEquals, true),
        "DateLessThan" => (DateLessThan, false),
        "DateLessThanEquals" => (DateLessThanEquals, false),
        "DateGreaterThan" => (DateGreaterThan, false),
        "DateGreaterThanEquals" => (DateGreaterThanEquals, false),
        "Bool" => (Bool, false),
        "BinaryEquals" => (BinaryEquals, false),
        "IpAddress" => (IpAddress, false),
        "NotIpAddress" => (IpAddress, true),
        "ArnEquals" | "ArnLike" => (ArnLike, false),
        "ArnNotEquals" | "ArnNotLike" => (ArnLike, true),
        "Null" => (Null, false),
        _ => return None,
    })
}

/// Parses a statement's `Condition` value; problems are reported at `path`.
pub(crate) fn parse_block(block: &Json, path: &str, variables: bool, problems: &mut Problems) -> Vec<Condition> {
    let mut out = Vec::new();
    let Json::Object(operators) = block else {
        problems.push(path, SYNTAX);
        return out;
    };
    crate::policy::check_duplicates(operators, path, problems);
    for (name, keys) in operators {
        let op_path = format!("{path}.{name}");
        let Some((compare, negated, if_exists, set)) = parse_operator_name(name) else {
            problems.push(op_path, SYNTAX);
            continue;
        };
        let Json::Object(keys) = keys else {
            problems.push(op_path, SYNTAX);
            continue;
        };
        crate::policy::check_duplicates(keys, &op_path, problems);
        for (key, raw) in keys {
            let key_path = format!("{op_path}.{key}");
            let Some(texts) = scalar_list(raw) else {
                problems.push(key_path, SYNTAX);
                continue;
            };
            if let Some(values) = parse_values(compare, &texts, variables, &key_path, problems) {
                out.push(Condition { compare, negated, if_exists, set, key: key.to_lowercase(), values });
            }
        }
    }
    out
}

/// `ForAnyValue:StringNotLikeIfExists` → (StringLike, negated, if_exists, ForAnyValue).
fn parse_operator_name(name: &str) -> Option<(Compare, bool, bool, SetMode)> {
    let (set, base) = if let Some(rest) = name.strip_prefix("ForAllValues:") {
        (SetMode::ForAllValues, rest)
    } else if let Some(rest) = name.strip_prefix("ForAnyValue:") {
        (SetMode::ForAnyValue, rest)
    } else {
        (SetMode::Plain, name)
    };
    let (base, if_exists) = match base.strip_suffix("IfExists") {
        Some(stripped) => (stripped, true),
        None => (base, false),
    };
    let (compare, negated) = operator(base)?;
    if compare == Compare::Null && (if_exists || set != SetMode::Plain) {
        return None;
    }
    Some((compare, negated, if_exists, set))
}

/// A condition value: a scalar or an array of scalars (an empty array is accepted,
/// as AWS does: a positive operator with no values is false, a negated one true).
fn scalar_list(raw: &Json) -> Option<Vec<String>> {
    match raw {
        Json::Array(items) => items.iter().map(Json::as_scalar).collect(),
        other => other.as_scalar().map(|s| vec![s]),
    }
}

fn parse_values(
    compare: Compare,
    texts: &[String],
    variables: bool,
    path: &str,
    problems: &mut Problems,
) -> Option<Values> {
    use Compare::*;
    let before = problems.0.len();
    let values = match compare {
        StringEquals | StringLike | Bool | ArnLike => {
            Values::Text(texts.iter().map(|t| Template::parse(t, variables)).collect())
        }
        StringEqualsIgnoreCase => {
            Values::Text(texts.iter().map(|t| Template::parse(&t.to_lowercase(), variables)).collect())
        }
        NumericEquals | NumericLessThan | NumericLessThanEquals | NumericGreaterThan | NumericGreaterThanEquals => {
            Values::Numbers(collect(texts, parse_number, path, "must be a number", problems))
        }
        DateEquals | DateLessThan | DateLessThanEquals | DateGreaterThan | DateGreaterThanEquals => {
            let dates = texts.iter().filter_map(|t| parse_date(t)).collect::<Vec<_>>();
            if dates.len() != texts.len() {
                problems.push(path, LEGACY);
            }
            Values::Dates(dates)
        }
        BinaryEquals => Values::Binary(collect(texts, decode_base64, path, "must be base64", problems)),
        IpAddress => Values::Nets(collect(texts, parse_net, path, "must be an IP address or CIDR block", problems)),
        Null => Values::Null(collect(texts, parse_bool, path, "must be \"true\" or \"false\"", problems)),
    };
    (problems.0.len() == before).then_some(values)
}

fn collect<T>(
    texts: &[String],
    parse: fn(&str) -> Option<T>,
    path: &str,
    what: &str,
    problems: &mut Problems,
) -> Vec<T> {
    let mut out = Vec::with_capacity(texts.len());
    for text in texts {
        match parse(text) {
            Some(v) => out.push(v),
            None => problems.push(path, format!("Condition value {text:?} {what}.")),
        }
    }
    out
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// A CIDR block; a bare address is a /32 (IPv4) or /128 (IPv6).
fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// W3C ISO 8601 (date, date-time with or without offset) or epoch seconds, as
/// milliseconds since the epoch.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'-') && !text[1..].contains('-') {
        return text.parse::<i64>().ok()?.checked_mul(1000);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%MZ"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(text, format) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp_millis())
}

impl Condition {
    /// True if the condition holds for `ctx`.
    pub(crate) fn holds(&self, ctx: &Context) -> bool {
        let present = ctx.get_lower(&self.key).filter(|v| !matches!(v, ContextValue::Multi(vs) if vs.is_empty()));
        if let Values::Null(wanted) = &self.values {
            // `Null: true` = the key is absent (an empty multivalued key counts as absent).
            return wanted.iter().any(|&absent| absent == present.is_none());
        }
        let Some(value) = ctx.get_lower(&self.key) else {
            // Missing key: IfExists and ForAllValues hold; ForAnyValue fails; otherwise a
            // positive operator is false and a negated one true.
            return self.if_exists || self.set == SetMode::ForAllValues || (self.set == SetMode::Plain && self.negated);
        };
        let request_values = value.values();
        // For one request value: does it satisfy the operator (negation applied)?
        let one = |v: &str| self.any_policy_value_matches(v, ctx) != self.negated;
        match (self.set, value) {
            (SetMode::ForAllValues, _) => request_values.iter().all(|v| one(v)),
            (SetMode::ForAnyValue, _) => request_values.iter().any(|v| one(v)),
            (SetMode::Plain, ContextValue::Single(v)) => one(v),
            // A multivalued key without a set operator: positive = any value matches;
            // negated = no value matches any policy value.
            (SetMode::Plain, ContextValue::Multi(vs)) if self.negated => vs.iter().all(|v| one(v)),
            (SetMode::Plain, ContextValue::Multi(vs)) => vs.iter().any(|v| one(v)),
        }
    }

    /// The positive comparison: does `value` match at least one policy value?
    fn any_policy_value_matches(&self, value: &str, ctx: &Context) -> bool {
        use Compare::*;
        match (&self.values, self.compare) {
            (Values::Text(ts), StringEquals) => ts.iter().any(|t| t.resolve(ctx).is_some_and(|p| p == value)),
            (Values::Text(ts), StringEqualsIgnoreCase) => {
                let lower = value.to_lowercase();
                ts.iter().any(|t| t.resolve(ctx).is_some_and(|p| p.to_lowercase() == lower))
            }
            (Values::Text(ts), StringLike) => ts.iter().any(|t| t.resolve_glob(ctx).is_some_and(|g| g.matches(value))),
            (Values::Text(ts), Bool) => {
                ts.iter().any(|t| t.resolve(ctx).is_some_and(|p| p.eq_ignore_ascii_case(value)))
            }
            (Values::Text(ts), ArnLike) => ts.iter().any(|t| {
                t.resolve_toks(ctx)
                    .and_then(|toks| ArnPattern::from_toks(&toks, false))
                    .is_some_and(|p| p.matches(value))
            }),
            (Values::Numbers(ns), _) => match parse_number(value) {
                Some(v) => ns.iter().any(|&p| ordered(self.compare, v.partial_cmp(&p))),
                None => false,
            },
            (Values::Dates(ds), _) => match parse_date(value) {
                Some(v) => ds.iter().any(|&p| ordered(self.compare, Some(v.cmp(&p)))),
                None => false,
            },
            (Values::Binary(bs), _) => {
                let decoded = decode_base64(value);
                bs.iter().any(|b| decoded.as_deref().map_or(value.as_bytes() == b.as_slice(), |d| d == b.as_slice()))
            }
            (Values::Nets(nets), _) => match value.trim().parse::<IpAddr>() {
                Ok(ip) => nets.iter().any(|n| n.contains(&ip)),
                Err(_) => false,
            },
            _ => false,
        }
    }
}

/// For numeric and date comparisons: is `request <op> policy` given their ordering?
fn ordered(compare: Compare, ord: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    use Compare::*;
    match (compare, ord) {
        (_, None) => false,
        (NumericEquals | DateEquals, Some(o)) => o == Equal,
        (NumericLessThan | DateLessThan, Some(o)) => o == Less,
        (NumericLessThanEquals | DateLessThanEquals, Some(o)) => o != Greater,
        (NumericGreaterThan | DateGreaterThan, Some(o)) => o == Greater,
        (NumericGreaterThanEquals | DateGreaterThanEquals, Some(o)) => o != Less,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(json: &str) -> Vec<Condition> {
        let mut problems = Problems::default();
        let c = parse_block(&Json::parse(json).unwrap(), "Condition", true, &mut problems);
        assert!(problems.0.is_empty(), "{:?}", problems.0);
        c
    }

    #[test]
    fn operator_names() {
        assert!(parse_operator_name("ForAnyValue:StringNotLikeIfExists").is_some());
        assert!(parse_operator_name("NullIfExists").is_none());
        assert!(parse_operator_name("ForAnyValue::StringEquals").is_none());
        assert!(parse_operator_name("stringequals").is_none());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:10Z"), Some(10_000));
        assert_eq!(parse_date("10"), Some(10_000));
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_date("2016-12-13t2:00:00.593194+1"), None);
        assert_eq!(parse_date("9223372036854775808"), None);
        assert_eq!(parse_date("sdfdsf"), None);
    }

    #[test]
    fn missing_key_rules() {
        let ctx = Context::new();
        assert!(!cond(r#"{"StringEquals":{"k":"a"}}"#)[0].holds(&ctx));
        assert!(cond(r#"{"StringNotEquals":{"k":"a"}}"#)[0].holds(&ctx));
        assert!(cond(r#"{"StringEqualsIfExists":{"k":"a"}}"#)[0].holds(&ctx));
        assert!(cond(r#"{"ForAllValues:StringEquals":{"k":"a"}}"#)[0].holds(&ctx));
        assert!(!cond(r#"{"ForAnyValue:StringEquals":{"k":"a"}}"#)[0].holds(&ctx));
        assert!(cond(r#"{"Null":{"k":"true"}}"#)[0].holds(&ctx));
    }

    #[test]
    fn ip_and_numbers() {
        let mut ctx = Context::new();
        ctx.set("aws:SourceIp", "10.1.2.3").set("n", "5");
        assert!(cond(r#"{"IpAddress":{"aws:sourceip":["192.168.0.0/16","10.0.0.0/8"]}}"#)[0].holds(&ctx));
        assert!(!cond(r#"{"IpAddress":{"aws:sourceip":"10.1.2.4"}}"#)[0].holds(&ctx));
        assert!(cond(r#"{"NumericLessThan":{"n":6}}"#)[0].holds(&ctx));
        assert!(!cond(r#"{"NumericLessThan":{"n":"5"}}"#)[0].holds(&ctx));
    }
}
