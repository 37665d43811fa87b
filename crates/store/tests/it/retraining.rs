//! Retraining notes: each object version once, and a run takes only what was noted
//! before its window closed.

use chrono::{Duration, Utc};
use trainyard_store::Store;

#[tokio::test]
async fn a_window_takes_the_objects_noted_before_it_closed_and_never_an_object_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).await.unwrap();
    let t0 = Utc::now();
    assert!(store.note_retraining("p", "s3://b/a#1", t0).await.unwrap());
    assert!(store.note_retraining("p", "s3://b/b#1", t0 + Duration::milliseconds(5)).await.unwrap());
    assert!(!store.note_retraining("p", "s3://b/a#1", t0 + Duration::milliseconds(6)).await.unwrap(), "a redelivery");
    assert!(store.note_retraining("other", "s3://b/a#1", t0).await.unwrap(), "pipelines note separately");

    let closing = t0 + Duration::milliseconds(10);
    let windows = store.retraining_windows(closing).await.unwrap();
    let window = windows.iter().find(|w| w.0 == "p").unwrap();
    assert_eq!((window.1.timestamp_millis(), window.2), (t0.timestamp_millis(), 2));

    // An object noted while the run starts is not lost: it opens the next window.
    assert!(store.note_retraining("p", "s3://b/c#1", closing + Duration::milliseconds(1)).await.unwrap());
    assert_eq!(store.close_retraining("p", "p-run-1", closing).await.unwrap(), 2);
    let windows = store.retraining_windows(closing + Duration::seconds(1)).await.unwrap();
    let window = windows.iter().find(|w| w.0 == "p").unwrap();
    assert_eq!(window.2, 1, "{windows:?}");
    assert!(window.1 > closing);

    // A replayed event of an object a run took opens nothing.
    assert!(!store.note_retraining("p", "s3://b/b#1", closing + Duration::seconds(2)).await.unwrap());
    assert!(store.note_retraining("p", "s3://b/b#2", closing + Duration::seconds(2)).await.unwrap(), "an overwrite");
    store.drop_retraining("p").await.unwrap();
    assert!(store.retraining_windows(closing + Duration::seconds(3)).await.unwrap().iter().all(|w| w.0 != "p"));
}
