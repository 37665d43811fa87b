//! The identity service over a real SQLite store: principals, keys, policies, sessions
//! and decisions, and that no secret reaches the database.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use trainyard_auth::{Authenticator, Sealer};
use trainyard_identity::{
    AccessRequest, AssumeRole, Error, Identities, IdentityKind, NewPrincipal, PrincipalKind, RequestFacts,
};
use trainyard_store::Store;

const ROOT_TOKEN: &str = "tyd_root-token-for-tests";

async fn open(dir: &std::path::Path) -> (Identities, Store) {
    let store = Store::open(&dir.join("trainyard.db")).await.unwrap();
    let identities =
        Identities::open(store.clone(), Sealer::from_key(&[9; 32]), Authenticator::new(ROOT_TOKEN)).await.unwrap();
    (identities, store)
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

const TRAINING_ONLY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "sagemaker:CreateTrainingJob", "Resource": "arn:aws:sagemaker:local:000000000000:training-job/team-a-*"}]}"#;

fn allowed(identities: &Identities, who: &trainyard_identity::Identity, action: &str, resource: &str) -> bool {
    let facts = RequestFacts::default();
    let request = AccessRequest { action, resource, facts: &facts, resource_policy: None };
    identities.authorize(who, &request, Utc::now()).is_allowed()
}

#[tokio::test]
async fn keys_authenticate_and_policies_decide() {
    let dir = tempfile::tempdir().unwrap();
    let (identities, store) = open(dir.path()).await;
    let root = identities.authenticate(Some(&bearer(ROOT_TOKEN)), Utc::now()).unwrap();
    assert_eq!(root.kind, IdentityKind::Root);
    assert!(allowed(&identities, &root, "iam:DeleteUser", "arn:aws:iam::000000000000:user/anyone"));

    let alice = NewPrincipal { name: "alice".into(), ..Default::default() };
    let view = identities.create_principal(PrincipalKind::User, alice).await.unwrap();
    assert_eq!(view.arn, "arn:aws:iam::000000000000:user/alice");
    let duplicate = NewPrincipal { name: "ALICE".into(), ..Default::default() };
    assert!(matches!(
        identities.create_principal(PrincipalKind::ServiceAccount, duplicate).await,
        Err(Error::EntityAlreadyExists { .. })
    ));
    let key = identities.create_access_key(PrincipalKind::User, "alice").await.unwrap();
    assert!(key.access_key_id.starts_with("AKIA") && key.secret_access_key.starts_with("tyk_"));
    let caller = identities.authenticate(Some(&bearer(&key.secret_access_key)), Utc::now()).unwrap();
    assert_eq!(caller.arn, "arn:aws:iam::000000000000:user/alice");
    assert_eq!(caller.access_key_id.as_deref(), Some(key.access_key_id.as_str()));

    let job = |name: &str| format!("arn:aws:sagemaker:local:000000000000:training-job/{name}");
    assert!(!allowed(&identities, &caller, "sagemaker:CreateTrainingJob", &job("team-a-1")), "no policy, no access");
    identities.put_inline_policy(PrincipalKind::User, "alice", "training", TRAINING_ONLY).await.unwrap();
    assert!(allowed(&identities, &caller, "sagemaker:CreateTrainingJob", &job("team-a-1")));
    assert!(!allowed(&identities, &caller, "sagemaker:CreateTrainingJob", &job("team-b-1")));
    assert!(!allowed(&identities, &caller, "sagemaker:DeleteModelPackageGroup", "*"));

    // A boundary is a ceiling: ReadOnlyAccess removes the write the inline policy grants.
    identities.set_boundary(PrincipalKind::User, "alice", Some("ReadOnlyAccess")).await.unwrap();
    assert!(!allowed(&identities, &caller, "sagemaker:CreateTrainingJob", &job("team-a-1")));
    identities.set_boundary(PrincipalKind::User, "alice", None).await.unwrap();

    // Deactivated and deleted keys stop working; the view survives a restart.
    identities.set_access_key_active(PrincipalKind::User, "alice", &key.access_key_id, false).await.unwrap();
    assert!(matches!(
        identities.authenticate(Some(&bearer(&key.secret_access_key)), Utc::now()),
        Err(Error::InvalidClientTokenId)
    ));
    identities.set_access_key_active(PrincipalKind::User, "alice", &key.access_key_id, true).await.unwrap();
    let (reopened, _) = open(dir.path()).await;
    let again = reopened.authenticate(Some(&bearer(&key.secret_access_key)), Utc::now()).unwrap();
    assert!(allowed(&reopened, &again, "sagemaker:CreateTrainingJob", &job("team-a-2")));
    assert!(matches!(reopened.authenticate(Some("Bearer tyk_wrong"), Utc::now()), Err(Error::InvalidClientTokenId)));
    assert!(matches!(reopened.authenticate(None, Utc::now()), Err(Error::MissingCredentials)));

    // No secret is in the database file.
    store.close().await;
    let bytes = std::fs::read(dir.path().join("trainyard.db")).unwrap();
    let wal = std::fs::read(dir.path().join("trainyard.db-wal")).unwrap_or_default();
    for file in [&bytes, &wal] {
        let text = String::from_utf8_lossy(file);
        assert!(!text.contains(&key.secret_access_key[4..]), "a secret reached the database");
    }
}

