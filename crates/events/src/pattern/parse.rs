//! Parsing and validation of pattern JSON into a [`Node`] tree, and its expansion
//! into disjunctive normal form (one conjunction of field conditions per `$or` choice).

use serde_json::{Map, Value};

use super::value::{fold, Cidr, Excluded, Glob, Literal, NumRange, Op, F64};
use crate::Error;

/// Deepest pattern nesting accepted (objects and `$or` levels).
const MAX_DEPTH: usize = 64;
/// Most conjunctions a pattern may expand to through its `$or`s.
pub(crate) const MAX_BRANCHES: usize = 1024;

/// One pattern object: its fields and, when it has `$or`, the alternatives (each is
/// merged with the sibling fields).
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) fields: Vec<(String, Field)>,
    /// Empty when the object has no `$or`; otherwise at least two alternatives.
    pub(crate) alternatives: Vec<Node>,
}

#[derive(Clone, Debug)]
pub(crate) enum Field {
    Object(Node),
    /// The leaf matchers; an empty list matches nothing.
    Values(Vec<Op>),
}

/// One field condition of a conjunction: the key path and its value matchers
/// (sorted, deduplicated), any of which may match.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Cond {
    pub(crate) path: Vec<String>,
    pub(crate) ops: Vec<Op>,
}

/// Parses and validates a whole pattern.
pub(crate) fn parse_pattern(value: &Value) -> Result<Node, Error> {
    let Value::Object(map) = value else {
        return Err(Error::pattern("$", "pattern must be a JSON object"));
    };
    let node = parse_object(map, "", 0)?;
    if branch_count(&node) > MAX_BRANCHES {
        let msg = format!("$or combinations expand to more than {MAX_BRANCHES} alternatives");
        return Err(Error::pattern("$", msg));
    }
    Ok(node)
}

/// Display form of a path: `$` for the root.
fn shown(path: &str) -> &str {
    if path.is_empty() {
        "$"
    } else {
        path
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn parse_object(map: &Map<String, Value>, path: &str, depth: usize) -> Result<Node, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::pattern(shown(path), "pattern is nested too deeply"));
    }
    if map.is_empty() {
        return Err(Error::pattern(shown(path), "pattern objects must not be empty"));
    }
    let mut node = Node { fields: Vec::with_capacity(map.len()), alternatives: Vec::new() };
    for (key, value) in map {
        let here = join(path, key);
        if key == "$or" {
            node.alternatives = parse_or(value, &here, depth)?;
            continue;
        }
        let field = match value {
            Value::Object(inner) => Field::Object(parse_object(inner, &here, depth + 1)?),
            Value::Array(items) => Field::Values(parse_values(items, &here)?),
            _ => {
                let msg = "must be an array of match values or an object";
                return Err(Error::pattern(here, msg));
            }
        };
        node.fields.push((key.clone(), field));
    }
    Ok(node)
}

/// `"$or": [ {..}, {..}, .. ]`: at least two non-empty objects. Their keys name fields
/// of the object holding the `$or`; error paths show them under `$or[i]`.
fn parse_or(value: &Value, here: &str, depth: usize) -> Result<Vec<Node>, Error> {
    let msg = "$or must be an array of at least two pattern objects";
    let Value::Array(items) = value else {
        return Err(Error::pattern(here, msg));
    };
    if items.len() < 2 {
        return Err(Error::pattern(here, msg));
    }
    let mut alternatives = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{here}[{i}]");
        let Value::Object(map) = item else {
            return Err(Error::pattern(at, "each $or alternative must be a pattern object"));
        };
        if map.is_empty() {
            return Err(Error::pattern(at, "$or alternatives must not be empty"));
        }
        alternatives.push(parse_object(map, &at, depth + 1)?);
    }
    Ok(alternatives)
}

fn parse_values(items: &[Value], path: &str) -> Result<Vec<Op>, Error> {
    let mut ops = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let op = match item {
            Value::Null => Op::Literal(Literal::Null),
            Value::Bool(b) => Op::Literal(Literal::Bool(*b)),
            Value::Number(_) => Op::Literal(Literal::Num(number(item, &at)?)),
            Value::String(s) => Op::Literal(Literal::Str(s.clone())),
            Value::Array(_) => return Err(Error::pattern(at, "nested arrays are not allowed as match values")),
            Value::Object(obj) => parse_operator(obj, &at)?,
        };
        ops.push(op);
    }
    ops.sort();
    ops.dedup();
    Ok(ops)
}

fn number(value: &Value, path: &str) -> Result<F64, Error> {
    value.as_f64().map(F64).ok_or_else(|| Error::pattern(path, "must be a number"))
}

