//! Training jobs: every field round trips, the process id has its own writer, stop
//! requests, look-up by artifacts, lists, pages and metric series.

use crate::backends::conformance;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use trainyard_store::{Error, JobPage, JobSort, MetricPoint, TrainingJobRecord};

/// A time with millisecond precision (what the store keeps), with sub-millisecond noise
/// added where the tests write it.
fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_765_000_000_000 + millis).unwrap()
}

fn job(name: &str, status: &str, created: i64) -> TrainingJobRecord {
    TrainingJobRecord {
        name: name.into(),
        arn: format!("arn:aws:sagemaker:local:000000000000:training-job/{name}"),
        request: json!({"TrainingJobName": name, "HyperParameters": {"lr": "0.1", "note": "ünïcødé ✓ \"q\" \\ '"}}),
        status: status.into(),
        secondary_status: "Starting".into(),
        transitions: json!([{"Status": "Starting", "StartTime": 1}]),
        failure_reason: None,
        model_artifacts: None,
        final_metrics: json!([]),
        dataset: json!([]),
        stop_requested: false,
        pid: None,
        attempts: 0,
        created_at: at(created),
        training_start: None,
        training_end: None,
        updated_at: at(created),
    }
}

fn names(jobs: &[TrainingJobRecord]) -> Vec<&str> {
    jobs.iter().map(|j| j.name.as_str()).collect()
}

