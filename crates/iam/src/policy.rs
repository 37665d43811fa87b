//! Parsing and validating policy documents into pre-compiled statements.

use crate::condition::{self, Condition};
use crate::error::{PolicyErrors, Problems, LEGACY, SYNTAX};
use crate::glob::Glob;
use crate::json::Json;
use crate::principal::PrincipalSet;
use crate::resource::{parse_resources, ResourcePattern};

/// The longest policy accepted, in characters, whitespace not counted (as AWS counts).
pub const MAX_POLICY_CHARS: usize = 10_240;

/// Where a policy is used: decides whether `Principal`/`NotPrincipal` are required
/// (Resource, Trust) or forbidden (Identity, Boundary, Session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Identity,
    Resource,
    Trust,
    Boundary,
    Session,
}

impl PolicyKind {
    fn takes_principal(self) -> bool {
        matches!(self, PolicyKind::Resource | PolicyKind::Trust)
    }
}

/// A parsed policy document, pre-compiled for fast matching.
#[derive(Debug, Clone)]
pub struct Policy {
    kind: PolicyKind,
    text: String,
    pub(crate) statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// `Action`/`Resource`/`Principal` or their `Not` forms.
#[derive(Debug, Clone)]
pub(crate) struct Listed<T> {
    pub(crate) not: bool,
    pub(crate) items: Vec<T>,
}

#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    /// Invariant: patterns compiled from lowercased text (matched with folding).
    pub(crate) actions: Listed<Glob>,
    /// `None`: no Resource element (allowed in trust policies), matches everything.
    pub(crate) resources: Option<Listed<ResourcePattern>>,
    pub(crate) principals: Option<Listed<PrincipalSet>>,
    pub(crate) conditions: Vec<Condition>,
}

impl Policy {
    /// Parses and validates a policy document, reporting every problem with its path.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyErrors> {
        let mut problems = Problems::default();
        if text.chars().filter(|c| !c.is_whitespace()).count() > MAX_POLICY_CHARS {
            problems.push("", format!("Cannot exceed quota for PolicySize: {MAX_POLICY_CHARS}"));
        }
        let statements = match Json::parse(text) {
            Ok(doc) => parse_document(&doc, kind, &mut problems),
            Err(_) => {
                problems.push("", SYNTAX);
                Vec::new()
            }
        };
        if problems.0.is_empty() {
            Ok(Policy { kind, text: text.to_string(), statements })
        } else {
            Err(PolicyErrors(problems.0))
        }
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The document as given, unchanged.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }
}

/// Reports every key that appears twice in one object.
pub(crate) fn check_duplicates(members: &[(String, Json)], path: &str, problems: &mut Problems) {
    for (i, (key, _)) in members.iter().enumerate() {
        if members[..i].iter().any(|(k, _)| k == key) {
            problems.push(join(path, key), SYNTAX);
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A string or an array of strings, each with its path (`P[i]` inside an array).
/// Reports non-strings; `None` if the value is neither form.
pub(crate) fn string_list(raw: &Json, path: &str, problems: &mut Problems) -> Option<Vec<(String, String)>> {
    match raw {
        Json::String(s) => Some(vec![(path.to_string(), s.clone())]),
        Json::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Json::String(s) => out.push((format!("{path}[{i}]"), s.clone())),
                    // AWS ignores nulls inside lists.
                    Json::Null => {}
                    _ => problems.push(format!("{path}[{i}]"), SYNTAX),
                }
            }
            Some(out)
        }
        _ => {
            problems.push(path, SYNTAX);
            None
        }
    }
}

