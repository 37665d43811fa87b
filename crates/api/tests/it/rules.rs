use axum::http::StatusCode;
use reqwest::Method;
use serde_json::json;

use crate::harness::{Recorder, Server};

#[tokio::test]
async fn invalid_rules_are_refused_with_the_reason() {
    let server = Server::start().await;
    let cases = [
        (json!({"Name": "bad_name", "EventPattern": {"a": [1]}}), "ValidationException", "^[a-zA-Z0-9]"),
        (
            json!({"Name": "r", "EventPattern": {"detail": {"x": [{"prefix": 5}]}}}),
            "InvalidEventPatternException",
            "detail.x",
        ),
        (json!({"Name": "r", "EventPattern": "{not json"}), "InvalidEventPatternException", "$"),
        (json!({"Name": "r"}), "ValidationException", "exactly one"),
        (
            json!({"Name": "r", "EventPattern": {"a": [1]}, "ScheduleExpression": "rate(1 minute)"}),
            "ValidationException",
            "exactly one",
        ),
        (json!({"Name": "r", "ScheduleExpression": "rate(1 minutes)"}), "ValidationException", "singular"),
        (json!({"Name": "r", "EventPattern": {"a": [1]}, "State": "ON"}), "ValidationException", "ENABLED"),
        (
            json!({"Name": "r", "EventPattern": {"a": [1]}, "EventBusName": "missing"}),
            "ResourceNotFoundException",
            "missing",
        ),
    ];
    for (body, code, needle) in cases {
        let (status, answer) = server.post("/rules", body.clone()).await;
        assert!(status.is_client_error(), "{body} -> {status}");
        assert_eq!(answer["code"], code, "{body} -> {answer}");
        assert!(answer["message"].as_str().unwrap().contains(needle), "{body} -> {answer}");
    }
    let (_, rules) = server.get("/rules").await;
    assert_eq!(rules["Rules"].as_array().unwrap().len(), 0, "nothing half-created");
}

#[tokio::test]
async fn rule_lifecycle_and_limits() {
    let server = Server::start().await;
    server.rule("orders", json!({"source": ["shop"]})).await;
    let (status, body) = server.post("/rules", json!({"Name": "orders", "EventPattern": {"a": [1]}})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("ResourceAlreadyExistsException")));

    let recorder = Recorder::start(&[200]).await;
    for i in 0..5 {
        server.target("orders", json!({"Id": format!("t{i}"), "HttpUrl": recorder.url})).await;
    }
    let (status, body) = server.post("/rules/orders/targets", json!({"Id": "t5", "HttpUrl": recorder.url})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("LimitExceededException")), "{body}");
    // Replacing an existing target id is not a sixth target.
    server.target("orders", json!({"Id": "t4", "HttpUrl": recorder.url, "InputPath": "$.detail"})).await;

    let (status, body) = server.call(Method::DELETE, "/rules/orders", None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("ResourceInUseException")));
    for i in 0..5 {
        let (status, _) = server.call(Method::DELETE, &format!("/rules/orders/targets/t{i}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (status, _) = server.call(Method::DELETE, "/rules/orders", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.get("/rules/orders").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn disabled_rules_do_not_match_and_buses_are_separate() {
    let server = Server::start().await;
    let recorder = Recorder::start(&[200]).await;
    server.rule("all-shop", json!({"source": ["shop"]})).await;
    server.target("all-shop", json!({"Id": "rec", "HttpUrl": recorder.url})).await;
    let (status, _) = server.post("/buses", json!({"Name": "other"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server
        .post("/rules", json!({"Name": "all-shop", "EventBusName": "other", "EventPattern": {"source": ["shop"]}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "the same rule name on another bus is another rule: {body}");

    let (_, rule) = server.post("/rules/all-shop/disable", json!({})).await;
    assert_eq!(rule["State"], "DISABLED");
    let id = server.put("shop", json!({"n": 1})).await;
    let (_, described) = server.get(&format!("/events/{id}")).await;
    assert_eq!(described["MatchedRules"], json!([]));
    assert_eq!(described["Deliveries"], json!([]));

    server.post("/rules/all-shop/enable", json!({})).await;
    let id = server.put("shop", json!({"n": 2})).await;
    let described = server.settled(&id).await;
    assert_eq!(described["MatchedRules"], json!(["all-shop"]));
    assert_eq!(recorder.received().len(), 1);
    assert_eq!(recorder.received()[0]["detail"]["n"], 2);

    let (status, body) = server.call(Method::DELETE, "/buses/other", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a bus with rules stays: {body}");
}