#[tokio::test]
async fn roles_are_assumed_within_their_trust_and_sessions_end() {
    let dir = tempfile::tempdir().unwrap();
    let (identities, _store) = open(dir.path()).await;
    let trust = r#"{"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/bob"}, "Action": "sts:AssumeRole"},
      {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;
    let role = NewPrincipal {
        name: "trainer".into(),
        trust_policy: Some(trust.into()),
        max_session_seconds: Some(7200),
        tags: BTreeMap::from([("team".to_string(), "a".to_string())]),
        ..Default::default()
    };
    identities.create_principal(PrincipalKind::Role, role).await.unwrap();
    identities.put_inline_policy(PrincipalKind::Role, "trainer", "training", TRAINING_ONLY).await.unwrap();
    for name in ["bob", "carol"] {
        identities
            .create_principal(PrincipalKind::User, NewPrincipal { name: name.into(), ..Default::default() })
            .await
            .unwrap();
    }
    let secret = |name: &'static str| {
        let identities = identities.clone();
        async move { identities.create_access_key(PrincipalKind::User, name).await.unwrap().secret_access_key }
    };
    let bob = identities.authenticate(Some(&bearer(&secret("bob").await)), Utc::now()).unwrap();
    let carol = identities.authenticate(Some(&bearer(&secret("carol").await)), Utc::now()).unwrap();
    let request = |duration: Option<i64>, policy: Option<&str>| AssumeRole {
        role_arn: "arn:aws:iam::000000000000:role/trainer".into(),
        session_name: "run-1".into(),
        duration_seconds: duration,
        policy: policy.map(str::to_string),
    };
    let facts = RequestFacts::default();
    assert!(matches!(identities.assume_role(&carol, request(None, None), &facts).await, Err(Error::AccessDenied(_))));
    assert!(matches!(
        identities.assume_role(&bob, request(Some(899), None), &facts).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        identities.assume_role(&bob, request(Some(7201), None), &facts).await,
        Err(Error::InvalidInput(_))
    ));
    let credentials = identities.assume_role(&bob, request(Some(7200), None), &facts).await.unwrap();
    assert_eq!(credentials.assumed_role_arn, "arn:aws:sts::000000000000:assumed-role/trainer/run-1");
    assert!(credentials.access_key_id.starts_with("ASIA") && credentials.session_token.starts_with("tyt_"));
    let session = identities.authenticate(Some(&bearer(&credentials.session_token)), Utc::now()).unwrap();
    assert_eq!(session.kind, IdentityKind::AssumedRole);
    let job = "arn:aws:sagemaker:local:000000000000:training-job/team-a-7";
    assert!(allowed(&identities, &session, "sagemaker:CreateTrainingJob", job));
    let later = Utc::now() + Duration::seconds(7201);
    assert!(matches!(
        identities.authenticate(Some(&bearer(&credentials.session_token)), later),
        Err(Error::ExpiredToken)
    ));

    // A session policy is a ceiling on the role's permissions.
    let nothing =
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}"#;
    let limited = identities.assume_role(&bob, request(None, Some(nothing)), &facts).await.unwrap();
    let limited = identities.authenticate(Some(&bearer(&limited.session_token)), Utc::now()).unwrap();
    assert!(!allowed(&identities, &limited, "sagemaker:CreateTrainingJob", job));

    // A service session needs the trust policy to name the service; revoking ends it.
    let service = identities
        .start_service_session("arn:aws:iam::000000000000:role/trainer", "lambda.amazonaws.com", "invoke-1", 900)
        .await
        .unwrap();
    let token = bearer(&service.credentials.session_token);
    assert!(identities.authenticate(Some(&token), Utc::now()).is_ok());
    identities.revoke_session(&service.session_id).await.unwrap();
    assert!(matches!(identities.authenticate(Some(&token), Utc::now()), Err(Error::InvalidClientTokenId)));
    let refused = identities
        .start_service_session("arn:aws:iam::000000000000:role/trainer", "sagemaker.amazonaws.com", "job-1", 900)
        .await;
    assert!(matches!(refused, Err(Error::AccessDenied(_))));
}

