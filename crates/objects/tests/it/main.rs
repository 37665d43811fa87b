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

/// Where the local backend keeps `bucket/key`: named by the key's SHA-256, never by the
/// key itself.
fn stored_at(dir: &tempfile::TempDir, bucket: &str, key: &str) -> std::path::PathBuf {
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    dir.path().join("objects/.objects").join(bucket).join(&digest[..2]).join(&digest)
}

async fn read(objects: &Objects, bucket: &str, key: &str) -> Vec<u8> {
    let (_, stream) = objects.get(bucket, key, None).await.unwrap();
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    chunks.concat()
}

#[tokio::test]
async fn every_key_s3_accepts_is_stored_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let objects = objects(&dir).await;
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

#[tokio::test]
async fn objects_an_earlier_version_stored_by_key_are_still_read_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let objects = objects(&dir).await;
    objects.create_bucket("data").await.unwrap();
    objects.put_bytes("data", "old/rows.csv", "text/csv", Bytes::from_static(b"1,2\n")).await.unwrap();
    // Where the earlier version kept it.
    let legacy = dir.path().join("objects/data/old/rows.csv");
    std::fs::create_dir_all(legacy.parent().unwrap()).unwrap();
    std::fs::rename(stored_at(&dir, "data", "old/rows.csv"), &legacy).unwrap();
    assert_eq!(read(&objects, "data", "old/rows.csv").await, b"1,2\n");
    objects.delete("data", "old/rows.csv").await.unwrap();
    assert!(!legacy.exists());
}

#[tokio::test]
async fn staging_files_a_crash_left_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let staged = [dir.path().join("objects/.objects/data/ab/abcdef#3"), dir.path().join("objects/data/k.csv#12")];
    let kept = dir.path().join("objects/data/notes#draft");
    for path in staged.iter().chain([&kept]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![0u8; 1024]).unwrap();
    }
    let _objects = objects(&dir).await;
    for path in &staged {
        assert!(!path.exists(), "{} was left", path.display());
    }
    assert!(kept.exists());
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
    assert_eq!(std::fs::read(stored_at(&dir, "data", "a/b.csv")).unwrap(), b"1,2\n");
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
    assert!(!stored_at(&dir, "data", "x.bin").exists());
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
