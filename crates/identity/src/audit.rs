//! The audit trail: a CloudTrail-shaped record (eventVersion 1.11) of every mutating call,
//! every denied call and every credential issued, written by one task in batches, kept
//! for a retention, and handed to a publisher (the bus) as it is written.
//!
//! Invariant: no record holds a secret: request parameters and response elements whose
//! names say secret, password or token are replaced by `HIDDEN_DUE_TO_SECURITY_REASONS`,
//! as CloudTrail does (an issued session keeps its `accessKeyId` and expiration).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use trainyard_iam::{ACCOUNT, REGION};
use trainyard_store::{AuditQuery, NewAuditRecord, Store};

use crate::identity::Identity;
use crate::Error;

/// What is handed each batch of written records (management events only).
pub type AuditPublisher = Arc<dyn Fn(Vec<Value>) + Send + Sync>;

/// One call to record.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub time: DateTime<Utc>,
    /// The caller; none when authentication failed or only a token's subject is known.
    pub identity: Option<Identity>,
    /// The caller's ARN when there is no identity (a registry token's subject).
    pub subject: Option<String>,
    /// `service:Action`, e.g. `sagemaker:CreateTrainingJob`.
    pub action: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_parameters: Value,
    pub response_elements: Option<Value>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: String,
    pub read_only: bool,
    /// Data events (object writes, invocations, PutEvents) are stored but not published.
    pub data_event: bool,
    pub resources: Vec<String>,
}

impl AuditEntry {
    /// The CloudTrail record.
    pub fn to_record(&self, event_id: &str) -> Value {
        let (prefix, name) = self.action.split_once(':').unwrap_or(("trainyard", self.action.as_str()));
        let user_identity = match &self.identity {
            Some(identity) => identity.user_identity(),
            // A service acting for a run (`lambda.amazonaws.com`), or a token's subject.
            None => match &self.subject {
                Some(service) if service.ends_with(".amazonaws.com") => {
                    json!({"type": "AWSService", "invokedBy": service})
                }
                subject => json!({"type": "Unknown", "accountId": ACCOUNT, "arn": subject}),
            },
        };
        let resources: Vec<Value> = self
            .resources
            .iter()
            .map(|arn| json!({"ARN": arn, "accountId": ACCOUNT, "type": resource_type(arn)}))
            .collect();
        json!({
            "eventVersion": "1.11",
            "userIdentity": user_identity,
            "eventTime": self.time.to_rfc3339_opts(SecondsFormat::Secs, true),
            "eventSource": format!("{prefix}.amazonaws.com"),
            "eventName": name,
            "awsRegion": REGION,
            "sourceIPAddress": self.source_ip.as_deref().unwrap_or("unknown"),
            "userAgent": self.user_agent.as_deref().unwrap_or(""),
            "errorCode": self.error_code,
            "errorMessage": self.error_message,
            "requestParameters": hide_secrets(self.request_parameters.clone()),
            "responseElements": self.response_elements.clone().map(hide_secrets),
            "requestID": self.request_id,
            "eventID": event_id,
            "readOnly": self.read_only,
            "resources": resources,
            "eventType": "AwsApiCall",
            "managementEvent": !self.data_event,
            "recipientAccountId": ACCOUNT,
            "eventCategory": if self.data_event { "Data" } else { "Management" },
        })
    }
}

/// The resource type CloudTrail names, from an ARN (`AWS::SageMaker::TrainingJob`-like).
fn resource_type(arn: &str) -> String {
    let mut parts = arn.splitn(6, ':');
    let service = parts.nth(2).unwrap_or("");
    let kind = parts.nth(2).and_then(|r| r.split(['/', ':']).next()).unwrap_or("");
    format!("AWS::{service}::{kind}")
}

fn hide_secrets(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let lower = key.to_lowercase();
                    let secret = ["secret", "password", "token"].iter().any(|word| lower.contains(word));
                    (key, if secret { "HIDDEN_DUE_TO_SECURITY_REASONS".into() } else { hide_secrets(value) })
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(hide_secrets).collect()),
        other => other,
    }
}

enum Message {
    Entry(Box<AuditEntry>),
    Flush(oneshot::Sender<()>),
}

/// The trail; cheap to clone.
#[derive(Clone)]
pub struct AuditTrail {
    sender: mpsc::Sender<Message>,
    store: Store,
}

/// Records written at most in one transaction.
const BATCH: usize = 512;

