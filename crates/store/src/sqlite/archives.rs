//! archives: the SQLite queries.
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::SqliteStore;
use crate::archives::{archive_from, archived_event_from, replay_from, ARCHIVE_SELECT};
use crate::{db, to_millis, Archive, Error, Replay};

impl SqliteStore {
    pub async fn create_archive(&self, archive: &Archive) -> Result<(), Error> {
        self.get_bus(&archive.event_bus_name).await?;
        sqlx::query(
            "INSERT INTO archives (name, arn, bus, event_pattern, retention_days, description, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&archive.archive_name)
        .bind(&archive.archive_arn)
        .bind(&archive.event_bus_name)
        .bind(&archive.event_pattern)
        .bind(archive.retention_days)
        .bind(&archive.description)
        .bind(to_millis(archive.creation_time))
        .execute(&self.writer)
        .await
        .map_err(Error::on_insert("archive", &archive.archive_name))?;
        Ok(())
    }

    pub async fn list_archives(&self) -> Result<Vec<Archive>, Error> {
        let rows = sqlx::query(&format!("{ARCHIVE_SELECT} ORDER BY a.name"))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list archives"))?;
        Ok(rows.iter().map(archive_from).collect())
    }

    pub async fn get_archive(&self, name: &str) -> Result<Archive, Error> {
        let row = sqlx::query(&format!("{ARCHIVE_SELECT} WHERE a.name = ?"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get archive"))?;
        row.as_ref().map(archive_from).ok_or_else(|| Error::NotFound { kind: "archive", name: name.into() })
    }

    pub async fn delete_archive(&self, name: &str) -> Result<(), Error> {
        let done = sqlx::query("DELETE FROM archives WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db("delete archive"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "archive", name: name.into() });
        }
        Ok(())
    }

    pub async fn expire_archived(&self, now: DateTime<Utc>) -> Result<u64, Error> {
        let done = sqlx::query(
            "DELETE FROM archived_events WHERE rowid IN (
                 SELECT e.rowid FROM archived_events e JOIN archives a ON a.name = e.archive
                 WHERE a.retention_days > 0 AND e.time < ?1 - a.retention_days * 86400000)",
        )
        .bind(to_millis(now))
        .execute(&self.writer)
        .await
        .map_err(db("expire archived events"))?;
        Ok(done.rows_affected())
    }

    pub async fn archived_events(
        &self,
        archive: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<(i64, String, Value)>, Error> {
        let (after_time, after_id) = after.unwrap_or((i64::MIN, ""));
        let rows = sqlx::query(
            "SELECT time, event_id, body FROM archived_events
             WHERE archive = ? AND time >= ? AND time < ? AND (time > ? OR (time = ? AND event_id > ?))
             ORDER BY time, event_id LIMIT ?",
        )
        .bind(archive)
        .bind(to_millis(from))
        .bind(to_millis(to))
        .bind(after_time)
        .bind(after_time)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db("archived events"))?;
        rows.iter().map(archived_event_from).collect()
    }

    pub async fn create_replay(&self, replay: &Replay) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO replays (name, arn, archive, bus, start_time, end_time, state, started_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&replay.replay_name)
        .bind(&replay.replay_arn)
        .bind(&replay.archive_name)
        .bind(&replay.event_bus_name)
        .bind(to_millis(replay.event_start_time))
        .bind(to_millis(replay.event_end_time))
        .bind(&replay.state)
        .bind(to_millis(replay.replay_start_time))
        .execute(&self.writer)
        .await
        .map_err(Error::on_insert("replay", &replay.replay_name))?;
        Ok(())
    }

    pub async fn update_replay(
        &self,
        name: &str,
        state: &str,
        reason: &str,
        replayed: i64,
        ended: Option<DateTime<Utc>>,
    ) -> Result<(), Error> {
        sqlx::query("UPDATE replays SET state = ?, state_reason = ?, events_replayed = ?, ended_at = ? WHERE name = ?")
            .bind(state)
            .bind(reason)
            .bind(replayed)
            .bind(ended.map(to_millis))
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db("update replay"))?;
        Ok(())
    }

    pub async fn get_replay(&self, name: &str) -> Result<Replay, Error> {
        let row = sqlx::query("SELECT * FROM replays WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get replay"))?;
        row.as_ref().map(replay_from).ok_or_else(|| Error::NotFound { kind: "replay", name: name.into() })
    }

    pub async fn list_replays(&self) -> Result<Vec<Replay>, Error> {
        let rows = sqlx::query("SELECT * FROM replays ORDER BY started_at DESC")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list replays"))?;
        Ok(rows.iter().map(replay_from).collect())
    }
}
