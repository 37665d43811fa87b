//! Retraining notes: each object version once, and a run takes only what was noted
//! before its window closed.

use crate::backends::conformance;
use chrono::{Duration, Utc};

conformance! {
async fn a_window_takes_the_objects_noted_before_it_closed_and_never_an_object_twice(store) {
    let t0 = Utc::now();
    assert!(store.note_retraining("p", "s3://b/a#1", t0).await.unwrap());
    assert!(store.note_retraining("p", "s3://b/b#1", t0 + Duration::milliseconds(5)).await.unwrap());
    assert!(!store.note_retraining("p", "s3://b/a#1", t0 + Duration::milliseconds(6)).await.unwrap(), "a redelivery");
    assert!(store.note_retraining("other", "s3://b/a#1", t0).await.unwrap(), "pipelines note separately");

    let windows = store.retraining_windows().await.unwrap();
    let window = windows.iter().find(|w| w.pipeline == "p").unwrap().clone();
    assert_eq!((window.opened.timestamp_millis(), window.objects), (t0.timestamp_millis(), 2));

    // An object noted while the run starts is not lost: it opens the next window.
    let later = t0 + Duration::milliseconds(20);
    assert!(store.note_retraining("p", "s3://b/c#1", later).await.unwrap());
    assert_eq!(store.close_retraining("p", "p-run-1", window.last).await.unwrap(), 2);
    let windows = store.retraining_windows().await.unwrap();
    let next = windows.iter().find(|w| w.pipeline == "p").unwrap();
    assert_eq!((next.objects, next.opened.timestamp_millis()), (1, later.timestamp_millis()), "{windows:?}");
    assert!(next.last > window.last);

    // A replayed event of an object a run took opens nothing.
    assert!(!store.note_retraining("p", "s3://b/b#1", later).await.unwrap());
    assert!(store.note_retraining("p", "s3://b/b#2", later).await.unwrap(), "an overwrite");
    store.drop_retraining("p").await.unwrap();
    assert!(store.retraining_windows().await.unwrap().iter().all(|w| w.pipeline != "p"));
}
}
