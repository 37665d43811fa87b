use axum::http::StatusCode;
use md5::{Digest, Md5};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::Server;

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

async fn events_of(server: &Server, detail_type: &str) -> Vec<Value> {
    let (_, listed) =
        server.get(&format!("/events?source=aws.s3&detail_type={}", detail_type.replace(' ', "%20"))).await;
    listed["Events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn objects_round_trip_with_md5_etags_ranges_and_events() {
    let server = Server::start().await;
    let (status, _) = server.call(Method::PUT, "/buckets/data", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server.call(Method::PUT, "/buckets/data", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A body streamed in many chunks, larger than one upload part.
    let content: Vec<u8> = (0..9_000_000u32).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = content.chunks(65_536).map(|c| Ok(c.to_vec())).collect();
    let response = server
        .raw(Method::PUT, "/buckets/data/objects/train/part-0.bin")
        .header("content-type", "application/x-test")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let etag = md5_hex(&content);
    assert_eq!(response.headers()["etag"], format!("\"{etag}\"").as_str());

    let response = server.raw(Method::GET, "/buckets/data/objects/train/part-0.bin").send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-test");
    assert_eq!(response.bytes().await.unwrap().as_ref(), content.as_slice());

    let response = server
        .raw(Method::GET, "/buckets/data/objects/train/part-0.bin")
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(response.headers()["content-range"], "bytes 10-19/9000000");
    assert_eq!(response.bytes().await.unwrap().as_ref(), &content[10..20]);
    let response = server
        .raw(Method::GET, "/buckets/data/objects/train/part-0.bin")
        .header("range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap().as_ref(), &content[content.len() - 5..]);
    let response = server
        .raw(Method::GET, "/buckets/data/objects/train/part-0.bin")
        .header("range", "bytes=9000000-")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 416);

    let head = server.raw(Method::HEAD, "/buckets/data/objects/train/part-0.bin").send().await.unwrap();
    assert_eq!(head.headers()["content-length"], "9000000");

    let created = events_of(&server, "Object Created").await;
    assert_eq!(created.len(), 1);
    let detail = &created[0]["Event"]["detail"];
    assert_eq!(detail["bucket"]["name"], "data");
    assert_eq!(
        detail["object"],
        json!({"key": "train/part-0.bin", "size": 9_000_000, "etag": etag, "sequencer": detail["object"]["sequencer"]})
    );
    assert_eq!(detail["reason"], "PutObject");
    assert_eq!(created[0]["Event"]["resources"], json!(["arn:aws:s3:::data"]));

    let (status, _) = server.call(Method::DELETE, "/buckets/data/objects/train/part-0.bin", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.get("/buckets/data/objects/train/part-0.bin").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let deleted = events_of(&server, "Object Deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["Event"]["detail"]["reason"], "DeleteObject");
    // Deleting a missing key is quiet, as S3, and emits nothing.
    let (status, _) = server.call(Method::DELETE, "/buckets/data/objects/train/part-0.bin", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(events_of(&server, "Object Deleted").await.len(), 1);
}

#[tokio::test]
async fn listings_roll_up_prefixes_and_page() {
    let server = Server::start().await;
    server.call(Method::PUT, "/buckets/data", None).await;
    for key in ["a/1.csv", "a/2.csv", "a/sub/3.csv", "b/4.csv", "top.csv", "a%b/5.csv"] {
        let response = server
            .raw(Method::PUT, &format!("/buckets/data/objects/{}", key.replace('%', "%25")))
            .body(key.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{key}");
    }
    let (_, listing) = server.get("/buckets/data/objects?delimiter=/").await;
    assert_eq!(listing["CommonPrefixes"], json!(["a%b/", "a/", "b/"]));
    let keys: Vec<&str> = listing["Contents"].as_array().unwrap().iter().map(|o| o["Key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["top.csv"]);
    let (_, listing) = server.get("/buckets/data/objects?prefix=a/&delimiter=/").await;
    assert_eq!(listing["CommonPrefixes"], json!(["a/sub/"]));
    assert_eq!(listing["Contents"].as_array().unwrap().len(), 2);

    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let (_, page) = server.get(&format!("/buckets/data/objects?max_keys=2&start_after={after}")).await;
        seen.extend(page["Contents"].as_array().unwrap().iter().map(|o| o["Key"].as_str().unwrap().to_string()));
        if page["IsTruncated"] != json!(true) {
            break;
        }
        after = page["NextStartAfter"].as_str().unwrap().replace('%', "%25");
    }
    assert_eq!(seen, ["a%b/5.csv", "a/1.csv", "a/2.csv", "a/sub/3.csv", "b/4.csv", "top.csv"]);
    let (status, _) = server.call(Method::DELETE, "/buckets/data", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a bucket with objects stays");
}

#[tokio::test]
async fn bad_names_and_keys_are_refused() {
    let server = Server::start().await;
    let (status, body) = server.call(Method::PUT, "/buckets/Bad_Bucket", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("lowercase"), "{body}");
    server.call(Method::PUT, "/buckets/data", None).await;
    for key in ["a//b", "a/..%2Fb", "%2Fetc/passwd", "a/.%2Fb"] {
        let response = server.raw(Method::PUT, &format!("/buckets/data/objects/{key}")).body("x").send().await.unwrap();
        assert_eq!(response.status(), 400, "{key}");
    }
    let long = "k".repeat(1025);
    let response = server.raw(Method::PUT, &format!("/buckets/data/objects/{long}")).body("x").send().await.unwrap();
    assert_eq!(response.status(), 400);
    let response = server.raw(Method::PUT, "/buckets/missing/objects/x").body("x").send().await.unwrap();
    assert_eq!(response.status(), 404);
    let (_, listing) = server.get("/buckets/data/objects").await;
    assert_eq!(listing["Contents"], json!([]), "nothing half-written is visible");
}
