//! Processing jobs: every field round trips, the process id has its own writer, stop
//! requests and lists.

use crate::backends::conformance;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use trainyard_store::{Error, ProcessingJobRecord};

fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_765_000_000_000 + millis).unwrap()
}

fn job(name: &str, status: &str, created: i64) -> ProcessingJobRecord {
    ProcessingJobRecord {
        name: name.into(),
        arn: format!("arn:aws:sagemaker:local:000000000000:processing-job/{name}"),
        request: json!({"ProcessingJobName": name, "Environment": {"NOTE": "ünïcødé ✓ \"q\" \\ '"}}),
        status: status.into(),
        failure_reason: None,
        exit_message: None,
        dataset: json!([]),
        stop_requested: false,
        pid: None,
        created_at: at(created),
        processing_start: None,
        processing_end: None,
        updated_at: at(created),
    }
}

fn names(jobs: &[ProcessingJobRecord]) -> Vec<&str> {
    jobs.iter().map(|j| j.name.as_str()).collect()
}

conformance! {
async fn a_processing_job_round_trips_every_field(store) {
    let mut j = job("eval-1", "InProgress", 0);
    j.created_at = at(5) + Duration::microseconds(999);
    store.create_processing_job(&j).await.unwrap();
    let got = store.get_processing_job("eval-1").await.unwrap();
    j.created_at = at(5);
    assert_eq!(got, j, "what create writes, to the millisecond");

    j.status = "Failed".into();
    j.failure_reason = Some("AlgorithmError: ✗ 'q' \"d\" \\b\n日本語".into());
    j.exit_message = Some("Traceback (most recent call last):\n  🚀".into());
    j.dataset = json!([{"Uri": "s3://b/k ü", "ETag": "\"e\"", "Size": 3}]);
    j.processing_start = Some(at(100));
    j.processing_end = Some(at(200));
    j.updated_at = at(200);
    store.update_processing_job(&j).await.unwrap();
    assert_eq!(store.get_processing_job("eval-1").await.unwrap(), j);
    // Updates never touch the ARN, request or creation time.
    let mut other = j.clone();
    other.arn = "arn:changed".into();
    other.request = json!(null);
    other.created_at = at(999);
    store.update_processing_job(&other).await.unwrap();
    assert_eq!(store.get_processing_job("eval-1").await.unwrap(), j);

    // Output with a NUL does not fail the write.
    j.exit_message = Some("a\0b".into());
    store.update_processing_job(&j).await.unwrap();
    let got = store.get_processing_job("eval-1").await.unwrap();
    assert_eq!(got.exit_message.unwrap().replace('\0', ""), "ab");
}

async fn processing_names_are_unique_and_missing_jobs_are_not_found(store) {
    store.create_processing_job(&job("a", "InProgress", 0)).await.unwrap();
    let again = store.create_processing_job(&job("a", "Completed", 1)).await;
    assert!(matches!(again, Err(Error::AlreadyExists { .. })), "{again:?}");
    assert_eq!(store.get_processing_job("a").await.unwrap().status, "InProgress");
    assert!(matches!(store.get_processing_job("nope").await, Err(Error::NotFound { .. })));
    store.update_processing_job(&job("ghost", "Completed", 0)).await.unwrap();
    assert!(matches!(store.get_processing_job("ghost").await, Err(Error::NotFound { .. })), "an update creates nothing");
}

async fn the_processing_pid_is_written_by_its_own_method_and_cleared_at_the_end(store) {
    let mut j = job("p", "InProgress", 0);
    store.create_processing_job(&j).await.unwrap();
    store.set_processing_pid("p", Some(4_000_000_123)).await.unwrap();
    j.pid = Some(1);
    j.processing_start = Some(at(1));
    store.update_processing_job(&j).await.unwrap();
    assert_eq!(store.get_processing_job("p").await.unwrap().pid, Some(4_000_000_123));
    j.processing_end = Some(at(2));
    j.status = "Completed".into();
    store.update_processing_job(&j).await.unwrap();
    assert_eq!(store.get_processing_job("p").await.unwrap().pid, None);
    store.set_processing_pid("p", Some(7)).await.unwrap();
    assert_eq!(store.get_processing_job("p").await.unwrap().pid, Some(7));
    store.set_processing_pid("p", None).await.unwrap();
    assert_eq!(store.get_processing_job("p").await.unwrap().pid, None);
    store.set_processing_pid("missing", Some(7)).await.unwrap();
}

async fn a_processing_stop_request_is_marked_and_false_for_a_missing_job(store) {
    store.create_processing_job(&job("s", "InProgress", 0)).await.unwrap();
    assert!(!store.get_processing_job("s").await.unwrap().stop_requested);
    assert!(store.request_processing_stop("s").await.unwrap());
    assert!(store.get_processing_job("s").await.unwrap().stop_requested);
    assert!(!store.request_processing_stop("missing").await.unwrap());
}

async fn processing_lists_are_newest_first_filtered_and_limited(store) {
    store.create_processing_job(&job("b", "Completed", 10)).await.unwrap();
    store.create_processing_job(&job("a", "Completed", 10)).await.unwrap();
    store.create_processing_job(&job("c", "InProgress", 20)).await.unwrap();
    store.create_processing_job(&job("d", "Failed", 5)).await.unwrap();
    assert_eq!(names(&store.list_processing_jobs(None, 100).await.unwrap()), ["c", "a", "b", "d"]);
    assert_eq!(names(&store.list_processing_jobs(Some("Completed"), 100).await.unwrap()), ["a", "b"]);
    assert_eq!(names(&store.list_processing_jobs(None, 3).await.unwrap()), ["c", "a", "b"]);
    assert_eq!(store.list_processing_jobs(None, -5).await.unwrap().len(), 1, "a limit is at least 1");
    assert!(store.list_processing_jobs(Some("Stopped"), 100).await.unwrap().is_empty());
}
}
