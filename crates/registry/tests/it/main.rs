//! The registry's rules on a real SQLite store and real files: chunked uploads with
//! ordering, digest verification (sha256 and sha512), mounts, manifest checks, tags and
//! their pages, deletes, referrers, ECR events, abandoned uploads. One suite, run with
//! blobs on files and on an S3 store (SeaweedFS in CI: `.ci/seaweedfs`'s `TY_TEST_S3_*`;
//! the S3 copy is skipped, saying so, without one).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::ObjectStore;
use serde_json::{json, Value};
use trainyard_bus::{BusConfig, EventBus};
use trainyard_registry::{Algorithm, Backend, Digest, Error, Reference, Registry, OCI_INDEX, OCI_MANIFEST};
use trainyard_store::{EventFilter, Store};

/// Where blobs go.
#[derive(Clone, Copy)]
enum Kind {
    Files,
    S3,
}

struct Harness {
    store: Store,
    registry: Registry,
    dir: tempfile::TempDir,
    /// The S3 store and this harness's prefix on it.
    s3: Option<(Arc<dyn ObjectStore>, StorePath)>,
}

impl Harness {
    /// The blobs' backend (again, for a restarted registry).
    fn backend(&self) -> Backend {
        backend_of(self.dir.path(), &self.s3)
    }

    /// Whether the backend holds `digest`'s bytes.
    async fn stored(&self, digest: &Digest) -> bool {
        let (algorithm, hex) = (digest.algorithm().name(), digest.hex());
        match &self.s3 {
            Some((store, prefix)) => store.head(&prefix.child(algorithm).child(&hex[..2]).child(hex)).await.is_ok(),
            None => self.dir.path().join("blobs").join(algorithm).join(&hex[..2]).join(hex).exists(),
        }
    }
}

/// An S3 store with a fresh prefix, from `TY_TEST_S3_*`.
fn s3_store() -> Option<(Arc<dyn ObjectStore>, StorePath)> {
    let variable = |name: &str| std::env::var(format!("TY_TEST_S3_{name}")).ok();
    let url = format!("s3://{}/t-{}", variable("BUCKET")?, uuid::Uuid::new_v4().simple());
    let options = [
        ("aws_endpoint", variable("ENDPOINT")?),
        ("aws_allow_http", "true".into()),
        ("aws_region", variable("REGION").unwrap_or_else(|| "us-east-1".into())),
        ("aws_access_key_id", variable("ACCESS_KEY_ID")?),
        ("aws_secret_access_key", variable("SECRET_ACCESS_KEY")?),
    ];
    let (store, prefix) = object_store::parse_url_opts(&url::Url::parse(&url).unwrap(), options).unwrap();
    Some((Arc::from(store), prefix))
}

async fn harness(kind: Kind) -> Option<Harness> {
    let dir = tempfile::tempdir().unwrap();
    let s3 = match kind {
        Kind::Files => None,
        Kind::S3 => match s3_store() {
            Some(s3) => Some(s3),
            None => {
                println!("skipped: no S3 store (TY_TEST_S3_ENDPOINT; .ci/seaweedfs start DIR)");
                return None;
            }
        },
    };
    let store = Store::open(&dir.path().join("db")).await.unwrap();
    let bus = EventBus::open(store.clone(), BusConfig::default()).await.unwrap();
    let registry = Registry::new(store.clone(), bus, backend_of(dir.path(), &s3), dir.path().join("uploads")).unwrap();
    Some(Harness { store, registry, dir, s3 })
}

fn backend_of(dir: &std::path::Path, s3: &Option<(Arc<dyn ObjectStore>, StorePath)>) -> Backend {
    match s3 {
        Some((store, prefix)) => Backend::ObjectStore { store: store.clone(), prefix: prefix.clone() },
        None => Backend::Files { root: dir.join("blobs") },
    }
}

fn body(bytes: &[u8]) -> futures::stream::Iter<std::vec::IntoIter<Result<Bytes, std::convert::Infallible>>> {
    futures::stream::iter(vec![Ok(Bytes::copy_from_slice(bytes))])
}

async fn push_blob(registry: &Registry, repository: &str, bytes: &[u8]) -> Digest {
    let digest = Digest::sha256_of(bytes);
    let id = registry.start_upload(repository).await.unwrap();
    registry.finish_upload(repository, &id, &digest, None, body(bytes)).await.unwrap();
    digest
}

