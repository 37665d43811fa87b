//! Object storage on a real file system and a real SQLite store.

use bytes::Bytes;
use futures::TryStreamExt;
use trainyard_bus::{BusConfig, EventBus};
use trainyard_objects::{Error, Objects};
use trainyard_store::Store;

async fn objects(dir: &tempfile::TempDir) -> Objects {
    let store = Store::open(&dir.path().join("db")).await.unwrap();
    let bus = EventBus::open(store.clone(), BusConfig::default()).await.unwrap();
    Objects::local(&dir.path().join("objects"), store, bus).unwrap()
}

#[tokio::test]
async fn bytes_land_under_the_bucket_directory_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let objects = objects(&dir).await;
    objects.create_bucket("data").await.unwrap();
    let record = objects.put_bytes("data", "a/b.csv", "text/csv", Bytes::from_static(b"1,2\n")).await.unwrap();
    use md5::Digest;
    let expected: String = md5::Md5::digest(b"1,2\n").iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(record.etag, expected);
    assert_eq!(std::fs::read(dir.path().join("objects/data/a/b.csv")).unwrap(), b"1,2\n");
    let (_, stream) = objects.get("data", "a/b.csv", Some(2..4)).await.unwrap();
    let bytes: Vec<Bytes> = stream.try_collect().await.unwrap();
    assert_eq!(bytes.concat(), b"2\n");
}

#[tokio::test]
async fn a_failed_upload_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let objects = objects(&dir).await;
    objects.create_bucket("data").await.unwrap();
    let body = futures::stream::iter(vec![Ok(Bytes::from_static(b"partial")), Err("client went away")]);
    let err = objects.put("data", "x.bin", "application/octet-stream", body).await.unwrap_err();
    assert!(matches!(err, Error::Upload { .. }), "{err}");
    assert!(objects.head("data", "x.bin").await.is_err());
    assert!(!dir.path().join("objects/data/x.bin").exists());
    let listing = objects.list("data", "", None, None, 100).await.unwrap();
    assert!(listing.contents.is_empty());
}

#[tokio::test]
async fn an_s3_url_is_accepted_as_a_backend() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).await.unwrap();
    let bus = EventBus::open(store.clone(), BusConfig::default()).await.unwrap();
    assert!(Objects::from_url("s3://some-bucket/prefix", store.clone(), bus.clone()).is_ok());
    assert!(matches!(Objects::from_url("ftp://x/y", store, bus), Err(Error::Backend { .. })));
}