conformance! {
async fn a_job_round_trips_every_field(store) {
    let mut j = job("churn-1", "InProgress", 0);
    j.created_at = at(5) + Duration::microseconds(999);
    j.updated_at = at(6) + Duration::nanoseconds(1);
    store.create_training_job(&j).await.unwrap();
    let got = store.get_training_job("churn-1").await.unwrap();
    let mut expected = j.clone();
    expected.created_at = at(5);
    expected.updated_at = at(6);
    assert_eq!(got, expected, "what create writes, to the millisecond");
    j.created_at = at(5);

    // Every mutable field, with odd text and a reason holding a NUL from a process's output.
    j.status = "Completed".into();
    j.secondary_status = "Completed".into();
    j.transitions = json!([{"Status": "Starting"}, {"Status": "Training", "StatusMessage": "日本語 🚀"}]);
    j.failure_reason = Some("exit 1: ✗ 'quoted' \"double\" \\back\nnew line".into());
    j.model_artifacts = Some("s3://bucket/out/churn-1/model.tar.gz".into());
    j.final_metrics = json!([{"MetricName": "auc", "Value": 0.25}]);
    j.dataset = json!([{"Uri": "s3://b/k ü", "ETag": "\"abc\"", "Size": 12}]);
    j.attempts = 3;
    j.training_start = Some(at(100));
    j.training_end = Some(at(200));
    j.updated_at = at(200);
    store.update_training_job(&j).await.unwrap();
    let got = store.get_training_job("churn-1").await.unwrap();
    assert_eq!(got, j);
    // Updates never touch name, ARN, request or creation time.
    let mut other = j.clone();
    other.arn = "arn:changed".into();
    other.request = json!({"changed": true});
    other.created_at = at(999);
    store.update_training_job(&other).await.unwrap();
    assert_eq!(store.get_training_job("churn-1").await.unwrap(), j);
}

async fn a_nul_in_a_failure_reason_does_not_fail_the_write(store) {
    let mut j = job("nul", "InProgress", 0);
    store.create_training_job(&j).await.unwrap();
    j.status = "Failed".into();
    j.failure_reason = Some("before\0after".into());
    store.update_training_job(&j).await.unwrap();
    let got = store.get_training_job("nul").await.unwrap();
    assert_eq!(got.status, "Failed");
    assert_eq!(got.failure_reason.unwrap().replace('\0', ""), "beforeafter");
}

async fn names_are_unique_and_missing_jobs_are_not_found(store) {
    store.create_training_job(&job("a", "InProgress", 0)).await.unwrap();
    let again = store.create_training_job(&job("a", "Completed", 1)).await;
    assert!(matches!(again, Err(Error::AlreadyExists { .. })), "{again:?}");
    assert_eq!(store.get_training_job("a").await.unwrap().status, "InProgress", "the first one stays");
    assert!(matches!(store.get_training_job("A").await, Err(Error::NotFound { .. })), "names are case-sensitive");
    assert!(matches!(store.get_training_job("nope").await, Err(Error::NotFound { .. })));
    // Updating a missing job creates nothing.
    store.update_training_job(&job("ghost", "Completed", 0)).await.unwrap();
    assert!(matches!(store.get_training_job("ghost").await, Err(Error::NotFound { .. })));
}

async fn the_pid_is_written_by_its_own_method_and_cleared_when_the_job_ends(store) {
    let mut j = job("p", "InProgress", 0);
    store.create_training_job(&j).await.unwrap();
    store.set_training_pid("p", Some(4_000_000_123)).await.unwrap();
    assert_eq!(store.get_training_job("p").await.unwrap().pid, Some(4_000_000_123));
    // The runner's copy lags: an update with another pid does not overwrite it.
    j.pid = Some(1);
    j.training_start = Some(at(1));
    store.update_training_job(&j).await.unwrap();
    assert_eq!(store.get_training_job("p").await.unwrap().pid, Some(4_000_000_123));
    // The end clears it.
    j.training_end = Some(at(2));
    j.status = "Completed".into();
    store.update_training_job(&j).await.unwrap();
    assert_eq!(store.get_training_job("p").await.unwrap().pid, None);
    store.set_training_pid("p", Some(7)).await.unwrap();
    store.set_training_pid("p", None).await.unwrap();
    assert_eq!(store.get_training_job("p").await.unwrap().pid, None);
    store.set_training_pid("missing", Some(7)).await.unwrap();
}

async fn a_stop_request_is_marked_and_false_for_a_missing_job(store) {
    store.create_training_job(&job("s", "InProgress", 0)).await.unwrap();
    assert!(store.request_training_stop("s").await.unwrap());
    assert!(store.request_training_stop("s").await.unwrap(), "asking twice still finds the job");
    assert!(store.get_training_job("s").await.unwrap().stop_requested);
    assert!(!store.request_training_stop("missing").await.unwrap());
    // An update keeps the flag (it is not one of the fields an update writes).
    let mut j = store.get_training_job("s").await.unwrap();
    j.stop_requested = false;
    store.update_training_job(&j).await.unwrap();
    assert!(store.get_training_job("s").await.unwrap().stop_requested);
}

async fn the_newest_completed_job_is_found_by_its_artifacts(store) {
    let url = "s3://bucket/out/model.tar.gz";
    for (name, status, created) in [("old", "Completed", 0), ("new", "Completed", 10), ("newest-failed", "Failed", 20)] {
        let mut j = job(name, status, created);
        store.create_training_job(&j).await.unwrap();
        j.model_artifacts = Some(url.into());
        store.update_training_job(&j).await.unwrap();
    }
    let found = store.training_job_by_artifacts(url).await.unwrap().unwrap();
    assert_eq!(found.name, "new");
    assert_eq!(found.model_artifacts.as_deref(), Some(url));
    assert!(store.training_job_by_artifacts("s3://bucket/out/other").await.unwrap().is_none());
    assert!(store.training_job_by_artifacts("s3://bucket/out/%").await.unwrap().is_none(), "matched exactly");
}

async fn lists_are_newest_first_filtered_and_limited(store) {
    store.create_training_job(&job("b", "Completed", 10)).await.unwrap();
    store.create_training_job(&job("a", "Completed", 10)).await.unwrap();
    store.create_training_job(&job("c", "InProgress", 20)).await.unwrap();
    store.create_training_job(&job("d", "Failed", 5)).await.unwrap();
    let all = store.list_training_jobs(None, 100).await.unwrap();
    assert_eq!(names(&all), ["c", "a", "b", "d"], "newest first, ties by name");
    let done = store.list_training_jobs(Some("Completed"), 100).await.unwrap();
    assert_eq!(names(&done), ["a", "b"]);
    assert_eq!(names(&store.list_training_jobs(None, 2).await.unwrap()), ["c", "a"]);
    assert_eq!(store.list_training_jobs(None, 0).await.unwrap().len(), 1, "a limit is at least 1");
    assert!(store.list_training_jobs(Some("Stopped"), 100).await.unwrap().is_empty());
    assert!(store.list_training_jobs(Some("completed"), 100).await.unwrap().is_empty(), "statuses match exactly");
}

async fn pages_sort_by_status_and_name_and_match_a_literal_part_of_the_name(store) {
    let rows = [
        ("x-b", "InProgress", 3),
        ("x_a", "Completed", 1),
        ("x-c", "Completed", 2),
        ("Xa", "Failed", 4),
        ("é-1", "Completed", 0),
    ];
    for (name, status, created) in rows {
        store.create_training_job(&job(name, status, created)).await.unwrap();
    }
    let page = |status, name, sort, descending, offset, limit| JobPage { status, name_contains: name, sort, descending, offset, limit };

    let (by_status, total) = store.page_training_jobs(&page(None, None, JobSort::Status, false, 0, 10)).await.unwrap();
    assert_eq!(total, 5);
    assert_eq!(names(&by_status), ["x-c", "x_a", "é-1", "Xa", "x-b"], "status, then newest first, then name");
    let (by_status, _) = store.page_training_jobs(&page(None, None, JobSort::Status, true, 0, 10)).await.unwrap();
    assert_eq!(names(&by_status), ["x-b", "Xa", "x-c", "x_a", "é-1"]);

    let (by_name, _) = store.page_training_jobs(&page(None, None, JobSort::Name, false, 0, 10)).await.unwrap();
    assert_eq!(names(&by_name), ["Xa", "x-b", "x-c", "x_a", "é-1"], "bytewise: upper case, '-', '_', then non-ASCII");
    let (by_name, _) = store.page_training_jobs(&page(None, None, JobSort::Name, true, 1, 2)).await.unwrap();
    assert_eq!(names(&by_name), ["x_a", "x-c"]);

    let (created, _) = store.page_training_jobs(&page(None, None, JobSort::Created, false, 0, 10)).await.unwrap();
    assert_eq!(names(&created), ["é-1", "x_a", "x-c", "x-b", "Xa"]);

    // Literal, case-sensitive parts: `_` is no wildcard, `x` does not match `X`.
    let (found, total) = store.page_training_jobs(&page(None, Some("_"), JobSort::Name, false, 0, 10)).await.unwrap();
    assert_eq!((names(&found), total), (vec!["x_a"], 1));
    let (found, total) = store.page_training_jobs(&page(None, Some("x"), JobSort::Name, false, 0, 10)).await.unwrap();
    assert_eq!((names(&found), total), (vec!["x-b", "x-c", "x_a"], 3));
    let (found, _) = store.page_training_jobs(&page(None, Some("é"), JobSort::Name, false, 0, 10)).await.unwrap();
    assert_eq!(names(&found), ["é-1"]);
    let (found, total) =
        store.page_training_jobs(&page(Some("Completed"), Some("x"), JobSort::Name, false, 0, 1)).await.unwrap();
    assert_eq!((names(&found), total), (vec!["x-c"], 2), "the total counts the whole filter, not the page");

    // Past the end: an empty page with the right total; a negative offset is the start.
    let (past, total) = store.page_training_jobs(&page(None, None, JobSort::Name, false, 50, 10)).await.unwrap();
    assert_eq!((past.len(), total), (0, 5));
    let (start, _) = store.page_training_jobs(&page(None, None, JobSort::Name, false, -3, 1)).await.unwrap();
    assert_eq!(names(&start), ["Xa"]);
}

async fn metrics_keep_their_order_values_and_times_and_a_resent_point_replaces(store) {
    store.create_training_job(&job("m", "InProgress", 0)).await.unwrap();
    store.create_training_job(&job("other", "InProgress", 0)).await.unwrap();
    assert!(store.training_metrics("m").await.unwrap().is_empty());
    let point = |name: &str, value: f64, t: i64| MetricPoint { metric_name: name.into(), value, timestamp: at(t) };
    let first = vec![point("train:loss", 0.1, 1), point("validation:auc ✓", -1.5e-300, 2), point("train:loss", 1e300, 3)];
    store.add_training_metrics("m", 0, &first).await.unwrap();
    store.add_training_metrics("m", 3, &[]).await.unwrap();
    store.add_training_metrics("other", 0, &[point("x", 9.0, 9)]).await.unwrap();
    // The runner re-sends from a sequence number: the same seq replaces, the next appends.
    let resent = vec![point("train:loss", 0.05, 4), point("train:loss", 0.01, 5)];
    store.add_training_metrics("m", 2, &resent).await.unwrap();
    let got = store.training_metrics("m").await.unwrap();
    assert_eq!(got, vec![first[0].clone(), first[1].clone(), resent[0].clone(), resent[1].clone()]);
    assert_eq!(store.training_metrics("other").await.unwrap(), vec![point("x", 9.0, 9)]);
    assert!(store.training_metrics("missing").await.unwrap().is_empty());
    // A large batch in one call keeps its order.
    let many: Vec<MetricPoint> = (0..500).map(|i| point("step", i as f64, i)).collect();
    store.add_training_metrics("other", 1, &many).await.unwrap();
    let got = store.training_metrics("other").await.unwrap();
    assert_eq!(got.len(), 501);
    assert_eq!(&got[1..], &many[..]);
}
}
