//! Server replicas sharing one database: which are alive, which one leads the
//! singletons, and the changes they tell each other about.

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, watch};

use crate::row::Columns;
use crate::{from_millis, Backend, Error, Store};

/// One server process on the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// Unique per process start.
    pub id: String,
    /// Where its API answers.
    pub url: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
}

/// A change one replica made that other replicas' caches must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Rules, targets or functions (the event bus's routing cache).
    Routing,
    /// Users, roles, policies, keys or sessions (the identity view).
    Identity,
    /// One endpoint's committed configuration or status.
    Endpoint(String),
    /// A stop was requested for a job: the replica running it stops it.
    StopJob(String),
    /// A rollback was requested for an endpoint's deployment: the replica running it acts.
    RollBack(String),
    /// Changes may have been missed (the listening connection was lost): reload all.
    Missed,
}

impl Change {
    pub(crate) fn to_payload(&self) -> String {
        match self {
            Change::Routing => "routing".into(),
            Change::Identity => "identity".into(),
            Change::Endpoint(name) => format!("endpoint:{name}"),
            Change::StopJob(name) => format!("stop-job:{name}"),
            Change::RollBack(name) => format!("roll-back:{name}"),
            Change::Missed => "missed".into(),
        }
    }

    pub(crate) fn from_payload(payload: &str) -> Option<Change> {
        match payload {
            "routing" => Some(Change::Routing),
            "identity" => Some(Change::Identity),
            "missed" => Some(Change::Missed),
            other => {
                let (kind, name) = other.split_once(':')?;
                let name = name.to_string();
                match kind {
                    "endpoint" => Some(Change::Endpoint(name)),
                    "stop-job" => Some(Change::StopJob(name)),
                    "roll-back" => Some(Change::RollBack(name)),
                    _ => None,
                }
            }
        }
    }
}

impl Store {
    delegate! {
        /// Records `replica` as alive. With `retire_others` (a database only this process
        /// may use, as a SQLite file), every other replica is forgotten: it is gone.
        pub async fn join_replicas(&self, replica: &Replica, retire_others: bool) -> Result<(), Error>;
        /// Refreshes a replica's heartbeat: false when it was forgotten as departed (it
        /// must join again; its claims were released).
        pub async fn heartbeat(&self, id: &str, at: DateTime<Utc>) -> Result<bool, Error>;
        /// Forgets a replica that stops, and releases any delivery it still holds.
        pub async fn leave_replicas(&self, id: &str) -> Result<(), Error>;
        /// Replicas heard from at or after `alive_since`, oldest first.
        pub async fn list_replicas(&self, alive_since: DateTime<Utc>) -> Result<Vec<Replica>, Error>;
        /// Forgets replicas not heard from since `alive_since`, and makes every delivery
        /// in progress under a replica that is not alive claimable again at once.
        pub async fn release_departed(&self, alive_since: DateTime<Utc>) -> Result<u64, Error>;
        /// Records `owner` as the replica running work `name` of `kind`.
        pub async fn own_work(&self, kind: &str, name: &str, owner: &str) -> Result<(), Error>;
        /// The replica running work `name` of `kind`, if recorded.
        pub async fn work_owner(&self, kind: &str, name: &str) -> Result<Option<String>, Error>;
        /// Makes `to` the owner of work `name` of `kind` if its owner is still `from` (none:
        /// no owner recorded): true when this call adopted it.
        pub async fn adopt_work(&self, kind: &str, name: &str, from: Option<&str>, to: &str) -> Result<bool, Error>;
    }

    /// Whether other server processes may share this database (PostgreSQL); a SQLite file
    /// is one server's.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Whether this process leads the singletons (schedules, housekeeping, polling…), as
    /// it changes. On PostgreSQL one replica at a time holds a lock on a connection of its
    /// own; when that replica dies, another takes it within about a second. On SQLite the
    /// one server always leads.
    pub fn leadership(&self) -> watch::Receiver<bool> {
        match &self.backend {
            Backend::Sqlite(_) => watch::channel(true).1,
            Backend::Postgres(b) => b.leadership(),
        }
    }

    /// Tells the other replicas about `change` (PostgreSQL `NOTIFY`; nothing to tell on
    /// SQLite). Call after the change is committed.
    pub async fn announce(&self, change: &Change) -> Result<(), Error> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(b) => b.announce(change).await,
        }
    }

    /// The changes other replicas announce, from now on (never this process's own).
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        match &self.backend {
            Backend::Sqlite(b) => b.changes(),
            Backend::Postgres(b) => b.changes(),
        }
    }
}

/// The columns `replica_from` reads.
pub(crate) const REPLICA_COLUMNS: &str = "id, url, started_at, heartbeat_at";

pub(crate) fn replica_from(row: &impl Columns) -> Replica {
    Replica {
        id: row.get("id"),
        url: row.get("url"),
        started_at: from_millis(row.get("started_at")),
        heartbeat_at: from_millis(row.get("heartbeat_at")),
    }
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn changes_survive_their_payload() {
        for change in [
            Change::Routing,
            Change::Identity,
            Change::Endpoint("a:b".into()),
            Change::StopJob("j".into()),
            Change::RollBack("e".into()),
            Change::Missed,
        ] {
            assert_eq!(Change::from_payload(&change.to_payload()), Some(change));
        }
        assert_eq!(Change::from_payload("nonsense"), None);
    }
}
