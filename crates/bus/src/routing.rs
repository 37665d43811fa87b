//! The routing cache: per event bus, one compiled matcher over its enabled rules, the
//! targets of each rule, the archives, and the functions by name.

use std::collections::HashMap;

use serde_json::Value;
use trainyard_events::{Matcher, Pattern};
use trainyard_store::{Function, Store, Target};

use crate::Error;

#[derive(Default)]
pub(crate) struct BusRouting {
    matcher: Matcher<String>,
    /// Target ids of each rule (enabled or not).
    targets_by_rule: HashMap<String, Vec<String>>,
    archives: Vec<(String, Option<Pattern>)>,
}

/// An immutable snapshot; replaced whole when anything it holds changes.
#[derive(Default)]
pub(crate) struct Routing {
    buses: HashMap<String, BusRouting>,
    targets: HashMap<(String, String, String), Target>,
    functions: HashMap<String, Function>,
    rule_arns: HashMap<(String, String), String>,
}

impl Routing {
    pub(crate) async fn load(store: &Store) -> Result<Routing, Error> {
        let mut routing = Routing::default();
        for bus in store.list_buses().await? {
            routing.buses.insert(bus.name, BusRouting::default());
        }
        for rule in store.list_rules(None).await? {
            let Some(bus) = routing.buses.get_mut(&rule.event_bus_name) else { continue };
            routing.rule_arns.insert((rule.event_bus_name.clone(), rule.name.clone()), rule.arn.clone());
            bus.targets_by_rule.entry(rule.name.clone()).or_default();
            if !rule.is_enabled() {
                continue;
            }
            if let Some(text) = &rule.event_pattern {
                match Pattern::parse_str(text) {
                    Ok(pattern) => bus.matcher.add_rule(rule.name.clone(), &pattern),
                    Err(e) => tracing::warn!(rule = %rule.name, error = %e, "stored pattern no longer parses"),
                }
            }
        }
        for bus in routing.buses.values_mut() {
            bus.matcher.compact();
        }
        for target in store.all_targets().await? {
            if let Some(bus) = routing.buses.get_mut(&target.event_bus_name) {
                bus.targets_by_rule.entry(target.rule.clone()).or_default().push(target.id.clone());
            }
            routing.targets.insert((target.event_bus_name.clone(), target.rule.clone(), target.id.clone()), target);
        }
        for archive in store.list_archives().await? {
            let pattern = archive.event_pattern.as_deref().and_then(|p| Pattern::parse_str(p).ok());
            if let Some(bus) = routing.buses.get_mut(&archive.event_bus_name) {
                bus.archives.push((archive.archive_name, pattern));
            }
        }
        for function in store.list_functions().await? {
            routing.functions.insert(function.function_name.clone(), function);
        }
        Ok(routing)
    }

    pub(crate) fn has_bus(&self, bus: &str) -> bool {
        self.buses.contains_key(bus)
    }

    /// Names of the enabled pattern rules of `bus` that match `event`.
    pub(crate) fn matching_rules(&self, bus: &str, event: &Value) -> Vec<String> {
        self.buses.get(bus).map(|b| b.matcher.matches(event)).unwrap_or_default()
    }

    /// (rule, target id) for every target of the given rules.
    pub(crate) fn deliveries_for(&self, bus: &str, rules: &[String]) -> Vec<(String, String)> {
        let Some(routing) = self.buses.get(bus) else { return Vec::new() };
        rules
            .iter()
            .flat_map(|rule| {
                routing
                    .targets_by_rule
                    .get(rule)
                    .into_iter()
                    .flatten()
                    .map(move |target| (rule.clone(), target.clone()))
            })
            .collect()
    }

    /// Archives of `bus` that keep `event`.
    pub(crate) fn archives_for(&self, bus: &str, event: &Value) -> Vec<String> {
        let Some(routing) = self.buses.get(bus) else { return Vec::new() };
        routing
            .archives
            .iter()
            .filter(|(_, pattern)| pattern.as_ref().is_none_or(|p| p.matches(event)))
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub(crate) fn target(&self, bus: &str, rule: &str, id: &str) -> Option<&Target> {
        self.targets.get(&(bus.to_string(), rule.to_string(), id.to_string()))
    }

    pub(crate) fn function(&self, name: &str) -> Option<&Function> {
        self.functions.get(name)
    }

    pub(crate) fn rule_arn(&self, bus: &str, rule: &str) -> String {
        self.rule_arns.get(&(bus.to_string(), rule.to_string())).cloned().unwrap_or_default()
    }
}
