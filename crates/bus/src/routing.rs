//! The routing cache: per event bus, one compiled matcher over its enabled rules, the
//! targets of each rule, the archives, and the functions by name. A rule, target or
//! function change is applied to it in place, in proportion to what changed; anything
//! else (and a quiet moment after many changes, to compact the matchers) loads it whole.

use std::collections::HashMap;

use serde_json::Value;
use trainyard_events::{Matcher, Pattern};
use trainyard_store::{Function, Rule, Store, Target};

use crate::Error;

#[derive(Default)]
pub(crate) struct BusRouting {
    matcher: Matcher<String>,
    /// Target ids of each rule (enabled or not).
    targets_by_rule: HashMap<String, Vec<String>>,
    archives: Vec<(String, Option<Pattern>)>,
}

impl BusRouting {
    /// Adds `rule` to the matcher if it is an enabled pattern rule.
    fn add_if_enabled(&mut self, rule: &Rule) {
        let Some(text) = rule.event_pattern.as_ref().filter(|_| rule.is_enabled()) else { return };
        match Pattern::parse_str(text) {
            Ok(pattern) => self.matcher.add_rule(rule.name.clone(), &pattern),
            Err(e) => tracing::warn!(rule = %rule.name, error = %e, "stored pattern no longer parses"),
        }
    }
}

/// Everything routing reads; changed in place by the `set_*` methods, or replaced whole.
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
            bus.add_if_enabled(&rule);
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

    /// Brings rule `name` of `bus` in line with `rule` as stored (`None`: deleted).
    pub(crate) fn set_rule(&mut self, bus: &str, name: &str, rule: Option<&Rule>) {
        let Some(routing) = self.buses.get_mut(bus) else { return };
        let key = (bus.to_string(), name.to_string());
        routing.matcher.remove_rule(&key.1);
        match rule {
            None => {
                routing.targets_by_rule.remove(name);
                self.rule_arns.remove(&key);
            }
            Some(rule) => {
                routing.targets_by_rule.entry(name.to_string()).or_default();
                routing.add_if_enabled(rule);
                self.rule_arns.insert(key, rule.arn.clone());
            }
        }
    }

    /// Brings target `id` of `bus`'s rule `rule` in line with `target` (`None`: removed).
    pub(crate) fn set_target(&mut self, bus: &str, rule: &str, id: &str, target: Option<Target>) {
        let key = (bus.to_string(), rule.to_string(), id.to_string());
        if let Some(routing) = self.buses.get_mut(bus) {
            let ids = routing.targets_by_rule.entry(rule.to_string()).or_default();
            ids.retain(|known| known != id);
            if target.is_some() {
                ids.push(id.to_string());
            }
        }
        match target {
            Some(target) => self.targets.insert(key, target),
            None => self.targets.remove(&key),
        };
    }

    /// Brings function `name` in line with `function` (`None`: deleted).
    pub(crate) fn set_function(&mut self, name: &str, function: Option<Function>) {
        match function {
            Some(function) => self.functions.insert(name.to_string(), function),
            None => self.functions.remove(name),
        };
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
