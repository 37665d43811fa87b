//! Identity end to end over HTTP: principals × calls with expected allow/deny, denials
//! that never reveal existence, escalation attempts, sessions, and the audit trail.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::Server;

const TRAIN_TEAM_A: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "Train", "Effect": "Allow", "Action": ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"],
   "Resource": "arn:aws:sagemaker:local:000000000000:training-job/team-a-*"},
  {"Sid": "Self", "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]}"#;

/// Creates a user with a key; its secret.
async fn user_with_key(server: &Server, kind: &str, name: &str) -> String {
    let (status, body) = server.post(&format!("/iam/{kind}"), json!({"Name": name})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server.post(&format!("/iam/{kind}/{name}/access-keys"), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string()
}

async fn put(server: &Server, path: &str, body: Value) -> (StatusCode, Value) {
    server.call(Method::PUT, path, Some(body)).await
}

fn training_job(name: &str) -> Value {
    json!({"TrainingJobName": name, "AlgorithmSpecification": {"TrainingImage": "none", "TrainingInputMode": "File"},
           "RoleArn": "arn:aws:iam::000000000000:role/x", "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
           "ResourceConfig": {"InstanceCount": 1, "InstanceType": "local", "VolumeSizeInGB": 1},
           "StoppingCondition": {"MaxRuntimeInSeconds": 60}})
}

#[tokio::test]
async fn principals_by_calls_are_allowed_and_denied_as_their_policies_say() {
    let server = Server::start().await;
    let reader = user_with_key(&server, "users", "reader").await;
    let trainer = user_with_key(&server, "users", "trainer").await;
    let robot = user_with_key(&server, "service-accounts", "ci").await;
    let (status, body) = put(&server, "/iam/users/reader/attached-policies/ReadOnlyAccess", json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        put(&server, "/iam/users/trainer/policies/train", json!({"PolicyDocument": TRAIN_TEAM_A})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // (who, method, path, body, expected status)
    let matrix: Vec<(&str, Method, &str, Option<Value>, StatusCode)> = vec![
        (&reader, Method::GET, "/training-jobs", None, StatusCode::OK),
        (&reader, Method::GET, "/buckets", None, StatusCode::OK),
        (&reader, Method::POST, "/buses", Some(json!({"Name": "x"})), StatusCode::FORBIDDEN),
        (&reader, Method::DELETE, "/model-package-groups/any", None, StatusCode::FORBIDDEN),
        (&reader, Method::GET, "/training-jobs/missing", None, StatusCode::NOT_FOUND),
        (&trainer, Method::GET, "/training-jobs", None, StatusCode::FORBIDDEN),
        (&trainer, Method::GET, "/training-jobs/team-a-missing", None, StatusCode::NOT_FOUND),
        // Not allowed to describe it: 403 whether or not it exists.
        (&trainer, Method::GET, "/training-jobs/team-b-missing", None, StatusCode::FORBIDDEN),
        (&trainer, Method::POST, "/training-jobs", Some(training_job("team-b-1")), StatusCode::FORBIDDEN),
        (&trainer, Method::GET, "/sts/caller-identity", None, StatusCode::OK),
        (&robot, Method::GET, "/buckets", None, StatusCode::FORBIDDEN),
        (&robot, Method::GET, "/sts/caller-identity", None, StatusCode::OK),
        // Escalation: editing one's own policies, keys for others, attaching admin.
        (
            &trainer,
            Method::PUT,
            "/iam/users/trainer/policies/more",
            Some(
                json!({"PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}),
            ),
            StatusCode::FORBIDDEN,
        ),
        (&trainer, Method::POST, "/iam/users/reader/access-keys", Some(json!({})), StatusCode::FORBIDDEN),
        (
            &trainer,
            Method::PUT,
            "/iam/users/trainer/attached-policies/AdministratorAccess",
            None,
            StatusCode::FORBIDDEN,
        ),
        (&reader, Method::PUT, "/iam/users/reader/attached-policies/AdministratorAccess", None, StatusCode::FORBIDDEN),
        (
            &trainer,
            Method::PUT,
            "/iam/roles/any/trust-policy",
            Some(json!({"PolicyDocument": "{}"})),
            StatusCode::FORBIDDEN,
        ),
        (
            &robot,
            Method::POST,
            "/sts/assume-role",
            Some(json!({"RoleArn": "arn:aws:iam::000000000000:role/any", "RoleSessionName": "x1"})),
            StatusCode::FORBIDDEN,
        ),
    ];
    let mut denied = 0;
    for (secret, method, path, body, expected) in matrix {
        let (status, answer) = server.call_as(secret, method.clone(), path, body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        if status == StatusCode::FORBIDDEN {
            denied += 1;
            assert_eq!(answer["code"], "AccessDenied", "{answer}");
            let message = answer["message"].as_str().unwrap();
            assert!(
                message.contains("arn:aws:iam::000000000000:user/") && message.contains("not authorized to perform"),
                "{message}"
            );
        }
    }
    // Every denied call is in the audit trail, with who and what.
    server.audit.flush().await;
    let (status, trail) = server.get("/audit?denied=true&limit=1000").await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    let events = trail["Events"].as_array().unwrap();
    assert_eq!(events.len(), denied, "{trail}");
    assert!(events.iter().all(|e| e["errorCode"] == "AccessDenied" && e["eventVersion"] == "1.11"));
    assert!(events
        .iter()
        .any(|e| e["eventName"] == "DeleteModelPackageGroup" && e["eventSource"] == "sagemaker.amazonaws.com"));
    // The key creation is recorded, without its secret.
    let (_, all) = server.get("/audit?limit=1000").await;
    let text = all.to_string();
    assert!(text.contains("CreateAccessKey"));
    for secret in [&reader, &trainer, &robot] {
        assert!(!text.contains(secret.as_str()), "a secret reached the audit trail");
    }
}

#[tokio::test]
async fn sessions_carry_the_role_and_expire_or_are_refused() {
    let server = Server::start().await;
    let alice = user_with_key(&server, "users", "alice").await;
    let trust = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/alice"}, "Action": "sts:AssumeRole"}]});
    let (status, body) = server.post("/iam/roles", json!({"Name": "trainer", "AssumeRolePolicyDocument": trust})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["Arn"], "arn:aws:iam::000000000000:role/trainer");
    put(&server, "/iam/roles/trainer/policies/train", json!({"PolicyDocument": TRAIN_TEAM_A})).await;
    let assume =
        json!({"RoleArn": "arn:aws:iam::000000000000:role/trainer", "RoleSessionName": "nb-1", "DurationSeconds": 900});
    let (status, session) = server.call_as(&alice, Method::POST, "/sts/assume-role", Some(assume.clone())).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let token = session["Credentials"]["SessionToken"].as_str().unwrap();
    let (status, me) = server.call_as(token, Method::GET, "/sts/caller-identity", None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["Arn"], "arn:aws:sts::000000000000:assumed-role/trainer/nb-1");
    let (status, _) = server.call_as(token, Method::GET, "/training-jobs/team-a-x", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the role's policy applies to its session");
    let (status, _) = server.call_as(token, Method::GET, "/buckets", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A user the trust policy does not name, bad durations, unknown tokens.
    let bob = user_with_key(&server, "users", "bob").await;
    let (status, body) = server.call_as(&bob, Method::POST, "/sts/assume-role", Some(assume.clone())).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("AccessDenied")), "{body}");
    let too_long =
        json!({"RoleArn": "arn:aws:iam::000000000000:role/trainer", "RoleSessionName": "x2", "DurationSeconds": 7200});
    let (status, body) = server.call_as(&alice, Method::POST, "/sts/assume-role", Some(too_long)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) =
        server.call_as("tyt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Method::GET, "/buckets", None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("InvalidClientTokenId")));
    // A forged identity header changes nothing.
    let forged = server
        .http
        .get(format!("{}/api/v1/buckets", server.url))
        .bearer_auth(&bob)
        .header("x-amzn-principal", "arn:aws:iam::000000000000:root")
        .header("kubeflow-userid", "root")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
}

#[tokio::test]
async fn malformed_policies_list_every_problem_and_store_nothing() {
    let server = Server::start().await;
    let bad = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "CreateTrainingJob", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringEqualz": {"aws:username": "x"}}}]});
    let (status, body) = server.post("/iam/policies", json!({"PolicyName": "bad", "PolicyDocument": bad})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "MalformedPolicyDocument");
    let problems = body["problems"].as_array().unwrap();
    assert!(problems.len() >= 2, "{body}");
    assert!(problems.iter().any(|p| p["path"].as_str().unwrap().starts_with("Statement[1].Condition")), "{body}");
    let (status, _) = server.get("/iam/policies/bad").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The simulator explains a decision.
    let (_, _) = server.post("/iam/users", json!({"Name": "sim"})).await;
    put(&server, "/iam/users/sim/policies/train", json!({"PolicyDocument": TRAIN_TEAM_A})).await;
    let (status, result) = server
        .post(
            "/iam/simulate",
            json!({"PolicySourceArn": "arn:aws:iam::000000000000:user/sim",
                   "ActionNames": ["sagemaker:CreateTrainingJob"],
                   "ResourceArns": ["arn:aws:sagemaker:local:000000000000:training-job/team-a-1",
                                    "arn:aws:sagemaker:local:000000000000:training-job/team-b-1"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    let results = result["EvaluationResults"].as_array().unwrap();
    assert_eq!(results[0]["EvalDecision"], "allowed");
    assert_eq!(results[0]["MatchedStatements"][0]["Sid"], "Train");
    assert_eq!(results[1]["EvalDecision"], "implicitDeny");
}

#[tokio::test]
async fn passing_a_role_needs_pass_role_for_that_service_and_a_trusting_role() {
    let server = Server::start().await;
    let trainer = user_with_key(&server, "users", "passer").await;
    put(&server, "/iam/users/passer/policies/train", json!({"PolicyDocument": TRAIN_TEAM_A})).await;
    let sagemaker_trust = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let lambda_trust = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    for (name, trust) in [("exec", &sagemaker_trust), ("admin-exec", &sagemaker_trust), ("fn-role", &lambda_trust)] {
        let (status, body) = server.post("/iam/roles", json!({"Name": name, "AssumeRolePolicyDocument": trust})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let job = |role: &str| {
        let mut job = training_job("team-a-1");
        job["RoleArn"] = json!(format!("arn:aws:iam::000000000000:role/{role}"));
        job
    };
    // No iam:PassRole yet: refused, whether or not the role exists.
    for role in ["exec", "no-such-role"] {
        let (status, body) = server.call_as(&trainer, Method::POST, "/training-jobs", Some(job(role))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["message"].as_str().unwrap().contains("iam:PassRole"), "{body}");
    }
    let pass = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole",
        "Resource": ["arn:aws:iam::000000000000:role/exec", "arn:aws:iam::000000000000:role/fn-role"],
        "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}]});
    put(&server, "/iam/users/passer/policies/pass", json!({"PolicyDocument": pass})).await;
    // A stronger role than the one it may pass: refused.
    let (status, body) = server.call_as(&trainer, Method::POST, "/training-jobs", Some(job("admin-exec"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A role whose trust policy does not name SageMaker: refused as invalid.
    let (status, body) = server.call_as(&trainer, Method::POST, "/training-jobs", Some(job("fn-role"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("does not allow sagemaker.amazonaws.com"), "{body}");
    // The role it may pass, to the service the condition names: past authorization.
    let (status, body) = server.call_as(&trainer, Method::POST, "/training-jobs", Some(job("exec"))).await;
    assert_ne!(status, StatusCode::FORBIDDEN, "{body}");
    assert_ne!(body["code"], "InvalidInput", "{body}");
}

#[tokio::test]
async fn object_access_follows_the_key_prefix_a_policy_names() {
    let server = Server::start().await;
    let secret = user_with_key(&server, "users", "analyst").await;
    for bucket in ["team-a", "team-b"] {
        let (status, body) = server.call(Method::PUT, &format!("/buckets/{bucket}"), None).await;
        assert!(status.is_success(), "{body}");
    }
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::team-a/${aws:username}/*"}]});
    put(&server, "/iam/users/analyst/policies/data", json!({"PolicyDocument": policy})).await;
    let object = |method: Method, path: &str| {
        server.http.request(method, format!("{}/api/v1/buckets/{path}", server.url)).bearer_auth(&secret).body("1,2\n")
    };
    let status = |response: reqwest::Response| response.status().as_u16();
    assert_eq!(status(object(Method::PUT, "team-a/objects/analyst/x.csv").send().await.unwrap()), 200);
    assert_eq!(status(object(Method::GET, "team-a/objects/analyst/x.csv").send().await.unwrap()), 200);
    assert_eq!(status(object(Method::PUT, "team-a/objects/someone-else/x.csv").send().await.unwrap()), 403);
    assert_eq!(status(object(Method::PUT, "team-b/objects/analyst/x.csv").send().await.unwrap()), 403);
    assert_eq!(status(object(Method::DELETE, "team-a/objects/analyst/x.csv").send().await.unwrap()), 403);
}

/// Attribute-based delegation: a team lead may create users only tagged with their own
/// team, and keys only for users of their team (`aws:RequestTag`, `aws:ResourceTag`, a
/// `${aws:PrincipalTag/team}` variable).
#[tokio::test]
async fn a_team_lead_manages_only_their_team_by_tags() {
    let server = Server::start().await;
    let (status, body) = server.post("/iam/users", json!({"Name": "lead", "Tags": {"team": "a"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, key) = server.post("/iam/users/lead/access-keys", json!({})).await;
    let lead = key["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string();
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "${aws:PrincipalTag/team}"}}},
        {"Effect": "Allow", "Action": "iam:CreateAccessKey", "Resource": "arn:aws:iam::000000000000:user/*",
         "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}}]});
    put(&server, "/iam/users/lead/policies/delegate", json!({"PolicyDocument": policy})).await;
    let create = |name: &str, team: &str| json!({"Name": name, "Tags": {"team": team}});
    let (status, body) = server.call_as(&lead, Method::POST, "/iam/users", Some(create("alice", "a"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = server.call_as(&lead, Method::POST, "/iam/users", Some(create("bob", "b"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.call_as(&lead, Method::POST, "/iam/users", Some(json!({"Name": "untagged"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no tag, no match");
    server.post("/iam/users", create("bob", "b")).await;
    let (status, body) = server.call_as(&lead, Method::POST, "/iam/users/alice/access-keys", Some(json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = server.call_as(&lead, Method::POST, "/iam/users/bob/access-keys", Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Applying a pipeline makes its roles: a caller needs the IAM actions for them too.
#[tokio::test]
async fn applying_a_pipeline_needs_the_right_to_make_its_roles() {
    let server = Server::start().await;
    let secret = user_with_key(&server, "users", "applier").await;
    let apply_only = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:CreatePipeline", "Resource": "*"}]});
    put(&server, "/iam/users/applier/policies/apply", json!({"PolicyDocument": apply_only})).await;
    let body = json!({"Spec": "name: x\n"});
    let (status, answer) = server.call_as(&secret, Method::POST, "/pipelines", Some(body.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("iam:CreateRole"), "{answer}");
    let roles = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:PutRolePolicy", "iam:PassRole"],
         "Resource": "arn:aws:iam::000000000000:role/trainyard-pipeline/*"}]});
    put(&server, "/iam/users/applier/policies/roles", json!({"PolicyDocument": roles})).await;
    let (status, answer) = server.call_as(&secret, Method::POST, "/pipelines", Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "past authorization, the spec is checked: {answer}");
}

/// A body cannot move the rule a call is decided on to another bus: a user allowed the
/// rules of bus `mine` cannot delete a default-bus rule by naming `mine` in a body.
#[tokio::test]
async fn a_rule_is_decided_on_the_bus_its_handler_acts_on() {
    let server = Server::start().await;
    server.post("/buses", json!({"Name": "mine"})).await;
    server.rule("victim", json!({"source": ["x"]})).await;
    let secret = user_with_key(&server, "users", "bus-owner").await;
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "events:*",
        "Resource": "arn:aws:events:local:000000000000:rule/mine/*"}]});
    put(&server, "/iam/users/bus-owner/policies/mine", json!({"PolicyDocument": policy})).await;
    let (status, body) =
        server.call_as(&secret, Method::DELETE, "/rules/victim", Some(json!({"EventBusName": "mine"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = server.get("/rules/victim").await;
    assert_eq!(status, StatusCode::OK, "the default bus's rule is still there");
    let (status, body) = server.call_as(&secret, Method::GET, "/events", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "listing every bus's events needs event-bus/*: {body}");
}
