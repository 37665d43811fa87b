//! Rules: their patterns or schedules and targets, and a pattern tester that runs a rule's
//! pattern on a *stored* event ("why didn't my rule fire?").

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use trainyard_api::ApiError;
use trainyard_events::Pattern;

use crate::session::Viewer;
use crate::view::{html, Chrome};
use crate::{Ui, UiError};

struct RuleRow {
    name: String,
    bus: String,
    state: String,
    what: String,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage {
    chrome: Chrome,
    rules: Vec<RuleRow>,
}

pub async fn list(State(ui): State<Ui>, viewer: Viewer) -> Result<Response, UiError> {
    ui.may(&viewer, "get", "/rules", &[]).await?;
    let rules = ui.app.bus.store().list_rules(None).await.map_err(ApiError::from)?;
    let rules = rules
        .into_iter()
        .map(|r| RuleRow {
            what: r.event_pattern.or(r.schedule_expression).unwrap_or_default(),
            name: r.name,
            bus: r.event_bus_name,
            state: r.state,
        })
        .collect();
    html(&RulesPage { chrome: viewer.chrome("Rules", "rules"), rules })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RuleQuery {
    bus: String,
    event: String,
}

struct Verdict {
    matches: bool,
    detail: String,
}

#[derive(Template)]
#[template(path = "rule.html")]
struct RulePage {
    chrome: Chrome,
    name: String,
    bus: String,
    state: String,
    description: String,
    pattern: String,
    targets: Vec<String>,
    event_id: String,
    verdict: Option<Verdict>,
}

pub async fn rule(
    State(ui): State<Ui>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(query): Query<RuleQuery>,
) -> Result<Response, UiError> {
    let bus = if query.bus.is_empty() { "default".to_string() } else { query.bus.clone() };
    ui.may(&viewer, "get", "/rules/{name}", &[("name", &name), ("bus", &bus)]).await?;
    let store = ui.app.bus.store();
    let rule = store.get_rule(&bus, &name).await.map_err(ApiError::from)?;
    let targets = store.list_targets(&bus, &name).await.map_err(ApiError::from)?;
    let targets = targets
        .iter()
        .map(|t| format!("{}: {}", t.id, serde_json::to_string(&t.destination).unwrap_or_default()))
        .collect();
    let verdict = match (query.event.trim(), rule.event_pattern.as_deref()) {
        ("", _) => None,
        (_, None) => Some(Verdict { matches: false, detail: "the rule is a schedule; it matches no event".into() }),
        (id, Some(pattern)) => {
            ui.may(&viewer, "get", "/events/{id}", &[("id", id)]).await?;
            let stored = store.get_event(id).await.map_err(ApiError::from)?;
            let pattern = Pattern::parse_str(pattern).map_err(|e| UiError::BadRequest(e.to_string()))?;
            let matches = pattern.matches(&stored.event);
            let fired = stored.matched_rules.contains(&name);
            let detail = match (matches, fired, stored.bus == bus) {
                (_, _, false) => format!("— but the event was put on bus {}, not {bus}", stored.bus),
                (true, true, _) => "— and it matched when the event was put".to_string(),
                (true, false, _) => {
                    "now — it did not when the event was put (the rule was changed, created later, or disabled)"
                        .to_string()
                }
                (false, _, _) => "— compare the pattern's fields with the event's".to_string(),
            };
            Some(Verdict { matches, detail })
        }
    };
    let pattern = rule
        .event_pattern
        .as_deref()
        .map(|p| {
            serde_json::from_str::<serde_json::Value>(p)
                .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
                .unwrap_or(p.to_string())
        })
        .or(rule.schedule_expression.clone())
        .unwrap_or_default();
    let page = RulePage {
        chrome: viewer.chrome(format!("Rule {name}"), "rules"),
        state: rule.state,
        description: rule.description,
        event_id: query.event,
        pattern,
        targets,
        verdict,
        bus,
        name,
    };
    html(&page)
}