fn parse_document(doc: &Json, kind: PolicyKind, problems: &mut Problems) -> Vec<Statement> {
    let Json::Object(members) = doc else {
        problems.push("", SYNTAX);
        return Vec::new();
    };
    check_duplicates(members, "", problems);
    let mut variables = false;
    let mut statement = None;
    for (key, value) in members {
        match key.as_str() {
            "Version" => match value {
                Json::String(v) if v == "2012-10-17" => variables = true,
                Json::String(v) if v == "2008-10-17" => {}
                _ => problems.push("Version", SYNTAX),
            },
            "Id" if !matches!(value, Json::String(_)) => problems.push("Id", SYNTAX),
            "Id" if !kind.takes_principal() => problems.push("Id", "Id is not allowed in identity-based policies."),
            "Id" => {}
            "Statement" => statement = Some(value),
            other => problems.push(other, SYNTAX),
        }
    }
    let raw: Vec<(String, &Json)> = match statement {
        None => {
            problems.push("Statement", SYNTAX);
            return Vec::new();
        }
        Some(Json::Array(items)) if items.is_empty() => {
            problems.push("Statement", SYNTAX);
            return Vec::new();
        }
        Some(Json::Array(items)) => items.iter().enumerate().map(|(i, s)| (format!("Statement[{i}]"), s)).collect(),
        Some(single) => vec![("Statement".to_string(), single)],
    };
    let mut statements = Vec::with_capacity(raw.len());
    let mut sids: Vec<&str> = Vec::new();
    for (path, value) in raw {
        // Checked on the raw object so that it is reported even when the statement
        // has other problems; empty Sids are exempt (AWS accepts several).
        if let Json::Object(members) = value {
            if let Some((_, Json::String(sid))) = members.iter().find(|(k, _)| k == "Sid") {
                if !sid.is_empty() && sids.contains(&sid.as_str()) {
                    problems.push(format!("{path}.Sid"), "Statement IDs (SID) in a single policy must be unique.");
                }
                sids.push(sid);
            }
        }
        if let Some(s) = parse_statement(value, &path, kind, variables, problems) {
            statements.push(s);
        }
    }
    statements
}

fn parse_statement(
    value: &Json,
    path: &str,
    kind: PolicyKind,
    variables: bool,
    problems: &mut Problems,
) -> Option<Statement> {
    let Json::Object(members) = value else {
        problems.push(path, SYNTAX);
        return None;
    };
    let before = problems.0.len();
    check_duplicates(members, path, problems);
    let field = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    for (key, _) in members {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            problems.push(join(path, key), SYNTAX);
        }
    }
    let sid = match field("Sid") {
        None => None,
        Some(Json::String(s)) if s.bytes().all(|b| b.is_ascii_alphanumeric()) => Some(s.clone()),
        // Resource policies (S3's, Lambda's AddPermission) take ids IAM's own would refuse.
        Some(Json::String(s)) if kind == PolicyKind::Resource && !s.chars().any(char::is_control) => Some(s.clone()),
        Some(Json::String(s)) => {
            problems.push(join(path, "Sid"), format!("Statement IDs (SID) must be alpha-numeric: {s:?}"));
            None
        }
        Some(_) => {
            problems.push(join(path, "Sid"), SYNTAX);
            None
        }
    };
    let effect = match field("Effect") {
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        Some(Json::String(e)) if e.eq_ignore_ascii_case("allow") || e.eq_ignore_ascii_case("deny") => {
            problems.push(join(path, "Effect"), LEGACY);
            Effect::Deny
        }
        Some(_) => {
            problems.push(join(path, "Effect"), SYNTAX);
            Effect::Deny
        }
        None => {
            problems.push(path, SYNTAX);
            Effect::Deny
        }
    };
    let principals = parse_principals(path, kind, &field, problems);
    let actions = match pick(path, "Action", "NotAction", &field, problems) {
        Some((not, name, raw)) => {
            let items = parse_actions(raw, &join(path, name), problems);
            if matches!(raw, Json::Array(items) if items.is_empty()) {
                problems.push(path, "Policy statement must contain actions.");
            }
            Listed { not, items }
        }
        None => {
            problems.push(path, "Policy statement must contain actions.");
            Listed { not: false, items: Vec::new() }
        }
    };
    let resources = match pick(path, "Resource", "NotResource", &field, problems) {
        Some((not, name, raw)) => {
            let items = parse_resources(raw, &join(path, name), variables, problems);
            if matches!(raw, Json::Array(items) if items.is_empty()) {
                problems.push(path, "Policy statement must contain resources.");
            }
            Some(Listed { not, items })
        }
        None if kind == PolicyKind::Trust => None,
        None => {
            problems.push(path, "Policy statement must contain resources.");
            None
        }
    };
    let conditions = match field("Condition") {
        Some(block) => condition::parse_block(block, &join(path, "Condition"), variables, problems),
        None => Vec::new(),
    };
    (problems.0.len() == before).then_some(Statement { sid, effect, actions, resources, principals, conditions })
}

