//! The OCI Distribution v2 protocol over real HTTP, mirroring the conformance areas of
//! opencontainers/distribution-spec: pull, push (monolithic, chunked, mount), content
//! discovery (tags, catalog, referrers), content management (deletes), the error codes,
//! and authentication (Basic, the Docker token flow).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::harness::{Server, TOKEN};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl Server {
    /// A registry request with Basic credentials (the token as the password).
    fn v2(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.url) };
        self.http.request(method, url).basic_auth("ci", Some(TOKEN))
    }

    async fn push_blob(&self, name: &str, bytes: &[u8]) -> String {
        let digest = digest(bytes);
        let response = self
            .v2(Method::POST, &format!("/v2/{name}/blobs/uploads/?digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        digest
    }

    async fn push_image(&self, name: &str, tag: &str, layer: &[u8]) -> (String, Vec<u8>) {
        let config = self
            .push_blob(name, b"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"train\"]}}")
            .await;
        let layer_digest = self.push_blob(name, layer).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 64},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
        }))
        .unwrap();
        let response = self
            .v2(Method::PUT, &format!("/v2/{name}/manifests/{tag}"))
            .header("content-type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
        (digest(&manifest), manifest)
    }
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["errors"][0]["code"].as_str().unwrap_or_default().to_string())
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

