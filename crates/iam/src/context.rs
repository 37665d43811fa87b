//! The request context: condition keys and their values, as the caller hands them in.

use std::collections::HashMap;

/// A context key's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextValue {
    /// A single-valued key (`aws:SourceIp`, `aws:username`, ...).
    Single(String),
    /// A multivalued key (`aws:TagKeys`); may be empty.
    Multi(Vec<String>),
}

impl ContextValue {
    /// The values as a slice (one element for a single value).
    pub(crate) fn values(&self) -> &[String] {
        match self {
            ContextValue::Single(v) => std::slice::from_ref(v),
            ContextValue::Multi(vs) => vs,
        }
    }
}

/// Condition keys to values. Key names are case-insensitive, the tag-key part of
/// `aws:PrincipalTag/K` included.
#[derive(Debug, Clone, Default)]
pub struct Context {
    // Invariant: every key is stored lowercased.
    values: HashMap<String, ContextValue>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Sets a single-valued key (replacing any earlier value).
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.to_lowercase(), ContextValue::Single(value.into()));
        self
    }

    /// Sets a multivalued key such as `aws:TagKeys`.
    pub fn set_multi(&mut self, key: &str, values: Vec<String>) -> &mut Self {
        self.values.insert(key.to_lowercase(), ContextValue::Multi(values));
        self
    }

    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        self.values.get(&key.to_lowercase())
    }

    /// Lookup by an already lowercased key (no allocation).
    pub(crate) fn get_lower(&self, key: &str) -> Option<&ContextValue> {
        self.values.get(key)
    }

    /// The value of a single-valued key, for policy variables (multivalued keys
    /// cannot be variables).
    pub(crate) fn single_lower(&self, key: &str) -> Option<&str> {
        match self.values.get(key)? {
            ContextValue::Single(v) => Some(v),
            ContextValue::Multi(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive() {
        let mut ctx = Context::new();
        ctx.set("aws:PrincipalTag/Team", "a").set_multi("aws:TagKeys", vec!["x".into()]);
        assert_eq!(ctx.get("AWS:principaltag/team"), Some(&ContextValue::Single("a".into())));
        assert_eq!(ctx.get("aws:tagkeys").map(ContextValue::values), Some(&["x".to_string()][..]));
        assert_eq!(ctx.single_lower("aws:tagkeys"), None);
    }
}
