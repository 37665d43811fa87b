//! S3 multipart uploads in progress and their parts.

use chrono::{TimeZone, Utc};
use trainyard_store::{Error, PartRecord, UploadRecord};

use crate::backends::conformance;

fn part(part_number: i64, size: i64, etag: &str) -> PartRecord {
    PartRecord { part_number, size, etag: etag.into() }
}

conformance! {
async fn uploads_round_trip_and_parts_list_by_number_replacing_resent_ones(store) {
    let upload = UploadRecord {
        upload_id: "up/1+ü".into(),
        bucket: "b".into(),
        key: "dir/ünï cødé%_.bin".into(),
        content_type: "application/x-tar".into(),
        created_at: Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
    };
    store.create_multipart_upload(&upload).await.unwrap();
    assert!(matches!(store.create_multipart_upload(&upload).await, Err(Error::AlreadyExists { .. })));
    assert_eq!(store.get_multipart_upload(&upload.upload_id).await.unwrap(), upload);
    assert!(matches!(store.get_multipart_upload("nope").await, Err(Error::NotFound { kind: "upload", .. })));
    assert!(store.list_multipart_parts(&upload.upload_id).await.unwrap().is_empty());

    for p in [part(10, 5, "e10"), part(2, 5_368_709_120, "e2"), part(1, 7, "e1")] {
        store.put_multipart_part(&upload.upload_id, &p).await.unwrap();
    }
    // Sent again: replaces.
    store.put_multipart_part(&upload.upload_id, &part(2, 3, "e2-again")).await.unwrap();
    assert_eq!(
        store.list_multipart_parts(&upload.upload_id).await.unwrap(),
        [part(1, 7, "e1"), part(2, 3, "e2-again"), part(10, 5, "e10")]
    );
    // A part of no upload is refused.
    assert!(store.put_multipart_part("nope", &part(1, 1, "x")).await.is_err());
    assert!(store.list_multipart_parts("nope").await.unwrap().is_empty());

    // Parts belong to their upload.
    let other = UploadRecord { upload_id: "up-2".into(), ..upload.clone() };
    store.create_multipart_upload(&other).await.unwrap();
    store.put_multipart_part("up-2", &part(1, 1, "o1")).await.unwrap();
    assert_eq!(store.list_multipart_parts("up-2").await.unwrap(), [part(1, 1, "o1")]);

    store.delete_multipart_upload(&upload.upload_id).await.unwrap();
    assert!(matches!(store.get_multipart_upload(&upload.upload_id).await, Err(Error::NotFound { .. })));
    assert!(store.list_multipart_parts(&upload.upload_id).await.unwrap().is_empty());
    // Forgetting an unknown upload is not an error.
    store.delete_multipart_upload(&upload.upload_id).await.unwrap();
    assert_eq!(store.list_multipart_parts("up-2").await.unwrap().len(), 1);
    // The id may be used again, without the old parts.
    store.create_multipart_upload(&upload).await.unwrap();
    assert!(store.list_multipart_parts(&upload.upload_id).await.unwrap().is_empty());
}
}
