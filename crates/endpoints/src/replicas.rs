//! Endpoints on several replicas: every replica serves every endpoint on its committed
//! configuration, following the changes another replica commits; a creation or deployment
//! is owned by the replica that runs it, and adopted when that replica is gone.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use tokio::sync::{broadcast, watch};
use trainyard_store::{Change, EndpointRecord};

use crate::live::{Endpoint, Routing};
use crate::{Endpoints, Error};

/// The kind of work a creation or deployment is (`work_owners.kind`).
pub(crate) const ENDPOINT: &str = "endpoint";

impl Endpoints {
    fn replica(&self) -> &str {
        &self.bus().config().replica
    }

    /// Whether no other replica is alive (what is unfinished is then this one's to settle).
    pub(crate) async fn alone(&self) -> Result<bool, Error> {
        Ok(trainyard_bus::alive_replicas(self.store()).await?.iter().all(|id| id == self.replica()))
    }

    /// Records this replica as the one running `name`'s creation or deployment.
    pub(crate) async fn own(&self, name: &str) -> Result<(), Error> {
        Ok(self.store().own_work(ENDPOINT, name, self.replica()).await?)
    }

    /// Tells the other replicas that `name` changed (after the store committed it).
    pub(crate) async fn tell_replicas(&self, change: Change) {
        if let Err(e) = self.store().announce(&change).await {
            tracing::warn!(error = %e, "telling the other replicas about an endpoint change");
        }
    }

    /// Adopts creations and deployments whose replica is gone: a creation starts again
    /// here; a deployment is abandoned (recorded), its committed configuration live.
    pub async fn adopt_orphans(&self) -> Result<usize, Error> {
        let alive = trainyard_bus::alive_replicas(self.store()).await?;
        let mut adopted = 0;
        for record in self.store().list_endpoints().await? {
            if matches!(record.status.as_str(), "InService" | "Failed") || self.is_running(&record.name) {
                continue;
            }
            let name = record.name.clone();
            if !self.adopt(&record, &alive).await? {
                continue;
            }
            // One endpoint's failure does not hold up the others.
            match self.take_over(record).await {
                Ok(()) => adopted += 1,
                Err(e) => tracing::warn!(endpoint = %name, error = %e, "adopting an endpoint's work failed"),
            }
        }
        Ok(adopted)
    }

    /// Makes this replica the owner of `record`'s work unless another replica that is alive
    /// owns it. With no owner recorded, only once the record is older than
    /// [`trainyard_bus::DEPARTED_AFTER`]: its creator records itself just after.
    async fn adopt(&self, record: &EndpointRecord, alive: &HashSet<String>) -> Result<bool, Error> {
        let owner = self.store().work_owner(ENDPOINT, &record.name).await?;
        match owner.as_deref() {
            Some(me) if me == self.replica() => return Ok(true),
            Some(other) if alive.contains(other) => return Ok(false),
            None if record.updated_at > trainyard_bus::alive_since(Utc::now()) => return Ok(false),
            _ => {}
        }
        Ok(self.store().adopt_work(ENDPOINT, &record.name, owner.as_deref(), self.replica()).await?)
    }

    /// A creation starts again here; a deployment is abandoned, the committed
    /// configuration live.
    async fn take_over(&self, mut record: EndpointRecord) -> Result<(), Error> {
        if record.config.is_none() {
            let (stop, _) = watch::channel(false);
            self.lock_running(&record.name, stop)?;
            self.spawn_create(record.name.clone());
            return Ok(());
        }
        if self.data().get(&record.name).is_none() {
            self.follow(&record.name).await?;
        }
        if record.pending.take().is_some() {
            record.last_deployment = Some(json!({"Outcome": "Abandoned",
                "Reason": "the server running the deployment stopped (or restarted during the deployment); \
                           the last committed configuration is live"}));
        }
        self.set_status(&mut record, "InService").await
    }

    /// Brings this replica's routing of `name` in line with its committed configuration.
    pub(crate) async fn follow(&self, name: &str) -> Result<(), Error> {
        if self.is_running(name) {
            return Ok(());
        }
        let record = match self.store().get_endpoint(name).await {
            Ok(record) => record,
            Err(trainyard_store::Error::NotFound { .. }) => {
                self.data().remove(name);
                self.forget_followed(name);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let Some(config) = record.config.filter(|_| record.status != "Failed") else { return Ok(()) };
        if self.followed(name).as_ref() == Some(&config) && self.data().get(name).is_some() {
            return Ok(());
        }
        let fleet = self.load_fleet(&config).await?;
        match self.data().get(name) {
            Some(endpoint) => endpoint.set(Routing { live: fleet, new: None, new_share: 0.0 }),
            None => self.data().install(name, Arc::new(Endpoint::new(fleet))),
        }
        self.set_followed(name, config);
        Ok(())
    }
}

/// Follows other replicas' endpoint changes and rollback requests; ends with the service.
pub(crate) async fn follow_other_replicas(
    endpoints: std::sync::Weak<crate::service::Inner>,
    mut changes: broadcast::Receiver<Change>,
) {
    loop {
        let change = match changes.recv().await {
            Ok(change) => change,
            Err(broadcast::error::RecvError::Lagged(_)) => Change::Missed,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(inner) = endpoints.upgrade() else { return };
        let endpoints = Endpoints { inner };
        let names = match change {
            Change::Endpoint(name) => vec![name],
            Change::RollBack(name) => {
                endpoints.signal_rollback(&name);
                continue;
            }
            Change::Missed => match endpoints.store().list_endpoints().await {
                Ok(records) => records.into_iter().map(|r: EndpointRecord| r.name).collect(),
                Err(_) => continue,
            },
            _ => continue,
        };
        for name in names {
            if let Err(e) = endpoints.follow(&name).await {
                tracing::warn!(endpoint = %name, error = %e, "following another replica's endpoint change");
            }
        }
    }
}
