//! trainyard's IAM policy evaluator: parsing and validating AWS-style JSON policy
//! documents (identity, resource, trust, permissions-boundary and session policies),
//! and deciding requests with AWS's single-account evaluation logic, conditions and
//! policy variables included.
//!
//! This crate is pure domain logic. It must never do I/O: no files, no sockets, no
//! database, no clocks other than values handed in (`aws:CurrentTime` and friends
//! come in the request [`Context`]). It never invents context values either.
//! Wildcard matching is an iterative O(n·m) matcher: no backtracking engine ever
//! sees a user's pattern.

mod arn;
mod builtin;
mod condition;
mod context;
mod error;
mod evaluate;
mod glob;
mod json;
mod policy;
mod principal;
mod resource;
mod template;

pub use arn::{action_matches, arn_matches};
pub use builtin::builtin_policies;
pub use context::{Context, ContextValue};
pub use error::{PolicyErrors, PolicyProblem};
pub use evaluate::{evaluate, DecidingStatement, Decision, Layer, NamedPolicy, Outcome, Policies, Request};
pub use policy::{Policy, PolicyKind, MAX_POLICY_CHARS};
pub use principal::Caller;

/// The partition in every trainyard ARN.
pub const PARTITION: &str = "aws";
/// The region in every trainyard ARN.
pub const REGION: &str = "local";
/// The one account of a trainyard installation.
pub const ACCOUNT: &str = "000000000000";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_types_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Policy>();
        send_sync::<Context>();
        send_sync::<Decision>();
        send_sync::<PolicyErrors>();
    }

    #[test]
    fn caller_arns() {
        assert_eq!(Caller::Root.arn(), "arn:aws:iam::000000000000:root");
        let session = "arn:aws:sts::000000000000:assumed-role/r/s".to_string();
        let caller =
            Caller::AssumedRole { role_arn: "arn:aws:iam::000000000000:role/r".into(), session_arn: session.clone() };
        assert_eq!(caller.arn(), session);
    }

    #[test]
    fn denial_messages_use_aws_wording() {
        let user = "arn:aws:iam::000000000000:user/alice";
        let implicit = Decision { outcome: Outcome::ImplicitlyDenied, deciding: None, missing: Some(Layer::Identity) };
        assert_eq!(
            implicit.denial_message(user, "s3:GetObject", "arn:aws:s3:::b/k"),
            "User: arn:aws:iam::000000000000:user/alice is not authorized to perform: s3:GetObject on resource: \
             arn:aws:s3:::b/k because no identity-based policy allows the s3:GetObject action"
        );
        let boundary = Decision { missing: Some(Layer::Boundary), ..implicit.clone() };
        assert!(boundary
            .denial_message(user, "a:b", "r")
            .ends_with("because no permissions boundary allows the a:b action"));
        let session = Decision { missing: Some(Layer::Session), ..implicit };
        assert!(session.denial_message(user, "a:b", "r").ends_with("because no session policy allows the a:b action"));
        let deciding = DecidingStatement { policy: "p".into(), layer: Layer::Identity, index: 0, sid: None };
        let explicit = Decision { outcome: Outcome::ExplicitlyDenied, deciding: Some(deciding), missing: None };
        assert!(explicit
            .denial_message(user, "a:b", "r")
            .ends_with("with an explicit deny in an identity-based policy"));
    }
}
