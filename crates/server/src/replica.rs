//! This process among the replicas sharing the store: its record and heartbeat, and the
//! singletons it runs while it leads.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use trainyard_bus::HEARTBEAT;
use trainyard_store::{Replica, Store};

use crate::Error;

/// Joins the replicas as a new one, and retires the one this data directory ran before
/// (it is gone: one process per data directory), so that what it held is released at once.
pub async fn join(store: &Store, data_dir: &Path, url: &str) -> Result<Replica, Error> {
    let file = data_dir.join("replica.id");
    if let Ok(previous) = std::fs::read_to_string(&file) {
        store.leave_replicas(previous.trim()).await?;
    }
    let now = Utc::now();
    let replica = Replica {
        id: uuid::Uuid::new_v4().simple().to_string(),
        url: url.to_string(),
        started_at: now,
        heartbeat_at: now,
    };
    store.join_replicas(&replica, !store.is_shared()).await?;
    crate::run::write_atomically(&file, &replica.id)?;
    Ok(replica)
}

/// Whether `replica` is the only one alive.
pub async fn alone(store: &Store, replica: &Replica) -> Result<bool, Error> {
    Ok(trainyard_bus::alive_replicas(store).await?.iter().all(|id| *id == replica.id))
}

/// Says this replica is alive every [`HEARTBEAT`] (joining again if it was taken for gone),
/// and while it leads, releases what departed replicas held.
pub async fn keep_alive(
    store: Store,
    replica: Replica,
    leadership: watch::Receiver<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    if !store.is_shared() {
        // A SQLite file is one server's: no one to tell it lives, nothing to take over.
        return;
    }
    let mut ticker = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.wait_for(|stopped| *stopped) => return,
        }
        let now = Utc::now();
        let alive = match store.heartbeat(&replica.id, now).await {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!("this replica was taken for gone; joining again");
                let again = Replica { heartbeat_at: now, ..replica.clone() };
                let joined = store.join_replicas(&again, false).await;
                if let Err(e) = &joined {
                    tracing::warn!(error = %e, "joining the replicas again failed");
                }
                joined.is_ok()
            }
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed");
                false
            }
        };
        // A leader that could not say it lives must not judge who else does.
        if alive && *leadership.borrow() {
            match store.release_departed(trainyard_bus::alive_since(now)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "released the deliveries of a replica that is gone"),
                Err(e) => tracing::warn!(error = %e, "releasing departed replicas' deliveries failed"),
            }
        }
    }
}

/// Starts the singletons: given a stop signal, the tasks to run until it turns true.
pub type Singletons = Box<dyn Fn(watch::Receiver<bool>) -> Vec<JoinHandle<()>> + Send + Sync>;

/// Runs `singletons` while this replica leads: started when it takes the lead, stopped
/// when it loses it, and stopped for good when `stopped` turns true.
pub async fn lead(mut leadership: watch::Receiver<bool>, mut stopped: watch::Receiver<bool>, singletons: Singletons) {
    loop {
        if !wait_for(&mut leadership, true, &mut stopped).await {
            return;
        }
        tracing::info!("this replica leads: it runs schedules, housekeeping, polling, builds and pipelines");
        let (stop, stop_signal) = watch::channel(false);
        let tasks = singletons(stop_signal);
        let still_serving = wait_for(&mut leadership, false, &mut stopped).await;
        if still_serving {
            tracing::warn!("this replica lost the lead; its singletons stop");
        }
        let _ = stop.send(true);
        // Work in flight gets a grace period (all at once); what is unfinished is picked up again.
        let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(tasks)).await;
        if !still_serving {
            return;
        }
    }
}

/// Waits until `leadership` is `wanted`: false when `stopped` turned true first.
async fn wait_for(leadership: &mut watch::Receiver<bool>, wanted: bool, stopped: &mut watch::Receiver<bool>) -> bool {
    loop {
        if *stopped.borrow() {
            return false;
        }
        if *leadership.borrow_and_update() == wanted {
            return true;
        }
        tokio::select! {
            changed = leadership.changed() => if changed.is_err() {
                // No one changes it any more (the one server of a SQLite file always leads):
                // it stays as it is until the server stops.
                let _ = stopped.wait_for(|stopped| *stopped).await;
                return false;
            },
            changed = stopped.changed() => if changed.is_err() { return false },
        }
    }
}

/// A singleton that has no stop signal of its own, stopped with the others.
pub fn until(
    mut stop: watch::Receiver<bool>,
    task: impl Future<Output = ()> + Send + 'static,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        tokio::select! {
            _ = task => {}
            _ = stop.wait_for(|stopped| *stopped) => {}
        }
    })
}

/// Adopts the jobs, creations and deployments of replicas that are gone, every few seconds.
pub async fn adopt_orphans(jobs: trainyard_jobs::Jobs, endpoints: trainyard_endpoints::Endpoints) {
    let mut ticker = tokio::time::interval(Duration::from_secs(2));
    loop {
        ticker.tick().await;
        match jobs.adopt_orphans().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "adopted the jobs of a replica that is gone"),
            Err(e) => tracing::warn!(error = %e, "adopting jobs failed"),
        }
        match endpoints.adopt_orphans().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(endpoints = n, "adopted the endpoint work of a replica that is gone"),
            Err(e) => tracing::warn!(error = %e, "adopting endpoint work failed"),
        }
    }
}
