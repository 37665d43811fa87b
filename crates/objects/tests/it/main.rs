//! Object storage on a real SQLite store and two real backends: the local file system, and
//! an S3 store (SeaweedFS in CI: `.ci/seaweedfs`, its `TY_TEST_S3_*` variables). One suite
//! runs against both (`conformance!`); the S3 copy is skipped, saying so, without a store.

use bytes::Bytes;
use futures::TryStreamExt;
use trainyard_bus::{BusConfig, EventBus};
use trainyard_objects::{Error, Objects};
use trainyard_store::Store;

/// The backend a suite runs on.
#[derive(Clone, Copy)]
enum Backend {
    Local,
    S3,
}

/// An S3 store's URL for a fresh prefix, and its options, from `TY_TEST_S3_*`.
fn s3_store() -> Option<(String, Vec<(String, String)>)> {
    let variable = |name: &str| std::env::var(format!("TY_TEST_S3_{name}")).ok();
    let endpoint = variable("ENDPOINT")?;
    let url = format!("s3://{}/t-{}", variable("BUCKET")?, uuid::Uuid::new_v4().simple());
    let options = [
        ("aws_endpoint", endpoint),
        ("aws_allow_http", "true".into()),
        ("aws_region", variable("REGION").unwrap_or_else(|| "us-east-1".into())),
        ("aws_access_key_id", variable("ACCESS_KEY_ID")?),
        ("aws_secret_access_key", variable("SECRET_ACCESS_KEY")?),
    ];
    Some((url, options.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// The service on `backend`, or `None` (the test skips) when there is no S3 store.
async fn objects(dir: &tempfile::TempDir, backend: Backend) -> Option<Objects> {
    let store = Store::open(&dir.path().join("db")).await.unwrap();
    let bus = EventBus::open(store.clone(), BusConfig::default()).await.unwrap();
    match backend {
        Backend::Local => Some(Objects::local(&dir.path().join("objects"), store, bus).unwrap()),
        Backend::S3 => match s3_store() {
            Some((url, options)) => Some(Objects::from_url_with(&url, &options, store, bus).unwrap()),
            None => {
                println!("skipped: no S3 store (TY_TEST_S3_ENDPOINT; .ci/seaweedfs start DIR)");
                None
            }
        },
    }
}

/// Where every backend keeps `bucket/key`: named by the key's SHA-256, never by the key.
fn hashed(bucket: &str, key: &str) -> String {
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!(".objects/{bucket}/{}/{digest}", &digest[..2])
}

/// The bytes the backend holds at `relative` (under the service's root), if any.
async fn raw(objects: &Objects, relative: &str) -> Option<Vec<u8>> {
    let (backend, root) = objects.backend();
    let path: object_store::path::Path = root.parts().chain(object_store::path::Path::from(relative).parts()).collect();
    let got = backend.get(&path).await.ok()?;
    Some(got.bytes().await.unwrap().to_vec())
}

async fn read(objects: &Objects, bucket: &str, key: &str) -> Vec<u8> {
    let (_, stream) = objects.get(bucket, key, None).await.unwrap();
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    chunks.concat()
}

async fn every_key_s3_accepts_is_stored_and_read_back(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(objects) = objects(&dir, backend).await else { return };
    objects.create_bucket("data").await.unwrap();
    let long = "s".repeat(300);
    let keys = ["x", "x/y", "x/y/z", "report#1", "a#12/b#3", &long, "sp ace/ünï/😀", "x#"];
    for key in keys {
        objects.put_bytes("data", key, "text/plain", Bytes::from(key.to_string())).await.unwrap();
    }
    for key in keys {
        assert_eq!(read(&objects, "data", key).await, key.as_bytes(), "{key}");
    }
    let listing = objects.list("data", "", None, None, 100).await.unwrap();
    assert_eq!(listing.contents.len(), keys.len());
    objects.delete("data", "x").await.unwrap();
    assert_eq!(read(&objects, "data", "x/y").await, b"x/y");
}

async fn objects_an_earlier_version_stored_by_key_are_still_read_and_deleted(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(objects) = objects(&dir, backend).await else { return };
    objects.create_bucket("data").await.unwrap();
    objects.put_bytes("data", "old/rows.csv", "text/csv", Bytes::from_static(b"1,2\n")).await.unwrap();
    // Where the earlier version kept it: `bucket/key`.
    let (store, root) = objects.backend();
    let at = |relative: &str| -> object_store::path::Path {
        root.parts().chain(object_store::path::Path::from(relative).parts()).collect()
    };
    store.rename(&at(&hashed("data", "old/rows.csv")), &at("data/old/rows.csv")).await.unwrap();
    assert_eq!(read(&objects, "data", "old/rows.csv").await, b"1,2\n");
    objects.delete("data", "old/rows.csv").await.unwrap();
    assert_eq!(raw(&objects, "data/old/rows.csv").await, None);
}

async fn bytes_land_hashed_and_read_back(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(objects) = objects(&dir, backend).await else { return };
    objects.create_bucket("data").await.unwrap();
    let record = objects.put_bytes("data", "a/b.csv", "text/csv", Bytes::from_static(b"1,2\n")).await.unwrap();
    use md5::Digest;
    let expected: String = md5::Md5::digest(b"1,2\n").iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(record.etag, expected);
    assert_eq!(raw(&objects, &hashed("data", "a/b.csv")).await.as_deref(), Some(&b"1,2\n"[..]));
    let (_, stream) = objects.get("data", "a/b.csv", Some(2..4)).await.unwrap();
    let bytes: Vec<Bytes> = stream.try_collect().await.unwrap();
    assert_eq!(bytes.concat(), b"2\n");
    // A large object goes up in parts and comes back whole.
    let large: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    objects.put_bytes("data", "large.bin", "application/octet-stream", Bytes::from(large.clone())).await.unwrap();
    assert!(read(&objects, "data", "large.bin").await == large, "12 MiB round trip");
    objects.put_bytes("data", "empty", "text/plain", Bytes::new()).await.unwrap();
    assert_eq!(read(&objects, "data", "empty").await, b"");
}

async fn a_failed_upload_leaves_nothing_behind(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(objects) = objects(&dir, backend).await else { return };
    objects.create_bucket("data").await.unwrap();
    let body = futures::stream::iter(vec![Ok(Bytes::from_static(b"partial")), Err("client went away")]);
    let err = objects.put("data", "x.bin", "application/octet-stream", body).await.unwrap_err();
    assert!(matches!(err, Error::Upload { .. }), "{err}");
    assert!(objects.head("data", "x.bin").await.is_err());
    assert_eq!(raw(&objects, &hashed("data", "x.bin")).await, None);
    let listing = objects.list("data", "", None, None, 100).await.unwrap();
    assert!(listing.contents.is_empty());
}

/// The suite, once per backend.
macro_rules! conformance {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;
            #[tokio::test]
            async fn every_key_s3_accepts_is_stored_and_read_back() {
                super::every_key_s3_accepts_is_stored_and_read_back($backend).await
            }
            #[tokio::test]
            async fn objects_an_earlier_version_stored_by_key_are_still_read_and_deleted() {
                super::objects_an_earlier_version_stored_by_key_are_still_read_and_deleted($backend).await
            }
            #[tokio::test]
            async fn bytes_land_hashed_and_read_back() {
                super::bytes_land_hashed_and_read_back($backend).await
            }
            #[tokio::test]
            async fn a_failed_upload_leaves_nothing_behind() {
                super::a_failed_upload_leaves_nothing_behind($backend).await
            }
        }
    };
}

conformance!(local, Backend::Local);
conformance!(s3, Backend::S3);

#[tokio::test]
async fn staging_files_a_crash_left_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let staged = [dir.path().join("objects/.objects/data/ab/abcdef#3"), dir.path().join("objects/data/k.csv#12")];
    let kept = dir.path().join("objects/data/notes#draft");
    for path in staged.iter().chain([&kept]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![0u8; 1024]).unwrap();
    }
    let _objects = objects(&dir, Backend::Local).await;
    for path in &staged {
        assert!(!path.exists(), "{} was left", path.display());
    }
    assert!(kept.exists());
}

#[tokio::test]
async fn an_s3_url_is_accepted_as_a_backend() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).await.unwrap();
    let bus = EventBus::open(store.clone(), BusConfig::default()).await.unwrap();
    assert!(Objects::from_url("s3://some-bucket/prefix", store.clone(), bus.clone()).is_ok());
    assert!(matches!(Objects::from_url("ftp://x/y", store, bus), Err(Error::Backend { .. })));
}
