//! Replays: re-putting archived events onto a bus with `replay-name` set.

use chrono::Utc;
use trainyard_events::Event;

use crate::{Error, EventBus};

const BATCH: i64 = 100;

impl EventBus {
    pub(crate) async fn run_replay(&self, name: &str) {
        if let Err(e) = self.replay(name).await {
            tracing::error!(replay = name, error = %e, "replay failed");
            let _ = self.store().update_replay(name, "FAILED", &e.to_string(), 0, Some(Utc::now())).await;
        }
    }

    async fn replay(&self, name: &str) -> Result<(), Error> {
        let replay = self.store().get_replay(name).await?;
        self.store().update_replay(name, "RUNNING", "", 0, None).await?;
        let mut replayed = 0i64;
        let mut cursor: Option<(i64, String)> = None;
        loop {
            let after = cursor.as_ref().map(|(time, id)| (*time, id.as_str()));
            let batch = self
                .store()
                .archived_events(&replay.archive_name, replay.event_start_time, replay.event_end_time, after, BATCH)
                .await?;
            let Some((time, id, _)) = batch.last() else { break };
            cursor = Some((*time, id.clone()));
            let now = Utc::now();
            let mut events = Vec::with_capacity(batch.len());
            for (_, _, body) in batch {
                let mut event: Event = serde_json::from_value(body)
                    .map_err(|e| Error::invalid(format!("archived event does not parse: {e}")))?;
                event.id = uuid::Uuid::new_v4().to_string();
                event.replay_name = Some(replay.replay_name.clone());
                events.push(event);
            }
            let fresh: Vec<_> = self.with_routing(|routing| {
                events.into_iter().map(|e| self.route(routing, e, replay.event_bus_name.clone(), now)).collect()
            });
            self.store().put_events(&fresh).await?;
            replayed += fresh.len() as i64;
            self.store().update_replay(name, "RUNNING", "", replayed, None).await?;
            self.inner.wake.notify_one();
        }
        self.store().update_replay(name, "COMPLETED", "", replayed, Some(Utc::now())).await?;
        Ok(())
    }

    /// Marks replays cut short by a restart as failed (called once at start-up).
    pub async fn fail_interrupted_replays(&self) -> Result<(), Error> {
        for replay in self.store().list_replays().await? {
            if replay.state == "RUNNING" || replay.state == "STARTING" {
                self.store()
                    .update_replay(
                        &replay.replay_name,
                        "FAILED",
                        "interrupted by a server restart; start a new replay",
                        replay.events_replayed,
                        Some(Utc::now()),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
