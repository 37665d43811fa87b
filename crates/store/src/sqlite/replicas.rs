//! Replicas on SQLite: the file is one server's, so there is only ever one alive.

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use super::SqliteStore;
use crate::replicas::{replica_from, REPLICA_COLUMNS};
use crate::{db, to_millis, Change, Error, Replica};

impl SqliteStore {
    pub async fn join_replicas(&self, replica: &Replica, retire_others: bool) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        if retire_others {
            sqlx::query("DELETE FROM replicas WHERE id <> ?")
                .bind(&replica.id)
                .execute(&mut *tx)
                .await
                .map_err(db("retire replicas"))?;
        }
        sqlx::query(
            "INSERT INTO replicas (id, url, started_at, heartbeat_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET url = excluded.url, heartbeat_at = excluded.heartbeat_at",
        )
        .bind(&replica.id)
        .bind(&replica.url)
        .bind(to_millis(replica.started_at))
        .bind(to_millis(replica.heartbeat_at))
        .execute(&mut *tx)
        .await
        .map_err(db("join replicas"))?;
        tx.commit().await.map_err(db("commit join"))
    }

    pub async fn heartbeat(&self, id: &str, at: DateTime<Utc>) -> Result<bool, Error> {
        let done = sqlx::query("UPDATE replicas SET heartbeat_at = ? WHERE id = ?")
            .bind(to_millis(at))
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db("heartbeat"))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn leave_replicas(&self, id: &str) -> Result<(), Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        sqlx::query("DELETE FROM replicas WHERE id = ?").bind(id).execute(&mut *tx).await.map_err(db("leave"))?;
        sqlx::query(
            "UPDATE deliveries SET state = 'pending', lease_until = NULL, claimed_by = NULL
             WHERE state = 'in_progress' AND claimed_by = ?",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db("release a leaving replica's deliveries"))?;
        tx.commit().await.map_err(db("commit leave"))
    }

    pub async fn list_replicas(&self, alive_since: DateTime<Utc>) -> Result<Vec<Replica>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT {REPLICA_COLUMNS} FROM replicas WHERE heartbeat_at >= ? ORDER BY started_at, id"
        ))
        .bind(to_millis(alive_since))
        .fetch_all(&self.pool)
        .await
        .map_err(db("list replicas"))?;
        Ok(rows.iter().map(replica_from).collect())
    }

    pub async fn release_departed(&self, alive_since: DateTime<Utc>) -> Result<u64, Error> {
        let mut tx = self.writer.begin().await.map_err(db("begin"))?;
        sqlx::query("DELETE FROM replicas WHERE heartbeat_at < ?")
            .bind(to_millis(alive_since))
            .execute(&mut *tx)
            .await
            .map_err(db("forget departed replicas"))?;
        let released = sqlx::query(
            "UPDATE deliveries SET state = 'pending', lease_until = NULL, claimed_by = NULL
             WHERE state = 'in_progress' AND (claimed_by IS NULL OR claimed_by NOT IN (SELECT id FROM replicas))",
        )
        .execute(&mut *tx)
        .await
        .map_err(db("release departed replicas' deliveries"))?;
        tx.commit().await.map_err(db("commit release"))?;
        Ok(released.rows_affected())
    }

    /// Nothing to hear: no other process uses the file (the channel is closed at once, so
    /// whoever listens stops).
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        broadcast::channel(1).1
    }

    pub async fn own_work(&self, kind: &str, name: &str, owner: &str) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO work_owners (kind, name, owner) VALUES (?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET owner = excluded.owner",
        )
        .bind(kind)
        .bind(name)
        .bind(owner)
        .execute(&self.writer)
        .await
        .map_err(db("own work"))?;
        Ok(())
    }

    pub async fn work_owner(&self, kind: &str, name: &str) -> Result<Option<String>, Error> {
        sqlx::query_scalar("SELECT owner FROM work_owners WHERE kind = ? AND name = ?")
            .bind(kind)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("work owner"))
    }

    pub async fn adopt_work(&self, kind: &str, name: &str, from: Option<&str>, to: &str) -> Result<bool, Error> {
        let done = match from {
            None => sqlx::query(
                "INSERT INTO work_owners (kind, name, owner) VALUES (?, ?, ?) ON CONFLICT (kind, name) DO NOTHING",
            )
            .bind(kind)
            .bind(name)
            .bind(to),
            Some(from) => sqlx::query("UPDATE work_owners SET owner = ?3 WHERE kind = ?1 AND name = ?2 AND owner = ?4")
                .bind(kind)
                .bind(name)
                .bind(to)
                .bind(from),
        }
        .execute(&self.writer)
        .await
        .map_err(db("adopt work"))?;
        Ok(done.rows_affected() == 1)
    }
}
