//! iam: the PostgreSQL queries.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::PgStore;
use crate::iam::*;
use crate::{db, to_millis, Error};

/// Serialises the attachments of a policy with its deletion (`iam_attachments.policy_arn`
/// has no foreign key: AWS-managed ARNs are attached without a row), so `delete_policy`'s
/// count sees every attachment committed before it, on any replica.
async fn lock_policy(tx: &mut sqlx::PgConnection, arn: &str) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('iam-policy:' || $1, 0))")
        .bind(arn)
        .execute(tx)
        .await
        .map_err(db("lock policy"))?;
    Ok(())
}

impl PgStore {
    pub async fn load_iam(&self, now: DateTime<Utc>) -> Result<IamRecords, Error> {
        let principals =
            sqlx::query("SELECT * FROM iam_principals ORDER BY kind COLLATE \"C\", name_key COLLATE \"C\"")
                .fetch_all(&self.pool)
                .await
                .map_err(db("load principals"))?;
        let principals = principals.iter().map(principal_from).collect::<Result<_, _>>()?;
        let policies = sqlx::query("SELECT * FROM iam_policies ORDER BY name_key COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(db("load policies"))?;
        let attachments =
            sqlx::query("SELECT principal_id, policy_arn FROM iam_attachments ORDER BY policy_arn COLLATE \"C\"")
                .fetch_all(&self.pool)
                .await
                .map_err(db("load attachments"))?;
        let inline =
            sqlx::query("SELECT principal_id, name, document FROM iam_inline_policies ORDER BY name COLLATE \"C\"")
                .fetch_all(&self.pool)
                .await
                .map_err(db("load inline policies"))?;
        let keys = sqlx::query("SELECT * FROM iam_access_keys ORDER BY created_at")
            .fetch_all(&self.pool)
            .await
            .map_err(db("load access keys"))?;
        let sessions = sqlx::query("SELECT * FROM iam_sessions WHERE revoked_at IS NULL AND expires_at > $1")
            .bind(to_millis(now))
            .fetch_all(&self.pool)
            .await
            .map_err(db("load sessions"))?;
        let resource_policies = sqlx::query("SELECT arn, document FROM resource_policies ORDER BY arn COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(db("load resource policies"))?;
        Ok(IamRecords {
            principals,
            policies: policies.iter().map(policy_from).collect(),
            attachments: attachments.iter().map(|r| (r.get(0), r.get(1))).collect(),
            inline_policies: inline.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect(),
            access_keys: keys.iter().map(key_from).collect(),
            sessions: sessions.iter().map(session_from).collect(),
            resource_policies: resource_policies.iter().map(|r| (r.get(0), r.get(1))).collect(),
        })
    }

    pub async fn put_resource_policy(&self, arn: &str, document: &str, now: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO resource_policies (arn, document, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (arn) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
        )
        .bind(arn)
        .bind(document)
        .bind(to_millis(now))
        .execute(&self.pool)
        .await
        .map_err(db("put resource policy"))?;
        Ok(())
    }

    pub async fn delete_resource_policy(&self, arn: &str) -> Result<(), Error> {
        let done = sqlx::query("DELETE FROM resource_policies WHERE arn = $1")
            .bind(arn)
            .execute(&self.pool)
            .await
            .map_err(db("delete resource policy"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "resource policy", name: arn.into() });
        }
        Ok(())
    }

    pub async fn create_principal(&self, principal: &PrincipalRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO iam_principals (id, kind, name, name_key, path, description, trust_policy,
             max_session_seconds, boundary_arn, tags, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&principal.id)
        .bind(&principal.kind)
        .bind(&principal.name)
        .bind(principal.name_key())
        .bind(&principal.path)
        .bind(&principal.description)
        .bind(&principal.trust_policy)
        .bind(principal.max_session_seconds)
        .bind(&principal.boundary_arn)
        .bind(principal.tags_json())
        .bind(to_millis(principal.created_at))
        .execute(&self.pool)
        .await
        .map_err(Error::on_insert(if principal.kind == "role" { "role" } else { "user" }, &principal.name))?;
        Ok(())
    }

    pub async fn update_principal(&self, principal: &PrincipalRecord) -> Result<(), Error> {
        let done = sqlx::query(
            "UPDATE iam_principals SET description = $1, trust_policy = $2, max_session_seconds = $3,
             boundary_arn = $4, tags = $5 WHERE id = $6",
        )
        .bind(&principal.description)
        .bind(&principal.trust_policy)
        .bind(principal.max_session_seconds)
        .bind(&principal.boundary_arn)
        .bind(principal.tags_json())
        .bind(&principal.id)
        .execute(&self.pool)
        .await
        .map_err(db("update principal"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "principal", name: principal.name.clone() });
        }
        Ok(())
    }

    pub async fn delete_principal(&self, id: &str) -> Result<(), Error> {
        let done = sqlx::query("DELETE FROM iam_principals WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db("delete principal"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "principal", name: id.into() });
        }
        Ok(())
    }

