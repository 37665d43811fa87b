//! Runs: a function invocation or a job that acts as a role. A run starts with a fresh
//! session, can fetch fresh credentials from a loopback endpoint compatible with the AWS
//! SDKs' container credential provider (`AWS_CONTAINER_CREDENTIALS_FULL_URI` with the
//! token in `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`) when it outlives its session, and
//! ends with every session it was given revoked.
//!
//! Invariant: a run's refresh token is kept as a digest; runs live in memory only (a run
//! does not outlive the server, whose death kills its processes).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::credentials::{self, SecretDigest};
use crate::service::{Credentials, Identities};
use crate::Error;

/// Credentials are refreshed when they have less than this left.
const REFRESH_BEFORE_SECONDS: i64 = 15 * 60;

#[derive(Debug)]
struct Run {
    role_arn: String,
    service: String,
    session_name: String,
    seconds: i64,
    token_digest: SecretDigest,
    /// Every session the run was given, the newest last.
    sessions: Vec<(String, DateTime<Utc>, Credentials)>,
}

/// The runs in progress.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    runs: Mutex<HashMap<String, Run>>,
}

/// A run's first credentials and the token that buys fresh ones.
#[derive(Debug, Clone)]
pub struct RunCredentials {
    pub run_id: String,
    pub refresh_token: String,
    pub credentials: Credentials,
}

impl RunCredentials {
    /// The environment that carries them into a process: the trainyard CLI's
    /// `TRAINYARD_SESSION_TOKEN` and the AWS SDKs' variables. `credentials_url` is the
    /// loopback endpoint (`…/credentials/RUN`), `token_file` where the refresh token is.
    pub fn environment(&self, credentials_url: Option<&str>, token_file: Option<&str>) -> Vec<(String, String)> {
        let c = &self.credentials;
        let mut environment = vec![
            ("TRAINYARD_SESSION_TOKEN".to_string(), c.session_token.clone()),
            ("AWS_ACCESS_KEY_ID".to_string(), c.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), c.secret_access_key.clone()),
            ("AWS_SESSION_TOKEN".to_string(), c.session_token.clone()),
            ("AWS_REGION".to_string(), trainyard_iam::REGION.to_string()),
            ("AWS_DEFAULT_REGION".to_string(), trainyard_iam::REGION.to_string()),
        ];
        if let (Some(url), Some(file)) = (credentials_url, token_file) {
            environment.push(("AWS_CONTAINER_CREDENTIALS_FULL_URI".to_string(), url.to_string()));
            environment.push(("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".to_string(), file.to_string()));
        }
        environment
    }
}

impl Identities {
    /// Starts a run of `role_arn` for `service`: a session of at least `seconds` (within
    /// the role's limits), whose trust policy must allow the service.
    pub async fn start_run(
        &self,
        role_arn: &str,
        service: &str,
        session_name: &str,
        seconds: i64,
    ) -> Result<RunCredentials, Error> {
        let session = self.start_service_session(role_arn, service, session_name, seconds).await?;
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let refresh_token =
            credentials::derive_secret(&self.inner.sealer, credentials::SecretKind::SessionToken, &run_id);
        let run = Run {
            role_arn: role_arn.to_string(),
            service: service.to_string(),
            session_name: session_name.to_string(),
            seconds,
            token_digest: credentials::digest(&refresh_token),
            sessions: vec![(session.session_id.clone(), Utc::now(), session.credentials.clone())],
        };
        self.inner.runs.runs.lock().unwrap_or_else(|p| p.into_inner()).insert(run_id.clone(), run);
        Ok(RunCredentials { run_id, refresh_token, credentials: session.credentials })
    }

    /// Credentials for a run that presents its refresh token: the current session's, or a
    /// new session's when the current one has less than 15 minutes left.
    pub async fn run_credentials(&self, run_id: &str, token: &str) -> Result<Credentials, Error> {
        let (current, renew) = {
            let runs = self.inner.runs.runs.lock().unwrap_or_else(|p| p.into_inner());
            let run = runs.get(run_id).ok_or(Error::InvalidClientTokenId)?;
            if !trainyard_auth::constant_time_eq(&credentials::digest(token), &run.token_digest) {
                return Err(Error::InvalidClientTokenId);
            }
            let (_, _, current) = run.sessions.last().ok_or(Error::InvalidClientTokenId)?;
            let expires = DateTime::parse_from_rfc3339(&current.expiration).map(|t| t.with_timezone(&Utc)).ok();
            let fresh = expires.is_some_and(|e| e - Utc::now() > Duration::seconds(REFRESH_BEFORE_SECONDS));
            (
                current.clone(),
                (!fresh).then(|| (run.role_arn.clone(), run.service.clone(), run.session_name.clone(), run.seconds)),
            )
        };
        let Some((role, service, name, seconds)) = renew else { return Ok(current) };
        let session = self.start_service_session(&role, &service, &name, seconds).await?;
        let kept = {
            let mut runs = self.inner.runs.runs.lock().unwrap_or_else(|p| p.into_inner());
            runs.get_mut(run_id)
                .map(|run| run.sessions.push((session.session_id.clone(), Utc::now(), session.credentials.clone())))
                .is_some()
        };
        if !kept {
            // The run ended while the session started: end it too.
            self.revoke_session(&session.session_id).await?;
            return Err(Error::InvalidClientTokenId);
        }
        Ok(session.credentials)
    }

    /// Ends a run: every session it was given is revoked.
    pub async fn end_run(&self, run_id: &str) -> Result<(), Error> {
        let run = self.inner.runs.runs.lock().unwrap_or_else(|p| p.into_inner()).remove(run_id);
        for (session, ..) in run.map(|r| r.sessions).unwrap_or_default() {
            self.revoke_session(&session).await?;
        }
        Ok(())
    }
}
