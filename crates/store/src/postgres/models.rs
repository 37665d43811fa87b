//! models: the PostgreSQL queries.
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::PgStore;
use crate::models::*;
use crate::{db, to_millis, Error};

impl PgStore {
    pub async fn create_model_group(&self, group: &ModelGroupRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO model_package_groups (name, description, approval_mode, gate_failure, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&group.name)
        .bind(&group.description)
        .bind(&group.approval_mode)
        .bind(&group.gate_failure)
        .bind(to_millis(group.creation_time))
        .execute(&self.pool)
        .await
        .map_err(Error::on_insert("model package group", &group.name))?;
        Ok(())
    }

    pub async fn update_model_group(&self, group: &ModelGroupRecord) -> Result<(), Error> {
        let updated = sqlx::query(
            "UPDATE model_package_groups SET description = $1, approval_mode = $2, gate_failure = $3 WHERE name = $4",
        )
        .bind(&group.description)
        .bind(&group.approval_mode)
        .bind(&group.gate_failure)
        .bind(&group.name)
        .execute(&self.pool)
        .await
        .map_err(db("update model package group"))?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "model package group", name: group.name.clone() });
        }
        Ok(())
    }

    pub async fn list_model_groups(&self) -> Result<Vec<ModelGroupRecord>, Error> {
        let rows = sqlx::query("SELECT * FROM model_package_groups ORDER BY name COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list model package groups"))?;
        Ok(rows.iter().map(group_from).collect())
    }

    pub async fn get_model_group(&self, name: &str) -> Result<ModelGroupRecord, Error> {
        let row = sqlx::query("SELECT * FROM model_package_groups WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("get model package group"))?;
        row.as_ref().map(group_from).ok_or_else(|| Error::NotFound { kind: "model package group", name: name.into() })
    }

    pub async fn delete_model_group(&self, name: &str, force: bool) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // Invariant: the group row is locked before its versions are counted, so a
        // registration (which bumps the same row) either finishes first and is counted, or
        // waits and then finds no group.
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM model_package_groups WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("lock model package group"))?;
        if found.is_none() {
            return Err(Error::NotFound { kind: "model package group", name: name.into() });
        }
        let versions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM model_packages WHERE group_name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("count model packages"))?;
        if versions > 0 && !force {
            return Err(Error::InUse {
                kind: "model package group",
                name: name.into(),
                reason: format!("it has {versions} versions (delete with force to remove them too)"),
            });
        }
        for table in ["model_aliases", "model_packages", "model_package_groups"] {
            let column = if table == "model_package_groups" { "name" } else { "group_name" };
            sqlx::query(&format!("DELETE FROM {table} WHERE {column} = $1"))
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db(format!("delete from {table}")))?;
        }
        tx.commit().await.map_err(db("commit"))
    }

    pub async fn register_model_package(
        &self,
        group: &str,
        package: &NewModelPackage,
        now: DateTime<Utc>,
    ) -> Result<ModelPackageRecord, Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // Invariant: the UPDATE row-locks the group until commit, so concurrent registrations
        // (from any replica) get consecutive numbers with no gap and no repeat.
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE model_package_groups SET next_version = next_version + 1 WHERE name = $1 RETURNING next_version - 1",
        )
        .bind(group)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("number a model package"))?;
        let version = version.ok_or_else(|| Error::NotFound { kind: "model package group", name: group.into() })?;
        sqlx::query(
            "INSERT INTO model_packages (group_name, version, status, model_data_url, document, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(group)
        .bind(version)
        .bind(&package.status)
        .bind(&package.model_data_url)
        .bind(package.document.to_string())
        .bind(&package.created_by)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db("insert model package"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(ModelPackageRecord {
            group: group.into(),
            version,
            status: package.status.clone(),
            model_data_url: package.model_data_url.clone(),
            document: package.document.clone(),
            created_by: package.created_by.clone(),
            creation_time: now,
            approval_description: String::new(),
            last_modified_by: None,
            last_modified_time: None,
        })
    }

    pub async fn list_model_packages(&self, group: &str) -> Result<Vec<ModelPackageRecord>, Error> {
        self.get_model_group(group).await?;
        let rows = sqlx::query(&format!(
            "SELECT {PACKAGE_COLUMNS} FROM model_packages WHERE group_name = $1 ORDER BY version"
        ))
        .bind(group)
        .fetch_all(&self.pool)
        .await
        .map_err(db("list model packages"))?;
        rows.iter().map(package_from).collect()
    }

    pub async fn get_model_package(&self, group: &str, version: i64) -> Result<ModelPackageRecord, Error> {
        let row = sqlx::query(&format!(
            "SELECT {PACKAGE_COLUMNS} FROM model_packages WHERE group_name = $1 AND version = $2"
        ))
        .bind(group)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("get model package"))?;
        match row {
            Some(row) => package_from(&row),
            None => Err(Error::NotFound { kind: "model package", name: format!("{group}/{version}") }),
        }
    }

    pub async fn set_model_package_status(
        &self,
        group: &str,
        version: i64,
        status: &str,
        description: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(ModelPackageRecord, ModelPackageRecord), Error> {
        // "Before" is read under the row lock the update keeps, so two concurrent changes
        // report each other's result, never the same "before".
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        let row = sqlx::query(&format!(
            "SELECT {PACKAGE_COLUMNS} FROM model_packages WHERE group_name = $1 AND version = $2 FOR UPDATE"
        ))
        .bind(group)
        .bind(version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("get model package"))?;
        let before = match row {
            Some(row) => package_from(&row)?,
            None => return Err(Error::NotFound { kind: "model package", name: format!("{group}/{version}") }),
        };
        sqlx::query(
            "UPDATE model_packages SET status = $1, approval_description = $2, status_changed_by = $3, \
             status_changed_at = $4 WHERE group_name = $5 AND version = $6",
        )
        .bind(status)
        .bind(description)
        .bind(by)
        .bind(to_millis(now))
        .bind(group)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(db("set model package status"))?;
        let after = ModelPackageRecord {
            status: status.into(),
            approval_description: description.into(),
            last_modified_by: Some(by.into()),
            last_modified_time: Some(now),
            ..before.clone()
        };
        tx.commit().await.map_err(db("commit"))?;
        Ok((before, after))
    }

    pub async fn set_model_alias(
        &self,
        group: &str,
        alias: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        // One statement: the group row is share-locked (so a concurrent delete of the group
        // either finishes first, and then nothing is inserted, or waits for this alias and
        // counts it), and the foreign key (group, version) → model_packages checks the version.
        let not_found = || Error::NotFound { kind: "model package", name: format!("{group}/{version}") };
        let set = sqlx::query(
            "WITH g AS (SELECT name FROM model_package_groups WHERE name = $1 FOR SHARE)
             INSERT INTO model_aliases (group_name, alias, version, updated_at) SELECT name, $2, $3, $4 FROM g
             ON CONFLICT (group_name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
        )
        .bind(group)
        .bind(alias)
        .bind(version)
        .bind(to_millis(now))
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => not_found(),
            _ => Error::Database { context: "set model alias".into(), source: e },
        })?;
        if set.rows_affected() == 0 {
            return Err(not_found());
        }
        Ok(())
    }

    pub async fn list_model_aliases(&self, group: &str) -> Result<Vec<(String, i64)>, Error> {
        let rows =
            sqlx::query("SELECT alias, version FROM model_aliases WHERE group_name = $1 ORDER BY alias COLLATE \"C\"")
                .bind(group)
                .fetch_all(&self.pool)
                .await
                .map_err(db("list model aliases"))?;
        Ok(rows.iter().map(|r| (r.get("alias"), r.get("version"))).collect())
    }
}
