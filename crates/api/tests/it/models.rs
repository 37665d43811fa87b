//! The model registry over real HTTP: groups, gapless versions, the gate's effect on approval,
//! manual approval, aliases, guarded deletes and the events a deploy rule listens for.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::Server;

fn decision(passed: bool) -> Value {
    json!({"passed": passed, "conditions": [
        {"condition": "auc >= 0.85", "left": if passed { 0.93 } else { 0.71 }, "right": 0.85, "passed": passed}
    ]})
}

async fn package_events(server: &Server) -> Vec<Value> {
    let (_, body) = server.get("/events?detail_type=SageMaker%20Model%20Package%20State%20Change&limit=100").await;
    body["Events"].as_array().unwrap().iter().map(|e| e["Event"].clone()).collect()
}

#[tokio::test]
async fn the_gate_decides_approval_and_every_change_is_an_event() {
    let server = Server::start().await;
    let (status, group) =
        server.post("/model-package-groups", json!({"ModelPackageGroupName": "churn", "ApprovalMode": "auto"})).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert!(group["ModelPackageGroupArn"].as_str().unwrap().ends_with(":model-package-group/churn"));

    let register = |decision: Value| {
        json!({
            "ModelPackageGroupName": "churn",
            "ModelDataUrl": "s3://models/churn/model.tar.gz",
            "ModelMetrics": {"binary_classification_metrics": {"auc": {"value": 0.93, "standard_deviation": 0.01}}},
            "GateDecision": decision,
            "CustomerMetadataProperties": {"team": "growth"},
        })
    };
    let (status, passed) = server.post("/model-packages", register(decision(true))).await;
    assert_eq!(status, StatusCode::CREATED, "{passed}");
    assert_eq!(
        (passed["ModelPackageVersion"].as_i64(), passed["ModelApprovalStatus"].as_str()),
        (Some(1), Some("Approved"))
    );
    let (_, failed) = server.post("/model-packages", register(decision(false))).await;
    assert_eq!(
        (failed["ModelPackageVersion"].as_i64(), failed["ModelApprovalStatus"].as_str()),
        (Some(2), Some("Rejected"))
    );
    assert!(failed["ApprovalDescription"].as_str().unwrap().contains("auc >= 0.85"), "{failed}");

    // A version that failed its gate cannot be approved by hand.
    let (status, body) =
        server.post("/model-package-groups/churn/versions/2/status", json!({"ModelApprovalStatus": "Approved"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("ValidationException")), "{body}");

    let events = package_events(&server).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let approved = events.iter().find(|e| e["detail"]["ModelApprovalStatus"] == "Approved").expect("an Approved event");
    assert_eq!(approved["source"], "aws.sagemaker");
    assert_eq!(approved["detail"]["ModelPackageGroupName"], "churn");
    assert_eq!(approved["resources"][0], passed["ModelPackageArn"]);
    // A deploy rule's pattern matches it.
    let (_, tested) = server
        .post("/events/test-pattern", json!({"EventPattern": {"detail-type": ["SageMaker Model Package State Change"], "detail": {"ModelApprovalStatus": ["Approved"]}}, "Event": approved}))
        .await;
    assert_eq!(tested["Result"], true, "{tested}");
}

#[tokio::test]
async fn manual_approval_aliases_and_guarded_deletes() {
    let server = Server::start().await;
    server.post("/model-package-groups", json!({"ModelPackageGroupName": "fraud"})).await;
    let body = json!({"ModelPackageGroupName": "fraud", "ModelDataUrl": "s3://m/fraud.tar.gz"});
    // Concurrent registrations: unique, gapless numbers.
    let calls: Vec<_> = (0..8).map(|_| server.post("/model-packages", body.clone())).collect();
    let mut versions: Vec<i64> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|(s, b)| {
            assert_eq!(s, StatusCode::CREATED, "{b}");
            assert_eq!(b["ModelApprovalStatus"], "PendingManualApproval");
            b["ModelPackageVersion"].as_i64().unwrap()
        })
        .collect();
    versions.sort();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());

    let (status, approved) = server
        .post(
            "/model-package-groups/fraud/versions/3/status",
            json!({"ModelApprovalStatus": "Approved", "ApprovalDescription": "reviewed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(
        (approved["ApprovalDescription"].as_str(), approved["LastModifiedBy"].as_str()),
        (Some("reviewed"), Some("arn:aws:iam::000000000000:root"))
    );
    assert_eq!(
        package_events(&server).await.iter().filter(|e| e["detail"]["ModelApprovalStatus"] == "Approved").count(),
        1
    );

    let (status, group) = server
        .call(Method::PUT, "/model-package-groups/fraud/aliases/champion", Some(json!({"ModelPackageVersion": 3})))
        .await;
    assert_eq!(status, StatusCode::OK, "{group}");
    assert_eq!(group["Aliases"]["champion"], 3);
    let (_, champion) = server.get("/model-package-groups/fraud/versions/champion").await;
    assert_eq!(champion["ModelPackageVersion"], 3);
    let (status, _) = server
        .call(Method::PUT, "/model-package-groups/fraud/aliases/champion", Some(json!({"ModelPackageVersion": 99})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bad input names the field.
    let (status, err) =
        server.post("/model-packages", json!({"ModelPackageGroupName": "fraud", "ModelDataUrl": "/tmp/x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["message"].as_str().unwrap().contains("ModelDataUrl"), "{err}");
    let (status, err) =
        server.post("/model-package-groups/fraud/versions/1/status", json!({"ModelApprovalStatus": "Maybe"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, _) = server.post("/model-package-groups", json!({"ModelPackageGroupName": "fraud"})).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, err) = server.call(Method::DELETE, "/model-package-groups/fraud", None).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::CONFLICT, Some("ResourceInUseException")), "{err}");
    let (_, listed) = server.get("/model-package-groups/fraud/versions").await;
    assert_eq!(listed["ModelPackageSummaryList"].as_array().unwrap().len(), 8, "a refused delete loses nothing");
    let (status, _) = server.call(Method::DELETE, "/model-package-groups/fraud?force=true", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.get("/model-package-groups/fraud").await.0, StatusCode::NOT_FOUND);
}