fn string<'v>(value: &'v Value, path: &str, what: &str) -> Result<&'v str, Error> {
    value.as_str().ok_or_else(|| Error::pattern(path, format!("{what} must be a string")))
}

/// The single `(key, value)` of an operator object.
fn single<'m>(obj: &'m Map<String, Value>, path: &str) -> Result<(&'m String, &'m Value), Error> {
    let mut it = obj.iter();
    match (it.next(), it.next()) {
        (Some(kv), None) => Ok(kv),
        _ => Err(Error::pattern(path, "a match expression must have exactly one operator")),
    }
}

fn parse_operator(obj: &Map<String, Value>, path: &str) -> Result<Op, Error> {
    let (name, operand) = single(obj, path)?;
    let at = format!("{path}.{name}");
    let op = match name.as_str() {
        "prefix" | "suffix" => {
            let prefix = name == "prefix";
            match operand {
                Value::String(s) if prefix => Op::Prefix(s.clone()),
                Value::String(s) => Op::Suffix(s.clone()),
                Value::Object(inner) => {
                    let s = ignore_case_operand(inner, &at)?;
                    if prefix {
                        Op::PrefixIgnoreCase(fold(s))
                    } else {
                        Op::SuffixIgnoreCase(fold(s))
                    }
                }
                _ => {
                    let msg = format!("{name} must be a string or {{\"equals-ignore-case\": string}}");
                    return Err(Error::pattern(at, msg));
                }
            }
        }
        "equals-ignore-case" => Op::EqualsIgnoreCase(fold(string(operand, &at, name)?)),
        "wildcard" => Op::Wildcard(glob(string(operand, &at, name)?, &at)?),
        "exists" => match operand {
            Value::Bool(b) => Op::Exists(*b),
            _ => return Err(Error::pattern(at, "exists must be true or false")),
        },
        "cidr" => {
            let text = string(operand, &at, name)?;
            Op::Cidr(Cidr::parse(text).map_err(|m| Error::pattern(&at, m))?)
        }
        "numeric" => Op::Numeric(numeric(operand, &at)?),
        "anything-but" => Op::AnythingBut(anything_but(operand, &at)?),
        other => return Err(Error::pattern(at, format!("unknown operator {other:?}"))),
    };
    Ok(op)
}

/// The operand of `{"prefix": {"equals-ignore-case": "s"}}`.
fn ignore_case_operand<'m>(obj: &'m Map<String, Value>, path: &str) -> Result<&'m str, Error> {
    let (name, value) = single(obj, path)?;
    let at = format!("{path}.{name}");
    if name != "equals-ignore-case" {
        return Err(Error::pattern(at, format!("unknown operator {name:?}")));
    }
    string(value, &at, name)
}

fn glob(text: &str, path: &str) -> Result<Glob, Error> {
    Glob::parse(text).map_err(|m| Error::pattern(path, m))
}

/// `[op, n]` or `[lower-op, n1, upper-op, n2]` with `n1 < n2`.
fn numeric(operand: &Value, path: &str) -> Result<NumRange, Error> {
    let shape = "numeric must be [op, number] or [\">\"|\">=\", number, \"<\"|\"<=\", number]";
    let items = match operand {
        Value::Array(items) if items.len() == 2 || items.len() == 4 => items,
        _ => return Err(Error::pattern(path, shape)),
    };
    let mut range = NumRange { lower: None, upper: None };
    for (pair, chunk) in items.chunks(2).enumerate() {
        let op_at = format!("{path}[{}]", pair * 2);
        let op = string(&chunk[0], &op_at, "numeric operator")?;
        let n = number(&chunk[1], &format!("{path}[{}]", pair * 2 + 1))?;
        match (op, pair) {
            ("=", 0) if items.len() == 2 => {
                range.lower = Some((n, true));
                range.upper = Some((n, true));
            }
            (">" | ">=", 0) => range.lower = Some((n, op == ">=")),
            ("<" | "<=", 0) if items.len() == 2 => range.upper = Some((n, op == "<=")),
            ("<" | "<=", 1) => range.upper = Some((n, op == "<=")),
            ("=" | "<" | "<=" | ">" | ">=", _) => {
                let msg = "a two-operator numeric range must be a lower bound (> or >=) then an upper bound (< or <=)";
                return Err(Error::pattern(op_at, msg));
            }
            _ => return Err(Error::pattern(op_at, format!("unknown numeric operator {op:?}"))),
        }
    }
    if let (Some((lo, _)), Some((hi, _))) = (range.lower, range.upper) {
        if items.len() == 4 && lo.0 >= hi.0 {
            return Err(Error::pattern(path, "numeric range lower bound must be below the upper bound"));
        }
    }
    Ok(range)
}