impl AuditTrail {
    /// Starts the writer task: records older than `retention` are deleted hourly.
    pub fn start(store: Store, publisher: Option<AuditPublisher>, retention: Duration) -> AuditTrail {
        let (sender, receiver) = mpsc::channel(16 * 1024);
        tokio::spawn(write_loop(store.clone(), receiver, publisher, retention));
        AuditTrail { sender, store }
    }

    /// Queues a record (waiting only if the writer is far behind).
    pub async fn record(&self, entry: AuditEntry) {
        if self.sender.send(Message::Entry(Box::new(entry))).await.is_err() {
            tracing::error!("the audit writer has stopped; a record was lost");
        }
    }

    /// Waits until every record queued before it is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Stored records, oldest first, with their sequence numbers.
    pub async fn list(&self, query: &AuditQuery) -> Result<Vec<(i64, Value)>, Error> {
        let rows = self.store.list_audit(query).await?;
        Ok(rows.into_iter().map(|row| (row.seq, serde_json::from_str(&row.record).unwrap_or(Value::Null))).collect())
    }
}

async fn write_loop(
    store: Store,
    mut receiver: mpsc::Receiver<Message>,
    publisher: Option<AuditPublisher>,
    retention: Duration,
) {
    let mut expiry = tokio::time::interval(Duration::from_secs(3600));
    loop {
        let first = tokio::select! {
            message = receiver.recv() => match message { Some(m) => m, None => return },
            _ = expiry.tick() => {
                let before = Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(90));
                if let Err(e) = store.delete_audit_before(before).await {
                    tracing::warn!(error = %e, "expiring audit records failed");
                }
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        write_batch(&store, batch, publisher.as_ref()).await;
    }
}

async fn write_batch(store: &Store, batch: Vec<Message>, publisher: Option<&AuditPublisher>) {
    let mut flushes = Vec::new();
    let mut records = Vec::new();
    for message in batch {
        match message {
            Message::Flush(done) => flushes.push(done),
            Message::Entry(entry) => {
                let event_id = uuid::Uuid::new_v4().to_string();
                let principal = entry
                    .identity
                    .as_ref()
                    .map(|i| i.arn.clone())
                    .or_else(|| entry.subject.clone())
                    .unwrap_or_else(|| "anonymous".to_string());
                records.push((entry.to_record(&event_id), event_id, principal, entry));
            }
        }
    }
    let texts: Vec<String> = records.iter().map(|(record, ..)| record.to_string()).collect();
    let rows: Vec<NewAuditRecord<'_>> = records
        .iter()
        .zip(&texts)
        .map(|((record, event_id, principal, entry), text)| NewAuditRecord {
            event_id,
            time: entry.time,
            principal_arn: principal,
            event_name: record["eventName"].as_str().unwrap_or(""),
            // Query and S3 say AccessDenied; json services AccessDeniedException.
            denied: matches!(entry.error_code.as_deref(), Some("AccessDenied" | "AccessDeniedException")),
            record: text,
        })
        .collect();
    if let Err(e) = store.append_audit(&rows).await {
        tracing::error!(error = %e, records = rows.len(), "writing audit records failed");
    }
    if let Some(publish) = publisher {
        let published: Vec<Value> =
            records.iter().filter(|(_, _, _, entry)| !entry.data_event).map(|(record, ..)| record.clone()).collect();
        if !published.is_empty() {
            publish(published);
        }
    }
    for done in flushes {
        let _ = done.send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_cloudtrail_shaped_and_hide_secrets() {
        let entry = AuditEntry {
            time: Utc::now(),
            identity: Some(Identity::root()),
            subject: None,
            action: "iam:CreateAccessKey".into(),
            source_ip: Some("127.0.0.1".into()),
            user_agent: Some("trainyard-cli".into()),
            request_parameters: json!({"userName": "alice"}),
            response_elements: Some(json!({"accessKey": {"accessKeyId": "AKIA1", "secretAccessKey": "tyk_x"}})),
            error_code: None,
            error_message: None,
            request_id: "r1".into(),
            read_only: false,
            data_event: false,
            resources: vec!["arn:aws:iam::000000000000:user/alice".into()],
        };
        let record = entry.to_record("e1");
        assert_eq!(record["eventSource"], "iam.amazonaws.com");
        assert_eq!(record["eventName"], "CreateAccessKey");
        assert_eq!(record["userIdentity"]["type"], "Root");
        assert_eq!(record["resources"][0]["type"], "AWS::iam::user");
        assert_eq!(record["responseElements"]["accessKey"]["secretAccessKey"], "HIDDEN_DUE_TO_SECURITY_REASONS");
        assert!(!record.to_string().contains("tyk_x"));
    }
}