#[tokio::test]
async fn the_docker_token_flow_and_basic_auth_let_clients_in() {
    let server = Server::start().await;
    let anonymous = server.http.get(format!("{}/v2/", server.url)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&anonymous, "www-authenticate");
    assert!(challenge.starts_with("Bearer realm=\"http://127.0.0.1:"), "{challenge}");
    assert!(challenge.contains("/v2/token\",service=\"trainyard\""), "{challenge}");
    assert_eq!(error_code(anonymous).await.1, "UNAUTHORIZED");

    let realm = challenge.split('"').nth(1).unwrap().to_string();
    let refused = server.http.get(&realm).basic_auth("x", Some("wrong")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let granted: Value =
        server.http.get(&realm).basic_auth("x", Some(TOKEN)).send().await.unwrap().json().await.unwrap();
    let token = granted["token"].as_str().unwrap();
    assert!(token.starts_with("tyr."), "a minted token, not the admin token");
    let base = server.http.get(format!("{}/v2/", server.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(base.status(), StatusCode::OK);
    assert_eq!(header(&base, "docker-distribution-api-version"), "registry/2.0");
    // A minted registry token is for the registry only.
    let api = server.http.get(format!("{}/api/v1/sources", server.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);

    let scoped = server.http.get(format!("{}/v2/team/app/tags/list", server.url)).send().await.unwrap();
    assert!(header(&scoped, "www-authenticate").contains("scope=\"repository:team/app:pull,push\""));
    assert_eq!(server.v2(Method::GET, "/v2/").send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn blobs_push_in_chunks_with_ordering_and_pull_with_ranges() {
    let server = Server::start().await;
    let started = server.v2(Method::POST, "/v2/team/app/blobs/uploads/").send().await.unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let location = header(&started, "location");
    assert!(location.starts_with("/v2/team/app/blobs/uploads/"), "{location}");
    assert_eq!(header(&started, "range"), "0-0");
    assert!(!header(&started, "docker-upload-uuid").is_empty());

    let chunk = |range: &str, bytes: &'static [u8]| {
        server
            .v2(Method::PATCH, &location)
            .header("content-type", "application/octet-stream")
            .header("content-range", range)
            .header("content-length", bytes.len())
            .body(bytes)
            .send()
    };
    let first = chunk("0-4", b"hello").await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&first, "range"), "0-4");
    let out_of_order = chunk("9-13", b" worl").await.unwrap();
    assert_eq!(out_of_order.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(chunk("5-10", b" world").await.unwrap().status(), StatusCode::ACCEPTED);
    let status = server.v2(Method::GET, &location).send().await.unwrap();
    assert_eq!((status.status(), header(&status, "range")), (StatusCode::NO_CONTENT, "0-10".into()));

    let missing_digest = server.v2(Method::PUT, &location).send().await.unwrap();
    assert_eq!(error_code(missing_digest).await, (StatusCode::BAD_REQUEST, "DIGEST_INVALID".into()));
    let digest = digest(b"hello world");
    let finished = server.v2(Method::PUT, &format!("{location}?digest={digest}")).send().await.unwrap();
    assert_eq!(finished.status(), StatusCode::CREATED);
    assert_eq!(header(&finished, "location"), format!("/v2/team/app/blobs/{digest}"));
    assert_eq!(header(&finished, "docker-content-digest"), digest);
    let gone = server.v2(Method::GET, &location).send().await.unwrap();
    assert_eq!(error_code(gone).await, (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN".into()));

    let head = server.v2(Method::HEAD, &format!("/v2/team/app/blobs/{digest}")).send().await.unwrap();
    assert_eq!((head.status(), header(&head, "content-length")), (StatusCode::OK, "11".into()));
    let whole = server.v2(Method::GET, &format!("/v2/team/app/blobs/{digest}")).send().await.unwrap();
    assert_eq!(header(&whole, "docker-content-digest"), digest);
    assert_eq!(whole.bytes().await.unwrap().as_ref(), b"hello world");
    let part = server
        .v2(Method::GET, &format!("/v2/team/app/blobs/{digest}"))
        .header("range", "bytes=6-10")
        .send()
        .await
        .unwrap();
    assert_eq!((part.status(), header(&part, "content-range")), (StatusCode::PARTIAL_CONTENT, "bytes 6-10/11".into()));
    assert_eq!(part.bytes().await.unwrap().as_ref(), b"world");
    let beyond = server
        .v2(Method::GET, &format!("/v2/team/app/blobs/{digest}"))
        .header("range", "bytes=20-")
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    let wrong = server
        .v2(Method::POST, &format!("/v2/team/app/blobs/uploads/?digest={}", self::digest(b"other")))
        .body("not other")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(wrong).await, (StatusCode::BAD_REQUEST, "DIGEST_INVALID".into()));
    let unknown =
        server.v2(Method::GET, &format!("/v2/team/app/blobs/{}", self::digest(b"nope"))).send().await.unwrap();
    assert_eq!(error_code(unknown).await, (StatusCode::NOT_FOUND, "BLOB_UNKNOWN".into()));
    let cancelled = server.v2(Method::POST, "/v2/team/app/blobs/uploads/").send().await.unwrap();
    let cancel_location = header(&cancelled, "location");
    assert_eq!(server.v2(Method::DELETE, &cancel_location).send().await.unwrap().status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn mounts_manifests_tags_catalog_referrers_and_deletes() {
    let server = Server::start().await;
    let (manifest_digest, manifest) = server.push_image("team/app", "v1", b"layer one").await;
    let layer = digest(b"layer one");

    let mounted = server
        .v2(Method::POST, &format!("/v2/team/copy/blobs/uploads/?mount={layer}&from=team/app"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (mounted.status(), header(&mounted, "location")),
        (StatusCode::CREATED, format!("/v2/team/copy/blobs/{layer}"))
    );
    let unmountable = server
        .v2(Method::POST, &format!("/v2/team/copy/blobs/uploads/?mount={}&from=team/app", digest(b"x")))
        .send()
        .await
        .unwrap();
    assert_eq!(unmountable.status(), StatusCode::ACCEPTED, "falls back to an upload session");

    let by_tag =
        server.v2(Method::GET, "/v2/team/app/manifests/v1").header("accept", OCI_MANIFEST).send().await.unwrap();
    assert_eq!(header(&by_tag, "content-type"), OCI_MANIFEST);
    assert_eq!(header(&by_tag, "docker-content-digest"), manifest_digest);
    assert_eq!(by_tag.bytes().await.unwrap().as_ref(), manifest.as_slice());
    let by_digest = server.v2(Method::HEAD, &format!("/v2/team/app/manifests/{manifest_digest}")).send().await.unwrap();
    assert_eq!(
        (by_digest.status(), header(&by_digest, "content-length")),
        (StatusCode::OK, manifest.len().to_string())
    );
    let unknown = server.v2(Method::GET, "/v2/team/app/manifests/nope").send().await.unwrap();
    assert_eq!(error_code(unknown).await, (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN".into()));
    let mismatched = server
        .v2(Method::PUT, "/v2/team/app/manifests/v2")
        .header("content-type", "application/vnd.docker.distribution.manifest.v2+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(mismatched).await, (StatusCode::BAD_REQUEST, "MANIFEST_INVALID".into()));
    let dangling = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(b"absent"), "size": 6}, "layers": []}))
    .unwrap();
    let dangling = server
        .v2(Method::PUT, "/v2/team/app/manifests/v3")
        .header("content-type", OCI_MANIFEST)
        .body(dangling)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(dangling).await, (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN".into()));
    let bad_name = server.v2(Method::GET, "/v2/Team/App/tags/list").send().await.unwrap();
    assert_eq!(error_code(bad_name).await, (StatusCode::BAD_REQUEST, "NAME_INVALID".into()));
    let no_repository = server.v2(Method::GET, "/v2/absent/tags/list").send().await.unwrap();
    assert_eq!(error_code(no_repository).await, (StatusCode::NOT_FOUND, "NAME_UNKNOWN".into()));

    for tag in ["v2", "v3", "latest"] {
        let response = server
            .v2(Method::PUT, &format!("/v2/team/app/manifests/{tag}"))
            .header("content-type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let page = server.v2(Method::GET, "/v2/team/app/tags/list?n=2").send().await.unwrap();
    assert_eq!(header(&page, "link"), "</v2/team/app/tags/list?n=2&last=v1>; rel=\"next\"");
    assert_eq!(page.json::<Value>().await.unwrap(), json!({"name": "team/app", "tags": ["latest", "v1"]}));
    let rest: Value =
        server.v2(Method::GET, "/v2/team/app/tags/list?n=2&last=v1").send().await.unwrap().json().await.unwrap();
    assert_eq!(rest["tags"], json!(["v2", "v3"]));
    let catalog: Value = server.v2(Method::GET, "/v2/_catalog").send().await.unwrap().json().await.unwrap();
    assert_eq!(catalog["repositories"], json!(["team/app", "team/copy"]));

    let subject = json!({"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest.len()});
    let config = digest(b"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"train\"]}}");
    let referrer = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.sbom",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 64}, "layers": [], "subject": subject}))
    .unwrap();
    let pushed = server
        .v2(Method::PUT, &format!("/v2/team/app/manifests/{}", digest(&referrer)))
        .header("content-type", OCI_MANIFEST)
        .body(referrer.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(header(&pushed, "oci-subject"), manifest_digest);
    let referrers = server
        .v2(Method::GET, &format!("/v2/team/app/referrers/{manifest_digest}?artifactType=application/vnd.example.sbom"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&referrers, "oci-filters-applied"), "artifactType");
    assert_eq!(header(&referrers, "content-type"), "application/vnd.oci.image.index.v1+json");
    let index: Value = referrers.json().await.unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest(&referrer));

    assert_eq!(
        server.v2(Method::DELETE, "/v2/team/app/manifests/latest").send().await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    let tags: Value = server.v2(Method::GET, "/v2/team/app/tags/list").send().await.unwrap().json().await.unwrap();
    assert_eq!(tags["tags"], json!(["v1", "v2", "v3"]));
    let deleted = server.v2(Method::DELETE, &format!("/v2/team/app/manifests/{manifest_digest}")).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::ACCEPTED);
    let gone = server.v2(Method::GET, "/v2/team/app/manifests/v1").send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        server.v2(Method::DELETE, &format!("/v2/team/app/blobs/{layer}")).send().await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    let blob = server.v2(Method::GET, &format!("/v2/team/app/blobs/{layer}")).send().await.unwrap();
    assert_eq!(blob.status(), StatusCode::NOT_FOUND);
    let still_mounted = server.v2(Method::GET, &format!("/v2/team/copy/blobs/{layer}")).send().await.unwrap();
    assert_eq!(still_mounted.bytes().await.unwrap().as_ref(), b"layer one");
}

#[tokio::test]
async fn the_management_api_lists_describes_and_deletes_images() {
    let server = Server::start().await;
    let (status, body) = server.post("/repositories", json!({"RepositoryName": "team/train"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server.post("/repositories", json!({"RepositoryName": "Team"})).await;
    assert_eq!((status, body["code"].as_str().unwrap()), (StatusCode::BAD_REQUEST, "NAME_INVALID"));
    let (manifest_digest, _) = server.push_image("team/train", "v1", b"layer").await;
    let (_, repositories) = server.get("/repositories").await;
    assert_eq!(repositories["Repositories"][0]["RepositoryName"], "team/train");
    assert_eq!(repositories["Repositories"][0]["TagCount"], 1);
    let (_, images) = server.get("/images?repository=team/train").await;
    assert_eq!(images["Images"][0]["ImageTag"], "v1");
    assert_eq!(images["Images"][0]["ImageDigest"], manifest_digest);
    let (status, image) = server.get("/images/describe?image=team/train:v1").await;
    assert_eq!(status, StatusCode::OK, "{image}");
    assert_eq!(image["Config"]["Cmd"], json!(["train"]));
    assert_eq!(image["Layers"][0]["Size"], 5);
    assert_eq!(image["ImageTags"], json!(["v1"]));
    let (status, body) = server.call(Method::DELETE, "/images?image=team/train:v1", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server.get("/images/describe?image=team/train:v1").await;
    assert_eq!((status, body["code"].as_str().unwrap()), (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"));
}

#[tokio::test]
async fn edge_cases_answer_as_the_spec_says() {
    let server = Server::start().await;
    server.push_image("team/app", "v1", b"layer").await;
    let empty = server.v2(Method::GET, "/v2/team/app/tags/list?n=0").send().await.unwrap();
    assert!(empty.headers().get("link").is_none(), "n=0: no Link header");
    assert_eq!(empty.json::<Value>().await.unwrap()["tags"], json!([]));
    let catalog = server.v2(Method::GET, "/v2/_catalog?n=0").send().await.unwrap();
    assert_eq!(catalog.json::<Value>().await.unwrap()["repositories"], json!([]));

    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let too_large = server
        .v2(Method::PUT, "/v2/team/app/manifests/big")
        .header("content-type", OCI_MANIFEST)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(too_large).await, (StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID".into()));
    let unknown_route = server.v2(Method::GET, "/v2/team/app/nothing-here").send().await.unwrap();
    assert_eq!(error_code(unknown_route).await, (StatusCode::NOT_FOUND, "UNSUPPORTED".into()));

    // A chunk carrying more than its Content-Range says is refused and adds nothing.
    let started = server.v2(Method::POST, "/v2/team/app/blobs/uploads/").send().await.unwrap();
    let location = header(&started, "location");
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(b"0123456789".to_vec())]);
    let lying = server
        .v2(Method::PATCH, &location)
        .header("content-range", "0-3")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(lying).await, (StatusCode::BAD_REQUEST, "SIZE_INVALID".into()));
    let status = server.v2(Method::GET, &location).send().await.unwrap();
    assert_eq!(header(&status, "range"), "0-0");

    // A minted registry token does not buy another one.
    let realm = format!("{}/v2/token", server.url);
    let granted: Value =
        server.http.get(&realm).basic_auth("x", Some(TOKEN)).send().await.unwrap().json().await.unwrap();
    let minted = granted["token"].as_str().unwrap();
    let renewed = server.http.get(&realm).bearer_auth(minted).send().await.unwrap();
    assert_eq!(renewed.status(), StatusCode::UNAUTHORIZED);
}
