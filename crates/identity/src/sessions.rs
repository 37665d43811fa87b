//! Role sessions for functions and jobs: the bus's and the jobs' `Sessions`, served by the
//! identity service. Each run gets a session's variables, a refresh token in a 0600 file
//! under `DATA_DIR/runs/`, and the loopback credential endpoint (`/credentials/RUN`) the
//! AWS SDKs' container provider reads when the run outlives its session.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::Identities;
use futures::future::BoxFuture;
use trainyard_bus::{RunSession, Sessions};

/// The identity service's sessions, for processes on this server.
pub struct RoleSessions {
    pub identities: Identities,
    /// The API's URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Where refresh-token files live.
    pub dir: PathBuf,
    /// Where each session issued is recorded.
    pub audit: Option<crate::AuditTrail>,
}

/// A session name IAM accepts (2–64 of `[\w+=,.@-]`), from a function's or job's name.
fn session_name(name: &str) -> String {
    let mut cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) { c } else { '-' })
        .take(64)
        .collect();
    if cleaned.len() < 2 {
        cleaned.push_str("-0");
    }
    cleaned
}

impl Sessions for RoleSessions {
    fn start(
        &self,
        role: &str,
        service: &str,
        name: &str,
        seconds: u64,
    ) -> BoxFuture<'static, Result<RunSession, String>> {
        let (identities, url, dir, audit) =
            (self.identities.clone(), self.url.clone(), self.dir.clone(), self.audit.clone());
        let (role, service, name) = (role.to_string(), service.to_string(), session_name(name));
        Box::pin(async move {
            let run = identities
                .start_run(&role, &service, &name, i64::try_from(seconds).unwrap_or(i64::MAX))
                .await
                .map_err(|e| e.to_string())?;
            let file = dir.join(format!("{}.token", run.run_id));
            let written = std::fs::create_dir_all(&dir).and_then(|()| {
                let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&file)?;
                out.write_all(run.refresh_token.as_bytes())
            });
            if let Err(e) = written {
                let _ = identities.end_run(&run.run_id).await;
                return Err(format!("writing {}: {e}", file.display()));
            }
            if let Some(audit) = audit {
                audit.record(issued(&service, &role, &name, &run.credentials.access_key_id)).await;
            }
            let endpoint = format!("{url}/credentials/{}", run.run_id);
            let mut environment: BTreeMap<String, String> =
                run.environment(Some(&endpoint), Some(&file.display().to_string())).into_iter().collect();
            environment.insert("TRAINYARD_ENDPOINT".into(), url);
            Ok(RunSession { id: run.run_id, environment })
        })
    }

    fn end(&self, session: RunSession) -> BoxFuture<'static, ()> {
        let (identities, dir) = (self.identities.clone(), self.dir.clone());
        Box::pin(async move {
            let _ = std::fs::remove_file(dir.join(format!("{}.token", session.id)));
            if let Err(e) = identities.end_run(&session.id).await {
                tracing::warn!(error = %e, "ending a run's sessions failed");
            }
        })
    }
}

/// The audit record of a session issued to a service for a run (CloudTrail's
/// `AssumeRole` by an `AWSService`).
fn issued(service: &str, role: &str, session: &str, key: &str) -> crate::AuditEntry {
    crate::AuditEntry {
        time: chrono::Utc::now(),
        identity: None,
        subject: Some(service.to_string()),
        action: "sts:AssumeRole".into(),
        source_ip: Some(service.to_string()),
        user_agent: Some(service.to_string()),
        request_parameters: serde_json::json!({"roleArn": role, "roleSessionName": session}),
        response_elements: Some(serde_json::json!({"credentials": {"accessKeyId": key}})),
        error_code: None,
        error_message: None,
        request_id: uuid::Uuid::new_v4().to_string(),
        read_only: false,
        data_event: false,
        resources: vec![role.to_string()],
    }
}