async fn read_all(registry: &Registry, repository: &str, digest: &Digest) -> Vec<u8> {
    let mut stream = registry.open_blob(repository, digest).await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    bytes
}

fn image_manifest(config: &Digest, config_size: usize, layers: &[(&Digest, usize)], extra: Value) -> Vec<u8> {
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": config_size},
        "layers": layers.iter().map(|(d, s)| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d.to_string(), "size": s})).collect::<Vec<_>>(),
    });
    manifest.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    serde_json::to_vec(&manifest).unwrap()
}

async fn ecr_events(store: &Store) -> Vec<Value> {
    let filter = EventFilter { source: Some("aws.ecr".into()), limit: 100, ..Default::default() };
    let mut events: Vec<Value> =
        store.list_events(&filter).await.unwrap().into_iter().map(|e| e.event["detail"].clone()).collect();
    events.reverse();
    events
}

async fn chunks_append_in_order_and_an_out_of_order_chunk_is_refused(kind: Kind) {
    let Some(h) = harness(kind).await else { return };
    let id = h.registry.start_upload("team/app").await.unwrap();
    assert_eq!(h.registry.append("team/app", &id, Some(0), None, body(b"hello ")).await.unwrap(), 6);
    let error = h.registry.append("team/app", &id, Some(3), None, body(b"xx")).await.unwrap_err();
    assert!(matches!(error, Error::RangeInvalid { size: 6, start: 3, .. }), "{error}");
    assert_eq!(h.registry.upload_size("team/app", &id).await.unwrap(), 6, "a refused chunk adds nothing");
    let long = h.registry.append("team/app", &id, Some(6), Some(2), body(b"wor")).await.unwrap_err();
    assert!(matches!(long, Error::SizeInvalid { .. }), "a chunk longer than it declared: {long}");
    assert_eq!(h.registry.upload_size("team/app", &id).await.unwrap(), 6, "and it adds nothing");
    assert_eq!(h.registry.append("team/app", &id, None, None, body(b"world")).await.unwrap(), 11);
    let digest = Digest::sha256_of(b"hello world");
    let size = h.registry.finish_upload("team/app", &id, &digest, Some(11), body(b"!")).await;
    assert!(matches!(size, Err(Error::DigestInvalid { .. })), "the final chunk counts toward the digest");
    assert!(matches!(h.registry.upload_size("team/app", &id).await, Err(Error::BlobUploadUnknown { .. })));

    let digest = Digest::sha256_of(b"hello world!");
    let id = h.registry.start_upload("team/app").await.unwrap();
    h.registry.append("team/app", &id, Some(0), None, body(b"hello world")).await.unwrap();
    assert_eq!(h.registry.finish_upload("team/app", &id, &digest, Some(11), body(b"!")).await.unwrap(), 12);
    assert_eq!(read_all(&h.registry, "team/app", &digest).await, b"hello world!");
    let part = h.registry.read_blob("team/app", &digest, Some(6..11)).await.unwrap();
    assert_eq!((part.size, part.range), (12, 6..11));
}

async fn an_interrupted_chunk_leaves_the_upload_as_it_was(kind: Kind) {
    let Some(h) = harness(kind).await else { return };
    let id = h.registry.start_upload("app").await.unwrap();
    h.registry.append("app", &id, None, None, body(b"abc")).await.unwrap();
    let failing = futures::stream::iter(vec![Ok(Bytes::from_static(b"zzzz")), Err("connection reset")]);
    let error = h.registry.append("app", &id, None, None, failing).await.unwrap_err();
    assert!(matches!(error, Error::UploadInterrupted { .. }), "{error}");
    assert_eq!(h.registry.upload_size("app", &id).await.unwrap(), 3);
    let digest = Digest::sha256_of(b"abcdef");
    h.registry.finish_upload("app", &id, &digest, None, body(b"def")).await.unwrap();
    assert_eq!(read_all(&h.registry, "app", &digest).await, b"abcdef");
}

async fn sha512_digests_are_verified_too(kind: Kind) {
    let Some(h) = harness(kind).await else { return };
    let bytes = vec![7u8; 3 * 1024 * 1024 + 5];
    let digest = Digest::of(Algorithm::Sha512, &bytes);
    let id = h.registry.start_upload("app").await.unwrap();
    h.registry.finish_upload("app", &id, &digest, None, body(&bytes)).await.unwrap();
    assert_eq!(h.registry.blob_size("app", &digest).await.unwrap(), bytes.len() as u64);
    let wrong = Digest::of(Algorithm::Sha512, b"other");
    let id = h.registry.start_upload("app").await.unwrap();
    assert!(matches!(
        h.registry.finish_upload("app", &id, &wrong, None, body(&bytes)).await,
        Err(Error::DigestInvalid { .. })
    ));
}

