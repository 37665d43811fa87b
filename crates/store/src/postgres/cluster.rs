//! What replicas on one PostgreSQL database share besides records: one leader at a time
//! (a session advisory lock on a connection of its own) and change notices (`LISTEN` /
//! `NOTIFY` on one channel).

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection};
use tokio::sync::{broadcast, watch};

use super::PgStore;
use crate::{db, Change, Error};

/// The advisory lock key the leader holds (`trainyard` in ASCII).
const LEADER_KEY: i64 = 0x7472_6169_6e79_6172;
/// How often a replica tries to lead, and the leader checks it still does.
const LEADER_POLL: Duration = Duration::from_secs(1);
/// The channel change notices travel on; a payload is `<origin>|<change>`.
const CHANNEL: &str = "trainyard_changes";

impl PgStore {
    pub fn leadership(&self) -> watch::Receiver<bool> {
        let (leading, receiver) = watch::channel(false);
        let (store, mut connection) = (self.clone(), None);
        tokio::spawn(async move {
            // Invariant: the lock is the session's, so it ends with the connection, also
            // when this process dies; the loop ends when no one watches or the store closes.
            while !leading.is_closed() && !store.pool.is_closed() {
                let was = *leading.borrow();
                let now = store.try_to_lead(&mut connection, was).await;
                leading.send_if_modified(|was| std::mem::replace(was, now) != now);
                tokio::time::sleep(LEADER_POLL).await;
            }
            if let Some(connection) = connection {
                let _ = connection.close().await;
            }
        });
        receiver
    }

    /// One round: takes the lock if free, or checks that the connection holding it lives.
    async fn try_to_lead(&self, connection: &mut Option<PgConnection>, leading: bool) -> bool {
        if connection.is_none() {
            *connection = PgConnection::connect_with(&self.options).await.ok();
        }
        let Some(held) = connection.as_mut() else { return false };
        let answer = if leading {
            sqlx::query_scalar("SELECT true").fetch_one(&mut *held).await
        } else {
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LEADER_KEY).fetch_one(&mut *held).await
        };
        answer.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the leadership connection failed");
            *connection = None;
            false
        })
    }

    pub async fn announce(&self, change: &Change) -> Result<(), Error> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{}|{}", self.instance, change.to_payload()))
            .execute(&self.pool)
            .await
            .map_err(db("announce a change"))?;
        Ok(())
    }

    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes
            .get_or_init(|| {
                let (sender, _) = broadcast::channel(1024);
                tokio::spawn(listen(self.clone(), sender.clone()));
                sender
            })
            .subscribe()
    }
}

/// Forwards other replicas' notices; after a lost connection, says changes were missed.
async fn listen(store: PgStore, changes: broadcast::Sender<Change>) {
    let own = format!("{}|", store.instance);
    while !store.pool.is_closed() {
        let mut listener = match PgListener::connect_with(&store.pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "listening for other replicas' changes");
                tokio::time::sleep(LEADER_POLL).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "listening for other replicas' changes");
            tokio::time::sleep(LEADER_POLL).await;
            continue;
        }
        let _ = changes.send(Change::Missed);
        // `try_recv` answers None when the connection was lost (it reconnects next time).
        while let Ok(Some(notice)) = listener.try_recv().await {
            let payload = notice.payload();
            if payload.starts_with(&own) {
                continue;
            }
            if let Some(change) = payload.split_once('|').and_then(|(_, change)| Change::from_payload(change)) {
                let _ = changes.send(change);
            }
        }
    }
}