type Field<'a> = dyn Fn(&str) -> Option<&'a Json> + 'a;

/// The element and its `Not` form: at most one may be present.
fn pick<'a>(
    path: &str,
    name: &'static str,
    not_name: &'static str,
    field: &Field<'a>,
    problems: &mut Problems,
) -> Option<(bool, &'static str, &'a Json)> {
    match (field(name), field(not_name)) {
        (Some(_), Some(_)) => {
            problems.push(join(path, not_name), SYNTAX);
            None
        }
        (Some(raw), None) => Some((false, name, raw)),
        (None, Some(raw)) => Some((true, not_name, raw)),
        (None, None) => None,
    }
}

fn parse_principals(
    path: &str,
    kind: PolicyKind,
    field: &Field<'_>,
    problems: &mut Problems,
) -> Option<Listed<PrincipalSet>> {
    let present = field("Principal").is_some() || field("NotPrincipal").is_some();
    if !kind.takes_principal() {
        if present {
            let name = if field("Principal").is_some() { "Principal" } else { "NotPrincipal" };
            problems.push(join(path, name), "Policy document should not specify a principal.");
        }
        return None;
    }
    if !present {
        problems.push(path, "Missing required field Principal");
        return None;
    }
    let (not, name, raw) = pick(path, "Principal", "NotPrincipal", field, problems)?;
    Some(Listed { not, items: vec![PrincipalSet::parse(raw, &join(path, name), problems)] })
}

fn parse_actions(raw: &Json, path: &str, problems: &mut Problems) -> Vec<Glob> {
    let Some(list) = string_list(raw, path, problems) else { return Vec::new() };
    let mut out = Vec::with_capacity(list.len());
    for (item_path, action) in list {
        if action == "*" {
            out.push(Glob::new("*"));
            continue;
        }
        match action.split_once(':') {
            None => {
                problems.push(item_path, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
            }
            Some((_, name)) if name.contains(':') => {
                problems.push(item_path, "Actions/Condition can contain only one colon.")
            }
            Some((vendor, _)) if vendor.is_empty() || !vendor.bytes().all(vendor_byte) => {
                problems.push(item_path, format!("Vendor {vendor} is not valid"))
            }
            Some(_) => out.push(Glob::new(&action.to_ascii_lowercase())),
        }
    }
    out
}

fn vendor_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*' | b'?')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(text: &str, kind: PolicyKind) -> Vec<String> {
        Policy::parse(text, kind).expect_err("invalid").0.into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn statement_object_and_array_paths() {
        let one = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3","Resource":"*"}}"#;
        assert_eq!(paths(one, PolicyKind::Identity), ["Statement.Action"]);
        let two = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Allow","Action":["s3:a","s3"],"Resource":"*"}]}"#;
        assert_eq!(paths(two, PolicyKind::Identity), ["Statement[1].Action[1]"]);
    }

    #[test]
    fn text_kind_and_count_are_kept() {
        let text = r#"{ "Statement": [ {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","Action":"iam:*","Resource":"*"} ] }"#;
        let policy = Policy::parse(text, PolicyKind::Session).unwrap();
        assert_eq!((policy.text(), policy.kind(), policy.statement_count()), (text, PolicyKind::Session, 2));
    }

    #[test]
    fn principal_rules_depend_on_kind() {
        let with =
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#;
        assert!(Policy::parse(with, PolicyKind::Resource).is_ok());
        assert_eq!(paths(with, PolicyKind::Boundary), ["Statement.Principal"]);
        let without = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#;
        assert_eq!(paths(without, PolicyKind::Trust), ["Statement"]);
    }
}
