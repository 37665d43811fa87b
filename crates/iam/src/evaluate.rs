//! AWS's single-account policy evaluation.
//!
//! 1. Root is always allowed, and so is `sts:GetCallerIdentity`.
//! 2. A matching Deny in any layer decides: explicitly denied.
//! 3. A resource-policy Allow naming the user or the session itself decides: allowed.
//! 4. Otherwise an identity Allow, or a resource-policy Allow naming the role, is
//!    needed; the permissions boundary and the session policy must then each allow
//!    too (they are ceilings and never grant by themselves).

use crate::arn::ArnPattern;
use crate::context::Context;
use crate::policy::{Effect, Listed, Policy, Statement};
use crate::principal::{Caller, Named};
use crate::resource::ResourcePattern;

/// One request to decide.
pub struct Request<'a> {
    pub caller: &'a Caller,
    pub action: &'a str,
    pub resource: &'a str,
    pub context: &'a Context,
}

/// A policy with the name it is reported by (a managed policy's ARN, `inline/NAME`, ...).
#[derive(Clone, Copy)]
pub struct NamedPolicy<'a> {
    pub name: &'a str,
    pub policy: &'a Policy,
}

/// Every policy that applies to one request, by layer.
#[derive(Default, Clone, Copy)]
pub struct Policies<'a> {
    pub identity: &'a [NamedPolicy<'a>],
    /// A bucket, repository or function policy, or a role's trust policy.
    pub resource: Option<NamedPolicy<'a>>,
    pub boundary: Option<NamedPolicy<'a>>,
    pub session: Option<NamedPolicy<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    ImplicitlyDenied,
    ExplicitlyDenied,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Identity,
    Resource,
    Boundary,
    Session,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The statement that decided: the matching Deny, or the Allow that granted (for
    /// an implicit deny, and for root and `sts:GetCallerIdentity`: `None`).
    pub deciding: Option<DecidingStatement>,
    /// For an implicit deny: the layer that had no Allow (Identity when neither the
    /// identity nor the resource policy allowed).
    pub missing: Option<Layer>,
}

/// A statement, by policy name, layer, index in the policy and Sid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidingStatement {
    pub policy: String,
    pub layer: Layer,
    pub index: usize,
    pub sid: Option<String>,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allowed
    }

    /// AWS's access-denied wording.
    pub fn denial_message(&self, caller_arn: &str, action: &str, resource: &str) -> String {
        let head = format!("User: {caller_arn} is not authorized to perform: {action} on resource: {resource}");
        match (self.outcome, &self.deciding, self.missing) {
            (Outcome::Allowed, _, _) => {
                format!("User: {caller_arn} is authorized to perform: {action} on resource: {resource}")
            }
            (Outcome::ExplicitlyDenied, Some(d), _) => {
                let policy_type = match d.layer {
                    Layer::Identity => "an identity-based policy",
                    Layer::Resource => "a resource-based policy",
                    Layer::Boundary => "a permissions boundary",
                    Layer::Session => "a session policy",
                };
                format!("{head} with an explicit deny in {policy_type}")
            }
            (_, _, Some(Layer::Boundary)) => {
                format!("{head} because no permissions boundary allows the {action} action")
            }
            (_, _, Some(Layer::Session)) => format!("{head} because no session policy allows the {action} action"),
            (_, _, Some(Layer::Resource)) => {
                format!("{head} because no resource-based policy allows the {action} action")
            }
            _ => format!("{head} because no identity-based policy allows the {action} action"),
        }
    }
}

/// The request as matching needs it (action lowercased once).
struct Prepared<'a> {
    caller: &'a Caller,
    action: String,
    resource: &'a str,
    context: &'a Context,
}

