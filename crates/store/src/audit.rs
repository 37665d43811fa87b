//! The audit trail: one CloudTrail-shaped JSON record per mutating call, denied call and
//! credential issued, in order of arrival (`seq`), kept for a retention.

use chrono::{DateTime, Utc};

use crate::{Error, Store};

/// One stored audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub seq: i64,
    /// The CloudTrail-shaped record, as JSON text.
    pub record: String,
}

/// What an audit listing selects.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only records after this sequence number (to follow the trail).
    pub after: Option<i64>,
    pub principal_arn: Option<String>,
    pub denied_only: bool,
    pub limit: u32,
}

/// A record to append.
#[derive(Debug, Clone)]
pub struct NewAuditRecord<'a> {
    pub event_id: &'a str,
    pub time: DateTime<Utc>,
    pub principal_arn: &'a str,
    pub event_name: &'a str,
    pub denied: bool,
    pub record: &'a str,
}

impl Store {
    delegate! {
        /// Appends records in one transaction.
        pub async fn append_audit(&self, records: &[NewAuditRecord<'_>]) -> Result<(), Error>;
        /// Records in order: the last `limit` matching ones, or with `after`, the first
        /// `limit` after it.
        pub async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, Error>;
        /// Deletes records older than `before`; how many.
        pub async fn delete_audit_before(&self, before: DateTime<Utc>) -> Result<u64, Error>;
    }
}
