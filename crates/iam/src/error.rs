//! Validation problems of a policy document.

use std::fmt;

/// One problem found in a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    /// JSON path of the offending element, like `Statement[1].Condition.StringEquals`
    /// (`Statement.Action` when `Statement` is a single object; `""` for the document).
    pub path: String,
    /// AWS's wording where AWS has one ("Syntax errors in policy.", ...).
    pub message: String,
}

/// Every problem found in a policy document, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyErrors(pub Vec<PolicyProblem>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", problem.path, problem.message)?;
        }
        Ok(())
    }
}

/// AWS's message for anything structurally wrong.
pub(crate) const SYNTAX: &str = "Syntax errors in policy.";
/// AWS's message for values its legacy parser rejects (bad dates, short ARNs, ...).
pub(crate) const LEGACY: &str = "The policy failed legacy parsing";

/// Collects problems while the document is walked.
#[derive(Default)]
pub(crate) struct Problems(pub(crate) Vec<PolicyProblem>);

impl Problems {
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(PolicyProblem { path: path.into(), message: message.into() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_problems() {
        let errors = PolicyErrors(vec![
            PolicyProblem { path: "Statement[0].Action".into(), message: "a".into() },
            PolicyProblem { path: "".into(), message: "b".into() },
        ]);
        assert_eq!(errors.to_string(), "Statement[0].Action: a; : b");
    }
}
