use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::harness::{Recorder, Server};

fn attempts(described: &Value) -> Vec<Value> {
    described["Deliveries"][0]["Attempts"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn http_target_receives_the_shaped_input_with_headers() {
    let server = Server::start().await;
    let recorder = Recorder::start(&[200]).await;
    server.rule("states", json!({"detail": {"state": ["running"]}})).await;
    server
        .target(
            "states",
            json!({
                "Id": "hook",
                "HttpUrl": recorder.url,
                "HttpHeaders": {"x-test": "yes"},
                "InputTransformer": {
                    "InputPathsMap": {"instance": "$.detail.instance", "state": "$.detail.state"},
                    "InputTemplate": "{\"text\": \"<instance> is <state>\", \"rule\": \"<aws.events.rule-name>\"}"
                }
            }),
        )
        .await;
    let id = server.put("ec2.like", json!({"instance": "i-1", "state": "running"})).await;
    let described = server.settled(&id).await;
    assert_eq!(described["Deliveries"][0]["State"], "succeeded", "{described}");
    assert_eq!(recorder.received(), vec![json!({"text": "i-1 is running", "rule": "states"})]);
    assert_eq!(recorder.headers(), vec![Some("yes".to_string())]);
    let attempt = &attempts(&described)[0];
    assert_eq!((attempt["Attempt"].as_i64(), attempt["Outcome"].as_str()), (Some(1), Some("succeeded")));
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_until_success() {
    let server = Server::start().await;
    let recorder = Recorder::start(&[500, 503, 429, 200]).await;
    server.rule("r", json!({"source": ["s"]})).await;
    server.target("r", json!({"Id": "hook", "HttpUrl": recorder.url})).await;
    let id = server.put("s", json!({})).await;
    let described = server.settled(&id).await;
    assert_eq!(described["Deliveries"][0]["State"], "succeeded", "{described}");
    let attempts = attempts(&described);
    let outcomes: Vec<&str> = attempts.iter().map(|a| a["Outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["retriable", "retriable", "retriable", "succeeded"]);
    assert_eq!(attempts[0]["ErrorCode"], "HttpStatus500");
    // Backoff: attempts are spaced, and the spacing grows (base 50 ms, doubling, jittered into [d/2, d]).
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        attempts.iter().map(|a| a["StartTime"].as_str().unwrap().parse().unwrap()).collect();
    let gaps: Vec<i64> = times.windows(2).map(|w| (w[1] - w[0]).num_milliseconds()).collect();
    assert!(gaps[0] >= 25 && gaps[2] >= 100, "gaps {gaps:?}");
    assert_eq!(recorder.received().len(), 4);
}

#[tokio::test]
async fn client_errors_go_straight_to_the_dead_letter_queue_and_can_be_redriven() {
    let server = Server::start().await;
    let recorder = Recorder::start(&[404]).await;
    server.rule("r", json!({"source": ["s"]})).await;
    server.target("r", json!({"Id": "hook", "HttpUrl": recorder.url})).await;
    let id = server.put("s", json!({"n": 1})).await;
    let described = server.settled(&id).await;
    assert_eq!(described["Deliveries"][0]["State"], "dead");
    assert_eq!(attempts(&described).len(), 1, "a 404 is not retried");

    let (_, dlq) = server.get("/dlq").await;
    let letters = dlq["DeadLetters"].as_array().unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(
        (letter["EventId"].as_str(), letter["Rule"].as_str(), letter["TargetId"].as_str()),
        (Some(id.as_str()), Some("r"), Some("hook"))
    );
    assert_eq!(letter["ErrorCode"], "HttpStatus404");
    assert_eq!(letter["Attempts"], 1);
    assert!(letter["FirstAttemptTime"].is_string() && letter["LastAttemptTime"].is_string());

    recorder.answer(&[200]);
    let (status, body) = server.post("/dlq/redrive", json!({"Ids": [letter["Id"]]})).await;
    assert_eq!((status, body["Redriven"].as_i64()), (StatusCode::OK, Some(1)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while recorder.received().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let described = server.settled(&id).await;
    assert_eq!(described["Deliveries"][0]["State"], "succeeded", "{described}");
    let (_, dlq) = server.get("/dlq").await;
    assert_eq!(dlq["DeadLetters"].as_array().unwrap().len(), 0);
    let (status, body) = server.post("/dlq/redrive", json!({"Ids": [999]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn exhausted_retries_dead_letter_with_the_attempt_count() {
    let server = Server::start().await;
    let recorder = Recorder::start(&[503]).await;
    server.rule("r", json!({"source": ["s"]})).await;
    server
        .target("r", json!({"Id": "hook", "HttpUrl": recorder.url, "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60}}))
        .await;
    let id = server.put("s", json!({})).await;
    let described = server.settled(&id).await;
    assert_eq!(described["Deliveries"][0]["State"], "dead");
    assert_eq!(attempts(&described).len(), 3, "one try and two retries");
    let (_, dlq) = server.get("/dlq").await;
    let message = dlq["DeadLetters"][0]["ErrorMessage"].as_str().unwrap();
    assert!(message.contains("gave up after 3 attempts"), "{message}");

    let (status, body) = server
        .post(
            "/rules/r/targets",
            json!({"Id": "bad", "HttpUrl": recorder.url, "RetryPolicy": {"MaximumRetryAttempts": 186}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("0-185"), "{body}");
}

#[tokio::test]
async fn function_targets_get_the_event_on_stdin_and_their_logs_are_kept() {
    let server = Server::start().await;
    let (status, body) = server
        .post(
            "/functions",
            json!({"FunctionName": "echo", "Command": "cat; echo \"saw $TRAINYARD_EVENT_ID with $GREETING\" >&2", "Environment": {"GREETING": "hi"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.rule("r", json!({"detail": {"kind": [{"prefix": "ord"}]}})).await;
    server.target("r", json!({"Id": "fn", "FunctionName": "echo", "InputPath": "$.detail"})).await;
    let id = server.put("s", json!({"kind": "order"})).await;
    let described = server.settled(&id).await;
    assert_eq!(described["Deliveries"][0]["State"], "succeeded", "{described}");
    let (_, logs) = server.get("/functions/echo/logs").await;
    let invocation = &logs["Invocations"][0];
    assert_eq!(invocation["EventId"], id.as_str());
    assert_eq!(invocation["Result"], "{\"kind\":\"order\"}");
    assert_eq!(invocation["Logs"].as_str().unwrap().trim(), format!("saw {id} with hi"));

    let (_, invoked) = server.post("/functions/echo/invoke", json!({"hello": "world"})).await;
    assert_eq!(invoked["Payload"], json!({"hello": "world"}));

    let (status, body) = server.post("/rules/r/targets", json!({"Id": "x", "FunctionName": "missing"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = server.call(reqwest::Method::DELETE, "/functions/echo", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a function in use stays: {body}");
}

#[tokio::test]
async fn a_function_that_refuses_retries_is_dead_lettered_at_once() {
    let server = Server::start().await;
    let command =
        r#"cat >/dev/null; echo '{"errorType":"BadOrder","errorMessage":"no total","retriable":false}'; exit 1"#;
    server.post("/functions", json!({"FunctionName": "strict", "Command": command})).await;
    server.rule("r", json!({"source": ["s"]})).await;
    server.target("r", json!({"Id": "fn", "FunctionName": "strict"})).await;
    let id = server.put("s", json!({})).await;
    let described = server.settled(&id).await;
    assert_eq!(described["Deliveries"][0]["State"], "dead");
    let attempt = &attempts(&described)[0];
    assert_eq!((attempt["Outcome"].as_str(), attempt["ErrorCode"].as_str()), (Some("fatal"), Some("BadOrder")));
}