/// 40 MiB in two appends of 64 KiB pieces, the second starting mid-buffer: past the
/// staging file's early write-back window, the bytes and digest come back exact.
async fn a_large_upload_in_uneven_appends_reads_back_exact(kind: Kind) {
    let Some(h) = harness(kind).await else { return };
    let bytes: Vec<u8> = (0..40 * 1024 * 1024 + 123).map(|i: usize| (i * 31 % 251) as u8).collect();
    let pieces = |part: &[u8]| {
        let chunks: Vec<Result<Bytes, std::convert::Infallible>> =
            part.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        futures::stream::iter(chunks)
    };
    let (first, second) = bytes.split_at(17 * 1024 * 1024 + 7);
    let digest = Digest::sha256_of(&bytes);
    let id = h.registry.start_upload("app").await.unwrap();
    h.registry.append("app", &id, Some(0), None, pieces(first)).await.unwrap();
    h.registry.finish_upload("app", &id, &digest, None, pieces(second)).await.unwrap();
    assert_eq!(h.registry.blob_size("app", &digest).await.unwrap(), bytes.len() as u64);
    assert!(read_all(&h.registry, "app", &digest).await == bytes, "the blob read back differs");
}

async fn an_upload_survives_a_restart_and_belongs_to_its_repository(kind: Kind) {
    let Some(h) = harness(kind).await else { return };
    let id = h.registry.start_upload("app").await.unwrap();
    h.registry.append("app", &id, None, None, body(b"first half,")).await.unwrap();
    assert!(matches!(
        h.registry.append("other", &id, None, None, body(b"x")).await,
        Err(Error::BlobUploadUnknown { .. })
    ));
    let bus = EventBus::open(h.store.clone(), BusConfig::default()).await.unwrap();
    let restarted = Registry::new(h.store.clone(), bus, h.backend(), h.dir.path().join("uploads")).unwrap();
    assert_eq!(restarted.upload_size("app", &id).await.unwrap(), 11);
    let digest = Digest::sha256_of(b"first half,second half");
    restarted.finish_upload("app", &id, &digest, Some(11), body(b"second half")).await.unwrap();
    assert_eq!(read_all(&restarted, "app", &digest).await, b"first half,second half");
}

async fn blobs_mount_across_repositories_and_go_with_their_last_link(kind: Kind) {
    let Some(h) = harness(kind).await else { return };
    let digest = push_blob(&h.registry, "source", b"shared layer").await;
    assert!(matches!(h.registry.blob_size("target", &digest).await, Err(Error::BlobUnknown { .. })));
    assert_eq!(h.registry.mount("target", &digest, Some("nowhere")).await.unwrap(), None);
    assert_eq!(h.registry.mount("target", &digest, Some("source")).await.unwrap(), Some(12));
    assert_eq!(h.registry.blob_size("target", &digest).await.unwrap(), 12);
    h.registry.delete_blob("source", &digest).await.unwrap();
    assert!(h.stored(&digest).await, "target still holds the blob");
    assert!(matches!(h.registry.delete_blob("source", &digest).await, Err(Error::BlobUnknown { .. })));
    h.registry.delete_blob("target", &digest).await.unwrap();
    assert!(!h.stored(&digest).await, "the last link took the bytes");
}

