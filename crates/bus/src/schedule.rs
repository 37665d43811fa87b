//! Background loops besides delivery: scheduled rules and housekeeping.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tokio::sync::watch;
use trainyard_events::{Event, Schedule};
use trainyard_store::NewEvent;

use crate::{Error, EventBus};

impl EventBus {
    /// Fires scheduled rules when due. A rule missed while the server was down fires
    /// once on start, then keeps its cadence from then on.
    pub async fn run_schedules(&self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.fire_due_schedules().await {
                tracing::error!(error = %e, "firing schedules failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn fire_due_schedules(&self) -> Result<(), Error> {
        let now = Utc::now();
        for rule in self.store().list_rules(None).await? {
            let (Some(expression), Some(due)) = (&rule.schedule_expression, rule.next_fire_time) else { continue };
            if !rule.is_enabled() || due > now {
                continue;
            }
            let c = self.config();
            let event = Event::new(
                "aws.events",
                "Scheduled Event",
                json!({}),
                vec![rule.arn.clone()],
                due,
                &c.account,
                &c.region,
            );
            // Invariant: a scheduled event goes to its own rule's targets only.
            let deliveries = self
                .with_routing(|routing| routing.deliveries_for(&rule.event_bus_name, std::slice::from_ref(&rule.name)));
            let new = NewEvent {
                event,
                bus: rule.event_bus_name.clone(),
                ingested_at: now,
                matched_rules: vec![rule.name.clone()],
                deliveries,
                archives: Vec::new(),
            };
            // Invariant: the firing is taken before the event is put, so that two replicas
            // that both believe they lead (briefly, while one loses its connection) never
            // fire one due time twice.
            let next = Schedule::parse(expression)?.next_after(now.max(due));
            if !self.store().advance_schedule(&rule.event_bus_name, &rule.name, due, next).await? {
                continue;
            }
            self.store().put_events(&[new]).await?;
            self.inner.wake.notify_one();
        }
        Ok(())
    }

    /// Expires archived events past their retention and prunes old finished events.
    pub async fn run_housekeeping(&self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let now = Utc::now();
            if let Err(e) = self.store().expire_archived(now).await {
                tracing::warn!(error = %e, "expiring archived events failed");
            }
            let retention = chrono::Duration::from_std(self.config().event_retention).unwrap_or_default();
            if let Err(e) = self.store().prune_events(now - retention).await {
                tracing::warn!(error = %e, "pruning events failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