fn anything_but(operand: &Value, path: &str) -> Result<Excluded, Error> {
    let mut strings = Vec::new();
    let mut numbers = Vec::new();
    match operand {
        Value::String(s) => strings.push(s.clone()),
        Value::Number(_) => numbers.push(number(operand, path)?),
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => strings.push(s.clone()),
                    Value::Number(_) => numbers.push(number(item, path)?),
                    _ => {
                        let msg = "anything-but lists may hold only strings and numbers";
                        return Err(Error::pattern(format!("{path}[{i}]"), msg));
                    }
                }
            }
        }
        Value::Object(obj) => return anything_but_object(obj, path),
        _ => {
            let msg = "anything-but must be a string, a number, a non-empty array of them, or an object";
            return Err(Error::pattern(path, msg));
        }
    }
    strings.sort();
    strings.dedup();
    numbers.sort();
    numbers.dedup();
    Ok(Excluded::Values { strings, numbers })
}

/// `{"prefix": s}`, `{"suffix": s}`, `{"wildcard": s | [s..]}`, `{"equals-ignore-case": s | [s..]}`.
fn anything_but_object(obj: &Map<String, Value>, path: &str) -> Result<Excluded, Error> {
    let (name, value) = single(obj, path)?;
    let at = format!("{path}.{name}");
    let excluded = match name.as_str() {
        "prefix" | "suffix" => {
            let s = string(value, &at, name)?;
            if s.is_empty() {
                return Err(Error::pattern(at, format!("anything-but {name} must not be empty")));
            }
            if name == "prefix" {
                Excluded::Prefix(s.to_string())
            } else {
                Excluded::Suffix(s.to_string())
            }
        }
        "wildcard" => {
            let mut globs =
                string_list(value, &at, name)?.iter().map(|(s, p)| glob(s, p)).collect::<Result<Vec<_>, _>>()?;
            globs.sort();
            globs.dedup();
            Excluded::Wildcard(globs)
        }
        "equals-ignore-case" => {
            let mut list: Vec<String> = string_list(value, &at, name)?.iter().map(|(s, _)| fold(s)).collect();
            list.sort();
            list.dedup();
            Excluded::EqualsIgnoreCase(list)
        }
        other => {
            let msg = format!("unsupported anything-but operator {other:?}");
            return Err(Error::pattern(at, msg));
        }
    };
    Ok(excluded)
}

/// A string or a non-empty array of strings, each with its path.
fn string_list<'v>(value: &'v Value, path: &str, what: &str) -> Result<Vec<(&'v str, String)>, Error> {
    match value {
        Value::String(s) => Ok(vec![(s.as_str(), path.to_string())]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let at = format!("{path}[{i}]");
                string(v, &at, what).map(|s| (s, at))
            })
            .collect(),
        _ => Err(Error::pattern(path, format!("{what} must be a string or a non-empty array of strings"))),
    }
}

/// How many conjunctions `node` expands to (saturating).
fn branch_count(node: &Node) -> usize {
    let mut count: usize = 1;
    for (_, field) in &node.fields {
        if let Field::Object(inner) = field {
            count = count.saturating_mul(branch_count(inner));
        }
    }
    if !node.alternatives.is_empty() {
        let alts = node.alternatives.iter().map(branch_count).fold(0usize, usize::saturating_add);
        count = count.saturating_mul(alts);
    }
    count
}

/// Disjunctive normal form: every conjunction of conditions the pattern allows,
/// each sorted by (path, matchers) and deduplicated.
pub(crate) fn expand(node: &Node) -> Vec<Vec<Cond>> {
    let mut branches = expand_at(node, &[]);
    for branch in &mut branches {
        branch.sort();
        branch.dedup();
    }
    branches
}

fn expand_at(node: &Node, prefix: &[String]) -> Vec<Vec<Cond>> {
    let mut acc: Vec<Vec<Cond>> = vec![Vec::new()];
    for (key, field) in &node.fields {
        let mut path = prefix.to_vec();
        path.push(key.clone());
        match field {
            Field::Values(ops) => {
                for branch in &mut acc {
                    branch.push(Cond { path: path.clone(), ops: ops.clone() });
                }
            }
            Field::Object(inner) => acc = cross(&acc, &expand_at(inner, &path)),
        }
    }
    if !node.alternatives.is_empty() {
        let alts: Vec<Vec<Cond>> = node.alternatives.iter().flat_map(|alt| expand_at(alt, prefix)).collect();
        acc = cross(&acc, &alts);
    }
    acc
}

fn cross(left: &[Vec<Cond>], right: &[Vec<Cond>]) -> Vec<Vec<Cond>> {
    let mut out = Vec::with_capacity(left.len() * right.len());
    for l in left {
        for r in right {
            let mut both = l.clone();
            both.extend(r.iter().cloned());
            out.push(both);
        }
    }
    out
}
