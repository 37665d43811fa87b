//! What a target receives: the whole event, a constant, a part of the event
//! (`InputPath`) or a template filled from the event (`InputTransformer`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// EventBridge's target input options; at most one may be set on a target.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct InputShape {
    /// A constant JSON text sent instead of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// A JSONPath selecting the part of the event to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_transformer: Option<InputTransformer>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct InputTransformer {
    #[serde(default)]
    pub input_paths_map: BTreeMap<String, String>,
    pub input_template: String,
}

/// Values the template may use besides the paths map.
pub struct TargetContext<'a> {
    pub rule_name: &'a str,
    pub rule_arn: &'a str,
    pub ingestion_time: &'a str,
}

impl InputShape {
    /// Checks the shape once, when the target is created.
    pub fn validate(&self) -> Result<(), Error> {
        let set = [self.input.is_some(), self.input_path.is_some(), self.input_transformer.is_some()];
        if set.iter().filter(|s| **s).count() > 1 {
            return Err(invalid("only one of Input, InputPath and InputTransformer may be set"));
        }
        if let Some(input) = &self.input {
            serde_json::from_str::<Value>(input).map_err(|e| invalid(&format!("Input is not valid JSON: {e}")))?;
        }
        if let Some(path) = &self.input_path {
            parse_path(path)?;
        }
        if let Some(t) = &self.input_transformer {
            if t.input_paths_map.len() > 100 {
                return Err(invalid("InputPathsMap has more than 100 entries"));
            }
            for (name, path) in &t.input_paths_map {
                let valid_name = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
                if !valid_name || name.starts_with("aws.events") {
                    return Err(invalid(&format!("InputPathsMap key {name:?} is not a valid variable name")));
                }
                parse_path(path)?;
            }
        }
        Ok(())
    }

    /// The bytes the target receives for `event`.
    pub fn apply(&self, event: &Value, context: &TargetContext<'_>) -> Result<String, Error> {
        if let Some(input) = &self.input {
            return Ok(input.clone());
        }
        if let Some(path) = &self.input_path {
            return Ok(select(event, &parse_path(path)?).unwrap_or(&Value::Null).to_string());
        }
        let Some(t) = &self.input_transformer else {
            return Ok(event.to_string());
        };
        let mut values: BTreeMap<&str, Value> = BTreeMap::new();
        for (name, path) in &t.input_paths_map {
            values.insert(name, select(event, &parse_path(path)?).cloned().unwrap_or(Value::Null));
        }
        values.insert("aws.events.rule-name", Value::String(context.rule_name.into()));
        values.insert("aws.events.rule-arn", Value::String(context.rule_arn.into()));
        values.insert("aws.events.event.ingestion-time", Value::String(context.ingestion_time.into()));
        values.insert("aws.events.event", event.clone());
        values.insert("aws.events.event.json", event.clone());
        Ok(fill_template(&t.input_template, &values))
    }
}

fn invalid(message: &str) -> Error {
    Error::InvalidTransformer { message: message.to_string() }
}

#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Parses the JSONPath subset EventBridge accepts: `$`, `$.a.b`, `$.a[0]`, `$['a b']`.
fn parse_path(path: &str) -> Result<Vec<Step>, Error> {
    let bad = |why: &str| invalid(&format!("path {path:?}: {why}"));
    let rest = path.strip_prefix('$').ok_or_else(|| bad("must start with $"))?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    key.push(n);
                    chars.next();
                }
                if key.is_empty() {
                    return Err(bad("empty key"));
                }
                steps.push(Step::Key(key));
            }
            '[' => {
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                if let Some(quoted) = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    steps.push(Step::Key(quoted.to_string()));
                } else {
                    steps.push(Step::Index(inner.parse().map_err(|_| bad("bad [index]"))?));
                }
            }
            _ => return Err(bad("expected . or [")),
        }
    }
    Ok(steps)
}

fn select<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get(k.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

/// Replaces `<name>` placeholders. Inside a JSON string a value is inserted as string
/// content (escaped, no quotes); outside, as JSON text. Unknown names stay as written.
fn fill_template(template: &str, values: &BTreeMap<&str, Value>) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            if let Some(end) = rest.find('>') {
                let name = &rest[1..end];
                if let Some(value) = values.get(name) {
                    if in_string {
                        let text = match value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let quoted = Value::String(text).to_string();
                        out.push_str(&quoted[1..quoted.len() - 1]);
                    } else {
                        out.push_str(&value.to_string());
                    }
                    rest = &rest[end + 1..];
                    continue;
                }
            }
        }
        if in_string && escaped {
            escaped = false;
        } else if c == '\\' && in_string {
            escaped = true;
        } else if c == '"' {
            in_string = !in_string;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> TargetContext<'static> {
        TargetContext { rule_name: "r", rule_arn: "arn:r", ingestion_time: "2026-01-01T00:00:00Z" }
    }

    fn event() -> Value {
        json!({"id": "1", "detail": {"instance": "i-1", "state": "running", "n": 3, "list": [10, 20], "q": "say \"hi\""}})
    }

    #[test]
    fn whole_event_by_default() {
        let out = InputShape::default().apply(&event(), &context()).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), event());
    }

    #[test]
    fn input_path_selects() {
        let shape = InputShape { input_path: Some("$.detail.list[1]".into()), ..Default::default() };
        assert_eq!(shape.apply(&event(), &context()).unwrap(), "20");
        let shape = InputShape { input_path: Some("$['detail'].state".into()), ..Default::default() };
        assert_eq!(shape.apply(&event(), &context()).unwrap(), "\"running\"");
    }

    #[test]
    fn template_quotes_strings_correctly() {
        let shape = InputShape {
            input_transformer: Some(InputTransformer {
                input_paths_map: [("i", "$.detail.instance"), ("n", "$.detail.n"), ("q", "$.detail.q")]
                    .into_iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
                input_template:
                    r#"{"msg": "<i> has <n> and <q>", "raw": <n>, "s": <i>, "rule": "<aws.events.rule-name>"}"#.into(),
            }),
            ..Default::default()
        };
        shape.validate().unwrap();
        let out: Value = serde_json::from_str(&shape.apply(&event(), &context()).unwrap()).unwrap();
        assert_eq!(out, json!({"msg": "i-1 has 3 and say \"hi\"", "raw": 3, "s": "i-1", "rule": "r"}));
    }

    #[test]
    fn plain_string_template() {
        let shape = InputShape {
            input_transformer: Some(InputTransformer {
                input_paths_map: [("s".to_string(), "$.detail.state".to_string())].into(),
                input_template: "\"instance is <s>\"".into(),
            }),
            ..Default::default()
        };
        assert_eq!(shape.apply(&event(), &context()).unwrap(), "\"instance is running\"");
    }

    #[test]
    fn validation_errors() {
        let both = InputShape { input: Some("1".into()), input_path: Some("$".into()), ..Default::default() };
        assert!(both.validate().is_err());
        let bad_json = InputShape { input: Some("{".into()), ..Default::default() };
        assert!(bad_json.validate().unwrap_err().to_string().contains("Input is not valid JSON"));
        let bad_path = InputShape { input_path: Some("detail".into()), ..Default::default() };
        assert!(bad_path.validate().unwrap_err().to_string().contains("must start with $"));
    }
}