    pub async fn create_policy(&self, policy: &ManagedPolicyRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO iam_policies (arn, name, name_key, description, document, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&policy.arn)
        .bind(&policy.name)
        .bind(policy.name.to_lowercase())
        .bind(&policy.description)
        .bind(&policy.document)
        .bind(to_millis(policy.created_at))
        .bind(to_millis(policy.updated_at))
        .execute(&self.pool)
        .await
        .map_err(Error::on_insert("policy", &policy.name))?;
        Ok(())
    }

    pub async fn update_policy_document(&self, arn: &str, document: &str, at: DateTime<Utc>) -> Result<(), Error> {
        let done = sqlx::query("UPDATE iam_policies SET document = $1, updated_at = $2 WHERE arn = $3")
            .bind(document)
            .bind(to_millis(at))
            .bind(arn)
            .execute(&self.pool)
            .await
            .map_err(db("update policy"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "policy", name: arn.into() });
        }
        Ok(())
    }

    pub async fn delete_policy(&self, arn: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin delete policy"))?;
        lock_policy(&mut tx, arn).await?;
        let attached: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM iam_attachments WHERE policy_arn = $1")
            .bind(arn)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("count attachments"))?;
        if attached > 0 {
            let reason = format!("attached to {attached} principal(s); detach it first");
            return Err(Error::InUse { kind: "policy", name: arn.into(), reason });
        }
        let done = sqlx::query("DELETE FROM iam_policies WHERE arn = $1")
            .bind(arn)
            .execute(&mut *tx)
            .await
            .map_err(db("delete policy"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "policy", name: arn.into() });
        }
        tx.commit().await.map_err(db("commit delete policy"))
    }

    pub async fn attach_policy(&self, principal_id: &str, policy_arn: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db("begin attach policy"))?;
        lock_policy(&mut tx, policy_arn).await?;
        sqlx::query(
            "INSERT INTO iam_attachments (principal_id, policy_arn) VALUES ($1, $2)
             ON CONFLICT (principal_id, policy_arn) DO NOTHING",
        )
        .bind(principal_id)
        .bind(policy_arn)
        .execute(&mut *tx)
        .await
        .map_err(db("attach policy"))?;
        tx.commit().await.map_err(db("commit attach policy"))
    }

    pub async fn detach_policy(&self, principal_id: &str, policy_arn: &str) -> Result<(), Error> {
        let done = sqlx::query("DELETE FROM iam_attachments WHERE principal_id = $1 AND policy_arn = $2")
            .bind(principal_id)
            .bind(policy_arn)
            .execute(&self.pool)
            .await
            .map_err(db("detach policy"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "attached policy", name: policy_arn.into() });
        }
        Ok(())
    }

    pub async fn put_inline_policy(&self, principal_id: &str, name: &str, document: &str) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO iam_inline_policies (principal_id, name, document) VALUES ($1, $2, $3)
             ON CONFLICT (principal_id, name) DO UPDATE SET document = excluded.document",
        )
        .bind(principal_id)
        .bind(name)
        .bind(document)
        .execute(&self.pool)
        .await
        .map_err(db("put inline policy"))?;
        Ok(())
    }

    pub async fn delete_inline_policy(&self, principal_id: &str, name: &str) -> Result<(), Error> {
        let done = sqlx::query("DELETE FROM iam_inline_policies WHERE principal_id = $1 AND name = $2")
            .bind(principal_id)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("delete inline policy"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "inline policy", name: name.into() });
        }
        Ok(())
    }

    pub async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO iam_access_keys (id, principal_id, secret_digest, status, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.id)
        .bind(&key.principal_id)
        .bind(&key.secret_digest)
        .bind(&key.status)
        .bind(to_millis(key.created_at))
        .execute(&self.pool)
        .await
        .map_err(Error::on_insert("access key", &key.id))?;
        Ok(())
    }

    pub async fn set_access_key_status(&self, id: &str, status: &str) -> Result<(), Error> {
        let done = sqlx::query("UPDATE iam_access_keys SET status = $1 WHERE id = $2")
            .bind(status)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db("update access key"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "access key", name: id.into() });
        }
        Ok(())
    }

    pub async fn delete_access_key(&self, id: &str) -> Result<(), Error> {
        let done = sqlx::query("DELETE FROM iam_access_keys WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db("delete access key"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { kind: "access key", name: id.into() });
        }
        Ok(())
    }

    pub async fn create_session(&self, session: &SessionRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO iam_sessions (id, role_id, session_name, token_digest, session_policy, issued_by,
             issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&session.id)
        .bind(&session.role_id)
        .bind(&session.session_name)
        .bind(&session.token_digest)
        .bind(&session.session_policy)
        .bind(&session.issued_by)
        .bind(to_millis(session.issued_at))
        .bind(to_millis(session.expires_at))
        .execute(&self.pool)
        .await
        .map_err(Error::on_insert("session", &session.id))?;
        Ok(())
    }

    pub async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query("UPDATE iam_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(to_millis(at))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db("revoke session"))?;
        Ok(())
    }

    pub async fn delete_ended_sessions(&self, before: DateTime<Utc>) -> Result<u64, Error> {
        let done = sqlx::query("DELETE FROM iam_sessions WHERE expires_at < $1 OR revoked_at < $1")
            .bind(to_millis(before))
            .execute(&self.pool)
            .await
            .map_err(db("delete ended sessions"))?;
        Ok(done.rows_affected())
    }
}