#[tokio::test]
async fn bad_policies_are_refused_whole_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (identities, _store) = open(dir.path()).await;
    let bad = r#"{"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Action": "CreateTrainingJob", "Resource": "*"},
      {"Effect": "Permit", "Action": "s3:GetObject", "Resource": "*"}]}"#;
    let Err(Error::MalformedPolicyDocument(problems)) = identities.create_policy("bad", None, bad).await else {
        panic!("a bad policy was accepted");
    };
    assert!(problems.0.len() >= 2, "{problems}");
    assert!(problems.0.iter().any(|p| p.path.starts_with("Statement[1]")), "{problems}");
    assert!(identities.policy("bad").is_err(), "nothing stored");
    assert!(identities.policies().iter().any(|p| p.policy_name == "AdministratorAccess" && p.builtin));
    assert!(identities.delete_policy("AdministratorAccess").await.is_err());
    identities.create_policy("training", None, TRAINING_ONLY).await.unwrap();
    identities
        .create_principal(PrincipalKind::User, NewPrincipal { name: "dave".into(), ..Default::default() })
        .await
        .unwrap();
    identities.attach_policy(PrincipalKind::User, "dave", "training").await.unwrap();
    assert!(matches!(identities.delete_policy("training").await, Err(Error::DeleteConflict { .. })));
    identities.detach_policy(PrincipalKind::User, "dave", "training").await.unwrap();
    identities.delete_policy("training").await.unwrap();
}

/// Decisions are cached for the second they were made in: the cache keys on everything a
/// condition may test, and forgets everything when a policy changes.
#[tokio::test]
async fn cached_decisions_follow_conditions_and_policy_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (identities, _store) = open(dir.path()).await;
    identities
        .create_principal(PrincipalKind::User, NewPrincipal { name: "net".into(), ..Default::default() })
        .await
        .unwrap();
    let key = identities.create_access_key(PrincipalKind::User, "net").await.unwrap();
    let caller = identities.authenticate(Some(&bearer(&key.secret_access_key)), Utc::now()).unwrap();
    let policy = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}"#;
    identities.put_inline_policy(PrincipalKind::User, "net", "net", policy).await.unwrap();
    let now = Utc::now();
    let from = |ip: &str| {
        let facts = RequestFacts { source_ip: Some(ip.to_string()), ..Default::default() };
        let request = AccessRequest {
            action: "s3:GetObject",
            resource: "arn:aws:s3:::b/k",
            facts: &facts,
            resource_policy: None,
        };
        identities.authorize(&caller, &request, now).is_allowed()
    };
    for _ in 0..3 {
        assert!(from("10.1.2.3"));
        assert!(!from("192.168.1.1"), "another address is another question");
    }
    identities.delete_inline_policy(PrincipalKind::User, "net", "net").await.unwrap();
    assert!(!from("10.1.2.3"), "a policy change is in force at once, in the same second");
}

/// ECR login passwords stand for the key they were issued to: they authenticate as its
/// principal while the key is active and for at most 12 hours, and cannot be forged or
/// passed off as a registry token.
#[tokio::test]
async fn login_passwords_follow_their_key_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (identities, _store) = open(dir.path()).await;
    let alice = NewPrincipal { name: "alice".into(), ..Default::default() };
    identities.create_principal(PrincipalKind::User, alice).await.unwrap();
    let key = identities.create_access_key(PrincipalKind::User, "alice").await.unwrap();
    let caller = identities.authenticate(Some(&bearer(&key.secret_access_key)), Utc::now()).unwrap();
    let now = Utc::now();
    let (password, expires) = identities.issue_login_password(&caller, now).unwrap();
    assert!(Identities::is_login_password(&password));
    assert_eq!(expires.timestamp(), now.timestamp() + trainyard_identity::LOGIN_PASSWORD_SECONDS);
    let (who, _) = identities.verify_login_password(&password, now).unwrap();
    assert_eq!(who.arn, "arn:aws:iam::000000000000:user/alice");
    assert!(matches!(identities.verify_login_password(&password, now + Duration::hours(13)), Err(Error::ExpiredToken)));
    let mut forged = password.clone();
    forged.pop();
    forged.push(if password.ends_with('0') { '1' } else { '0' });
    assert!(matches!(identities.verify_login_password(&forged, now), Err(Error::InvalidClientTokenId)));
    let (token, _) = identities.issue_registry_token(&caller, &[], now, Some(expires));
    assert!(identities.verify_login_password(&token, now).is_err(), "a registry token is not a login password");
    assert!(identities.verify_registry_token(&password, now).is_err(), "nor the other way round");
    let root = identities.authenticate(Some(&bearer(ROOT_TOKEN)), now).unwrap();
    assert!(identities.issue_login_password(&root, now).is_err(), "the admin token has no credential to stand for");

    identities.set_access_key_active(PrincipalKind::User, "alice", &key.access_key_id, false).await.unwrap();
    assert!(
        matches!(identities.verify_login_password(&password, now), Err(Error::InvalidClientTokenId)),
        "a deactivated key's password stops working"
    );
}
