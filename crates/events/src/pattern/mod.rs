//! The EventBridge event-pattern language (as in aws/event-ruler): parsing and
//! validation ([`Pattern::parse`]), a slow obviously-correct reference evaluator
//! ([`Pattern::matches`], used by `TestEventPattern` and as the test oracle), and
//! the compiled many-rule [`Matcher`], whose matching cost does not grow with the
//! number of rules.
//!
//! Semantics, where EventBridge leaves room for choice:
//! - An event is flattened into (key path, leaf value) pairs. Arrays are
//!   transparent; objects and empty arrays contribute no value at their own path.
//!   Key paths are sequences of keys, so an event key `"a.b"` is not the path `a`,`b`.
//! - Array consistency: the leaves chosen to satisfy one `$or` alternative must,
//!   for every event array they are all inside, come from the same element of it.
//!   Leaves directly in an array (not inside an object or array element) are not
//!   pinned to their element.
//! - `exists: false` holds when the path has no leaf anywhere in the event; it is
//!   not judged per array element and pins nothing. `null` is a value: it
//!   satisfies `exists: true` and defeats `exists: false`.
//! - Numbers compare numerically as f64 (`5` matches `5.0`); strings never equal
//!   numbers. Ignore-case operators compare per-character Unicode lowercase.
//! - `anything-but` matches any present leaf that is not excluded; a string form
//!   only excludes strings and a number form only numbers, so e.g. `null`, booleans
//!   and numbers match `{"anything-but": "x"}` (as event-ruler does).
//! - `$or` alternatives are merged with their sibling keys; a key present in both
//!   becomes two conditions that must both hold.
//! - Rejected, as event-ruler does: empty objects at any level, `$or` with fewer than
//!   two alternatives. Rejected beyond it: more than 1 024 `$or` combinations in one
//!   pattern, nesting deeper than 64. Accepted (event-ruler refuses them): empty match
//!   arrays `[]`, which match nothing, and `anything-but` lists mixing strings and
//!   numbers.
//! - `Matcher::add_rule` with an id already present replaces that rule.

mod affix;
mod bloom;
mod collections;
mod compiled;
mod event;
mod index;
mod interval;
mod matcher;
mod operand;
mod pages;
mod parse;
mod reference;
mod table;
#[cfg(test)]
mod tests;
mod value;
mod walk;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::Error;
pub use matcher::Matcher;
use parse::{Cond, Node};

/// A parsed, validated event pattern. Cheap to clone.
#[derive(Clone)]
pub struct Pattern {
    inner: Arc<Inner>,
}

/// Kept small, as a bus may hold a hundred thousand patterns: the JSON as compact
/// text (a `Value` costs several times more) and the parsed tree, from which the
/// matcher expands the `$or` branches when the rule is added.
struct Inner {
    text: Box<str>,
    root: Node,
}

impl Pattern {
    /// Validates a pattern; errors name the offending path (`$` for the root).
    pub fn parse(value: &Value) -> Result<Pattern, Error> {
        let root = parse::parse_pattern(value)?;
        Ok(Pattern { inner: Arc::new(Inner { text: value.to_string().into(), root }) })
    }

    /// Parses pattern text; a JSON syntax error is reported at path `$`.
    pub fn parse_str(text: &str) -> Result<Pattern, Error> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| Error::pattern("$", format!("pattern is not valid JSON: {e}")))?;
        Pattern::parse(&value)
    }

    /// Reference evaluator: straightforward, obviously correct, slow. Used by
    /// `TestEventPattern` and as the oracle for [`Matcher`].
    pub fn matches(&self, event: &Value) -> bool {
        reference::matches(&self.inner.root, event)
    }

    /// The pattern as it was given (same keys, order and values).
    pub fn to_json(&self) -> Value {
        // Invariant: `text` is serde_json's own rendering of a `Value`, which parses back
        // to an equal `Value`; the fallback is unreachable.
        serde_json::from_str(&self.inner.text).unwrap_or_default()
    }

    /// Disjunctive normal form: each conjunction sorted by (path, matchers).
    pub(crate) fn branches(&self) -> Vec<Vec<Cond>> {
        parse::expand(&self.inner.root)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.inner.text).finish()
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.inner.text == other.inner.text
    }
}