async fn manifests_need_their_blobs_and_are_stored_byte_exact(kind: Kind) {
    let Some(h) = harness(kind).await else { return };
    let config = push_blob(&h.registry, "app", b"{}").await;
    let layer = Digest::sha256_of(b"layer");
    let manifest = image_manifest(&config, 2, &[(&layer, 5)], json!({}));
    let error =
        h.registry.put_manifest("app", &Reference::Tag("v1".into()), Some(OCI_MANIFEST), manifest.clone()).await;
    assert!(matches!(error, Err(Error::ManifestBlobUnknown { ref digest, .. }) if *digest == layer.to_string()));
    push_blob(&h.registry, "app", b"layer").await;
    // Whitespace and key order are the client's: the digest is of the bytes as sent.
    let mut pretty = serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&manifest).unwrap()).unwrap();
    pretty.extend_from_slice(b"\n");
    let stored =
        h.registry.put_manifest("app", &Reference::Tag("v1".into()), Some(OCI_MANIFEST), pretty.clone()).await.unwrap();
    assert_eq!(stored.digest, Digest::sha256_of(&pretty));
    let record = h.registry.manifest("app", &Reference::Tag("v1".into())).await.unwrap();
    assert_eq!(record.content, pretty);
    assert_eq!(record.media_type, OCI_MANIFEST);
    let wrong_digest = Reference::Digest(Digest::sha256_of(b"not it"));
    assert!(matches!(
        h.registry.put_manifest("app", &wrong_digest, Some(OCI_MANIFEST), pretty.clone()).await,
        Err(Error::DigestInvalid { .. })
    ));
    assert!(matches!(
        h.registry.put_manifest("app", &Reference::Tag("v2".into()), Some(OCI_INDEX), pretty).await,
        Err(Error::ManifestInvalid { .. })
    ));
    // An index needs its manifests.
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": Digest::sha256_of(b"missing").to_string(), "size": 7}]}))
    .unwrap();
    assert!(matches!(
        h.registry.put_manifest("app", &Reference::Tag("multi".into()), Some(OCI_INDEX), index).await,
        Err(Error::ManifestBlobUnknown { .. })
    ));
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": stored.digest.to_string(), "size": record.content.len()}]}))
    .unwrap();
    h.registry.put_manifest("app", &Reference::Tag("multi".into()), Some(OCI_INDEX), index).await.unwrap();
}

