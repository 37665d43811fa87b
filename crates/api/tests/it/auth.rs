use axum::http::StatusCode;
use serde_json::Value;

use crate::harness::Server;

#[tokio::test]
async fn health_needs_no_token_but_everything_else_does() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let health = client.get(format!("{}/api/v1/health", server.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);

    for (path, header) in
        [("/api/v1/rules", None), ("/api/v1/events", Some("Bearer wrong")), ("/api/v1/openapi.json", None)]
    {
        let mut request = client.get(format!("{}{path}", server.url));
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        let expected = if header.is_some() { "InvalidClientTokenId" } else { "MissingAuthenticationToken" };
        assert_eq!(body["code"], expected, "{path}: {body}");
        assert!(body["message"].as_str().unwrap().len() > 5);
    }
}

#[tokio::test]
async fn unknown_routes_are_json_404s_and_openapi_lists_the_api() {
    let server = Server::start().await;
    let (status, body) = server.get("/no-such-thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "ResourceNotFoundException");

    let (status, document) = server.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/api/v1/events",
        "/api/v1/rules/{name}/targets",
        "/api/v1/dlq/redrive",
        "/api/v1/replays",
        "/api/v1/training-jobs",
        "/api/v1/model-packages",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_clear_4xx() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let post = |body: String| {
        client
            .post(format!("{}/api/v1/rules", server.url))
            .bearer_auth(crate::harness::TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let response = post("{not json".into()).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "ValidationException");
    assert!(body["message"].as_str().unwrap().contains("invalid request body"), "{body}");

    let response = post(format!("{{\"Name\": \"{}\"}}", "x".repeat(5 * 1024 * 1024))).await.unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "PayloadTooLargeException");

    let response = post(r#"{"Name": "r", "EventPattern": {"a": [1]}, "Colour": "blue"}"#.into()).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("Colour"), "{body}");
}
