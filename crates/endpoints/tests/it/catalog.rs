//! SageMaker's models and endpoint configurations: an endpoint made from a named
//! configuration, updated to another, answering as its image's framework container does.

use serde_json::json;
use trainyard_endpoints::payload::{self, Format};

use crate::harness::Harness;

const XGBOOST: &str = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1";

#[tokio::test]
async fn an_endpoint_serves_a_named_configuration_of_models() {
    let h = Harness::start().await;
    let (a, _) = h.model("a", 2.0, -1.0, 2).await;
    let (b, _) = h.model("b", -3.0, 1.0, 2).await;
    let e = &h.endpoints;
    let missing = e
        .create_model(&json!({"ModelName": "m0", "PrimaryContainer": {"ModelDataUrl": "s3://models/none.tar.gz"}}))
        .await;
    assert!(missing.unwrap_err().to_string().contains("Could not find model data"));
    let created = e
        .create_model(&json!({"ModelName": "m-a", "PrimaryContainer": {"Image": XGBOOST, "ModelDataUrl": a},
                                         "Tags": [{"Key": "team", "Value": "ml"}]}))
        .await;
    assert!(created.unwrap()["ModelArn"].as_str().unwrap().ends_with(":model/m-a"));
    e.create_model(&json!({"ModelName": "m-b", "PrimaryContainer": {"ModelDataUrl": b}})).await.unwrap();
    let duplicate = e.create_model(&json!({"ModelName": "m-b", "PrimaryContainer": {"ModelDataUrl": b}})).await;
    assert!(duplicate.unwrap_err().to_string().contains("already exists"));
    let variant = |model: &str| json!([{"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1}]);
    let unknown =
        e.create_endpoint_config(&json!({"EndpointConfigName": "c0", "ProductionVariants": variant("nope")})).await;
    assert!(unknown.unwrap_err().to_string().contains("does not exist"), "every variant's model exists");
    e.create_endpoint_config(&json!({"EndpointConfigName": "c-a", "ProductionVariants": variant("m-a")}))
        .await
        .unwrap();
    e.create_endpoint_config(&json!({"EndpointConfigName": "c-b", "ProductionVariants": variant("m-b")}))
        .await
        .unwrap();
    let described = e.describe_definition("endpoint-config", "c-a").await.unwrap();
    assert_eq!(described["ProductionVariants"][0]["ModelName"], "m-a", "{described}");
    assert!(described.get("Tags").is_none() && described["EndpointConfigArn"].is_string(), "{described}");

    e.create_endpoint("ep", "c-a", None, "admin").await.unwrap();
    let live = h.settled(e, "ep").await;
    assert_eq!(
        (live["EndpointStatus"].as_str(), live["EndpointConfigName"].as_str()),
        (Some("InService"), Some("c-a"))
    );
    assert!(e.create_endpoint("ep", "c-b", None, "admin").await.unwrap_err().to_string().contains("already exists"));
    // The XGBoost image's model answers as XGBoost's container: CSV scores by default.
    let rows = payload::parse(Some("text/csv"), b"1,0\n0,1\n").unwrap();
    let answer = e.data().invoke("ep", rows, None, std::time::Instant::now()).await.unwrap();
    let format = Format::negotiate(None, answer.variant.serving);
    let body = payload::render(&answer.predictions, answer.variant.classes(), format, answer.variant.serving);
    let scores: Vec<f64> = String::from_utf8(body).unwrap().lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!((format, scores.len()), (Format::Csv, 2), "one score per line");
    assert!((scores[0] - 2.0).abs() < 0.01 && (scores[1] + 1.0).abs() < 0.01, "{scores:?}");

    // Deleting the definitions leaves the live endpoint serving what it resolved.
    e.update_endpoint("ep", "c-b", None, "admin").await.unwrap();
    let updated = h.settled(e, "ep").await;
    assert_eq!(updated["EndpointConfigName"], "c-b", "{updated}");
    e.delete_definition("model", "m-b").await.unwrap();
    e.delete_definition("endpoint-config", "c-b").await.unwrap();
    let rows = payload::parse(Some("text/csv"), b"1,0\n").unwrap();
    let answer = e.data().invoke("ep", rows, None, std::time::Instant::now()).await.unwrap();
    let body = payload::render(&answer.predictions, answer.variant.classes(), Format::Json, answer.variant.serving);
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!((answer["predictions"][0].as_f64().unwrap() + 3.0).abs() < 0.01, "trainyard's own shape: {answer}");
    assert!(e.update_endpoint("ep", "c-b", None, "admin").await.unwrap_err().to_string().contains("does not exist"));
    assert!(e.update_endpoint("none", "c-a", None, "admin").await.unwrap_err().to_string().contains("does not exist"));
    assert_eq!(e.list_definitions("model", "m-", 10).await.unwrap().len(), 1);
}