async fn tags_page_in_order_and_pushes_and_deletes_are_events(kind: Kind) {
    let Some(h) = harness(kind).await else { return };
    let config = push_blob(&h.registry, "app", b"{}").await;
    let manifest = image_manifest(&config, 2, &[], json!({}));
    for tag in ["b", "a", "d", "c"] {
        h.registry
            .put_manifest("app", &Reference::Tag(tag.into()), Some(OCI_MANIFEST), manifest.clone())
            .await
            .unwrap();
    }
    // Pushing a tag again at the same image is no news.
    h.registry.put_manifest("app", &Reference::Tag("a".into()), Some(OCI_MANIFEST), manifest.clone()).await.unwrap();
    assert_eq!(h.registry.tags("app", None, 2).await.unwrap(), ["a", "b"]);
    assert_eq!(h.registry.tags("app", Some("b"), 2).await.unwrap(), ["c", "d"]);
    assert!(h.registry.tags("app", Some("d"), 2).await.unwrap().is_empty());
    assert!(matches!(h.registry.tags("nothing", None, 2).await, Err(Error::NameUnknown { .. })));

    let digest = Digest::sha256_of(&manifest);
    h.registry.delete_manifest("app", &Reference::Tag("a".into())).await.unwrap();
    assert!(matches!(
        h.registry.manifest("app", &Reference::Tag("a".into())).await,
        Err(Error::ManifestUnknown { .. })
    ));
    h.registry.delete_manifest("app", &Reference::Digest(digest.clone())).await.unwrap();
    assert!(h.registry.tags("app", None, 10).await.unwrap().is_empty(), "deleting the manifest took its tags");

    let events = ecr_events(&h.store).await;
    let summary: Vec<(String, String)> = events
        .iter()
        .map(|e| (e["action-type"].as_str().unwrap().into(), e["image-tag"].as_str().unwrap().into()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("PUSH", "b"),
        ("PUSH", "a"),
        ("PUSH", "d"),
        ("PUSH", "c"),
        ("DELETE", "a"),
        ("DELETE", "b"),
        ("DELETE", "c"),
        ("DELETE", "d"),
    ]
    .iter()
    .map(|(a, t)| (a.to_string(), t.to_string()))
    .collect();
    assert_eq!(summary, expected);
    assert!(events.iter().all(|e| e["image-digest"] == digest.to_string() && e["repository-name"] == "app"));
}

async fn referrers_list_manifests_with_a_subject_filtered_by_artifact_type(kind: Kind) {
    let Some(h) = harness(kind).await else { return };
    let config = push_blob(&h.registry, "app", b"{}").await;
    let subject_bytes = image_manifest(&config, 2, &[], json!({}));
    let subject = h
        .registry
        .put_manifest("app", &Reference::Tag("v1".into()), Some(OCI_MANIFEST), subject_bytes.clone())
        .await
        .unwrap();
    let descriptor =
        json!({"mediaType": OCI_MANIFEST, "digest": subject.digest.to_string(), "size": subject_bytes.len()});
    for (artifact_type, note) in
        [("application/vnd.example.sbom", "sbom"), ("application/vnd.example.signature", "sig")]
    {
        let referrer = image_manifest(
            &config,
            2,
            &[],
            json!({"artifactType": artifact_type, "subject": descriptor, "annotations": {"note": note}}),
        );
        let stored = h
            .registry
            .put_manifest("app", &Reference::Digest(Digest::sha256_of(&referrer)), Some(OCI_MANIFEST), referrer)
            .await
            .unwrap();
        assert_eq!(stored.subject.as_ref(), Some(&subject.digest));
    }
    let all = h.registry.referrers("app", &subject.digest, None).await.unwrap();
    assert_eq!(all["mediaType"], OCI_INDEX);
    assert_eq!(all["manifests"].as_array().unwrap().len(), 2);
    let sboms = h.registry.referrers("app", &subject.digest, Some("application/vnd.example.sbom")).await.unwrap();
    assert_eq!(sboms["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(sboms["manifests"][0]["annotations"]["note"], "sbom");
    assert_eq!(sboms["manifests"][0]["artifactType"], "application/vnd.example.sbom");
    let none = h.registry.referrers("app", &Digest::sha256_of(b"unknown"), None).await.unwrap();
    assert!(none["manifests"].as_array().unwrap().is_empty());
}

async fn abandoned_uploads_and_stray_staging_files_are_cleaned(kind: Kind) {
    let Some(h) = harness(kind).await else { return };
    let id = h.registry.start_upload("app").await.unwrap();
    h.registry.append("app", &id, None, None, body(b"partial")).await.unwrap();
    std::fs::write(h.dir.path().join("uploads/stray"), b"left by a crash").unwrap();
    assert_eq!(h.registry.clean_abandoned_uploads(Duration::from_secs(3600)).await.unwrap(), 0);
    assert!(h.dir.path().join("uploads").join(&id).exists(), "a recent upload stays");
    assert!(!h.dir.path().join("uploads/stray").exists(), "a file with no upload goes");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(h.registry.clean_abandoned_uploads(Duration::from_millis(1)).await.unwrap(), 1);
    assert!(!h.dir.path().join("uploads").join(&id).exists());
    assert!(matches!(h.registry.upload_size("app", &id).await, Err(Error::BlobUploadUnknown { .. })));
}

async fn names_are_checked_and_repositories_can_be_made_and_deleted(kind: Kind) {
    let Some(h) = harness(kind).await else { return };
    assert!(matches!(h.registry.create_repository("Bad Name").await, Err(Error::NameInvalid { .. })));
    assert!(matches!(h.registry.start_upload("models/x").await, Err(Error::NameInvalid { .. })));
    h.registry.create_repository("team/train").await.unwrap();
    assert!(h.registry.create_repository("team/train").await.is_err());
    let digest = push_blob(&h.registry, "team/train", b"bytes").await;
    h.registry.delete_repository("team/train").await.unwrap();
    assert!(matches!(h.registry.repository("team/train").await, Err(Error::NameUnknown { .. })));
    assert!(!h.stored(&digest).await);
}

/// ECR's rules on the registry: an immutable repository never moves a tag to another image
/// (the same image again is fine), the image summaries show each image with its tags and
/// size, untagging takes an image with its last tag, and a repository with images is
/// deleted only by force.
async fn immutable_tags_stay_and_the_last_tag_takes_its_image(kind: Kind) {
    let Some(h) = harness(kind).await else { return };
    let config = push_blob(&h.registry, "app", b"{}").await;
    let layer = push_blob(&h.registry, "app", b"layer").await;
    let first = image_manifest(&config, 2, &[(&layer, 5)], json!({}));
    let second = image_manifest(&config, 2, &[(&layer, 5)], json!({"annotations": {"n": "2"}}));
    let tag = |t: &str| Reference::Tag(t.into());
    let a = h.registry.put_manifest("app", &tag("v1"), Some(OCI_MANIFEST), first.clone()).await.unwrap().digest;
    h.registry.put_manifest("app", &tag("latest"), Some(OCI_MANIFEST), first.clone()).await.unwrap();
    let record = h.registry.set_immutable_tags("app", true).await.unwrap();
    assert!(record.immutable_tags);
    assert!(matches!(
        h.registry.put_manifest("app", &tag("v1"), Some(OCI_MANIFEST), second.clone()).await,
        Err(Error::TagImmutable { ref tag, .. }) if tag == "v1"
    ));
    assert_eq!(h.registry.manifest("app", &tag("v1")).await.unwrap().digest, a.to_string());
    h.registry.put_manifest("app", &tag("v1"), Some(OCI_MANIFEST), first.clone()).await.unwrap();
    let b = h.registry.put_manifest("app", &tag("v2"), Some(OCI_MANIFEST), second).await.unwrap().digest;
    assert!(matches!(h.registry.set_immutable_tags("nope", true).await, Err(Error::NameUnknown { .. })));

    let images = h.registry.images("app").await.unwrap();
    let tags_of = |digest: &Digest| images.iter().find(|i| i.digest == digest.to_string()).unwrap().tags.clone();
    assert_eq!((tags_of(&a), tags_of(&b)), (vec!["latest".to_string(), "v1".into()], vec!["v2".to_string()]));
    let size_of_a = images.iter().find(|i| i.digest == a.to_string()).unwrap().size;
    assert_eq!(size_of_a, 2 + 5 + first.len() as u64, "config, layer and manifest");

    assert_eq!(h.registry.untag("app", "latest").await.unwrap(), a);
    assert!(h.registry.manifest("app", &Reference::Digest(a.clone())).await.is_ok(), "v1 still names it");
    h.registry.untag("app", "v1").await.unwrap();
    assert!(matches!(h.registry.manifest("app", &Reference::Digest(a)).await, Err(Error::ManifestUnknown { .. })));
    assert!(matches!(h.registry.untag("app", "v1").await, Err(Error::ManifestUnknown { .. })));

    assert!(matches!(h.registry.delete_repository_checked("app", false).await, Err(Error::RepositoryNotEmpty { .. })));
    h.registry.delete_repository_checked("app", true).await.unwrap();
    assert!(matches!(h.registry.repository("app").await, Err(Error::NameUnknown { .. })));
}

/// The suite, once per backend.
macro_rules! conformance {
    ($module:ident, $kind:expr) => {
        mod $module {
            use super::Kind;
            #[tokio::test]
            async fn chunks_append_in_order_and_an_out_of_order_chunk_is_refused() {
                super::chunks_append_in_order_and_an_out_of_order_chunk_is_refused($kind).await
            }
            #[tokio::test]
            async fn an_interrupted_chunk_leaves_the_upload_as_it_was() {
                super::an_interrupted_chunk_leaves_the_upload_as_it_was($kind).await
            }
            #[tokio::test]
            async fn sha512_digests_are_verified_too() {
                super::sha512_digests_are_verified_too($kind).await
            }
            #[tokio::test]
            async fn a_large_upload_in_uneven_appends_reads_back_exact() {
                super::a_large_upload_in_uneven_appends_reads_back_exact($kind).await
            }
            #[tokio::test]
            async fn an_upload_survives_a_restart_and_belongs_to_its_repository() {
                super::an_upload_survives_a_restart_and_belongs_to_its_repository($kind).await
            }
            #[tokio::test]
            async fn blobs_mount_across_repositories_and_go_with_their_last_link() {
                super::blobs_mount_across_repositories_and_go_with_their_last_link($kind).await
            }
            #[tokio::test]
            async fn manifests_need_their_blobs_and_are_stored_byte_exact() {
                super::manifests_need_their_blobs_and_are_stored_byte_exact($kind).await
            }
            #[tokio::test]
            async fn tags_page_in_order_and_pushes_and_deletes_are_events() {
                super::tags_page_in_order_and_pushes_and_deletes_are_events($kind).await
            }
            #[tokio::test]
            async fn referrers_list_manifests_with_a_subject_filtered_by_artifact_type() {
                super::referrers_list_manifests_with_a_subject_filtered_by_artifact_type($kind).await
            }
            #[tokio::test]
            async fn abandoned_uploads_and_stray_staging_files_are_cleaned() {
                super::abandoned_uploads_and_stray_staging_files_are_cleaned($kind).await
            }
            #[tokio::test]
            async fn names_are_checked_and_repositories_can_be_made_and_deleted() {
                super::names_are_checked_and_repositories_can_be_made_and_deleted($kind).await
            }
            #[tokio::test]
            async fn immutable_tags_stay_and_the_last_tag_takes_its_image() {
                super::immutable_tags_stay_and_the_last_tag_takes_its_image($kind).await
            }
        }
    };
}

conformance!(files, Kind::Files);
conformance!(s3, Kind::S3);