/// AWS's single-account evaluation; see the module documentation.
pub fn evaluate(request: &Request, policies: &Policies) -> Decision {
    if *request.caller == Caller::Root || request.action.eq_ignore_ascii_case("sts:GetCallerIdentity") {
        return Decision { outcome: Outcome::Allowed, deciding: None, missing: None };
    }
    let req = Prepared {
        caller: request.caller,
        action: request.action.to_ascii_lowercase(),
        resource: request.resource,
        context: request.context,
    };
    let layers = [
        (Layer::Identity, policies.identity),
        (Layer::Resource, policies.resource.as_slice()),
        (Layer::Boundary, policies.boundary.as_slice()),
        (Layer::Session, policies.session.as_slice()),
    ];
    for (layer, named) in layers {
        for policy in named {
            if let Some((index, _)) = first_match(policy.policy, Effect::Deny, &req) {
                return decided(Outcome::ExplicitlyDenied, policy, layer, index);
            }
        }
    }
    let resource_allow = policies.resource.and_then(|p| first_match(p.policy, Effect::Allow, &req).map(|m| (p, m)));
    if let Some((policy, (index, Named::Direct))) = resource_allow {
        return decided(Outcome::Allowed, &policy, Layer::Resource, index);
    }
    let identity_allow = policies
        .identity
        .iter()
        .find_map(|p| first_match(p.policy, Effect::Allow, &req).map(|(index, _)| (*p, Layer::Identity, index)));
    let granted = identity_allow.or(match resource_allow {
        Some((policy, (index, Named::Role))) => Some((policy, Layer::Resource, index)),
        _ => None,
    });
    let Some((policy, layer, index)) = granted else {
        return implicit(Layer::Identity);
    };
    if let Some(boundary) = policies.boundary {
        if first_match(boundary.policy, Effect::Allow, &req).is_none() {
            return implicit(Layer::Boundary);
        }
    }
    if let Some(session) = policies.session {
        if first_match(session.policy, Effect::Allow, &req).is_none() {
            return implicit(Layer::Session);
        }
    }
    decided(Outcome::Allowed, &policy, layer, index)
}

fn decided(outcome: Outcome, policy: &NamedPolicy, layer: Layer, index: usize) -> Decision {
    let sid = policy.policy.statements[index].sid.clone();
    Decision {
        outcome,
        deciding: Some(DecidingStatement { policy: policy.name.to_string(), layer, index, sid }),
        missing: None,
    }
}

fn implicit(missing: Layer) -> Decision {
    Decision { outcome: Outcome::ImplicitlyDenied, deciding: None, missing: Some(missing) }
}

/// The first statement with `effect` that applies, with how its principal names the
/// caller (`Direct` where the policy has no principal). For Allow, a statement whose
/// principal only names the account does not count; a stronger naming later wins.
fn first_match(policy: &Policy, effect: Effect, req: &Prepared) -> Option<(usize, Named)> {
    let mut best: Option<(usize, Named)> = None;
    for (index, statement) in policy.statements.iter().enumerate() {
        if statement.effect != effect {
            continue;
        }
        let named = principal_naming(statement, req.caller);
        let counts = match effect {
            Effect::Deny => named != Named::No,
            Effect::Allow => named >= Named::Role,
        };
        if !counts || best.is_some_and(|(_, b)| b >= named) || !applies(statement, req) {
            continue;
        }
        if named == Named::Direct || effect == Effect::Deny {
            return Some((index, named));
        }
        best = Some((index, named));
    }
    best
}

fn principal_naming(statement: &Statement, caller: &Caller) -> Named {
    match &statement.principals {
        None => Named::Direct,
        Some(Listed { not: false, items }) => items.iter().map(|p| p.names(caller)).max().unwrap_or(Named::No),
        Some(Listed { not: true, items }) => {
            if items.iter().any(|p| p.names(caller) != Named::No) {
                Named::No
            } else {
                // Everyone not listed: treated like `*`.
                match caller {
                    Caller::AssumedRole { .. } => Named::Role,
                    _ => Named::Direct,
                }
            }
        }
    }
}

/// Action, resource and conditions (the principal is checked by the caller).
fn applies(statement: &Statement, req: &Prepared) -> bool {
    let actions = &statement.actions;
    if actions.items.iter().any(|g| g.matches(&req.action)) == actions.not {
        return false;
    }
    if let Some(resources) = &statement.resources {
        let hit = resources.items.iter().any(|r| resource_matches(r, req.resource, req.context));
        if hit == resources.not {
            return false;
        }
    }
    statement.conditions.iter().all(|c| c.holds(req.context))
}

fn resource_matches(pattern: &ResourcePattern, resource: &str, ctx: &Context) -> bool {
    match pattern {
        ResourcePattern::Any => true,
        ResourcePattern::Fixed(arn) => arn.matches(resource),
        // A variable without a value: this entry matches nothing.
        ResourcePattern::Variable(template) => template
            .resolve_toks(ctx)
            .and_then(|toks| ArnPattern::from_toks(&toks, true))
            .is_some_and(|arn| arn.matches(resource)),
    }
}
