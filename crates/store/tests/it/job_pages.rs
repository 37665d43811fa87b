//! Pages of training jobs for list views: filtered, sorted, counted.

use crate::backends::conformance;
use chrono::{Duration, Utc};
use serde_json::json;
use trainyard_store::{JobPage, JobSort, TrainingJobRecord};

fn job(name: &str, status: &str, minutes_ago: i64) -> TrainingJobRecord {
    let at = Utc::now() - Duration::minutes(minutes_ago);
    TrainingJobRecord {
        name: name.into(),
        arn: format!("arn:{name}"),
        request: json!({}),
        status: status.into(),
        secondary_status: status.into(),
        transitions: json!([]),
        failure_reason: None,
        model_artifacts: None,
        final_metrics: json!([]),
        dataset: json!([]),
        stop_requested: false,
        pid: None,
        attempts: 0,
        created_at: at,
        training_start: None,
        training_end: None,
        updated_at: at,
    }
}

conformance! {
async fn pages_are_filtered_sorted_and_counted_in_the_store(store) {
    for i in 0..120 {
        let status = if i % 3 == 0 { "Failed" } else { "Completed" };
        store.create_training_job(&job(&format!("churn-{i:03}"), status, i)).await.unwrap();
    }
    store.create_training_job(&job("other-1", "Completed", 500)).await.unwrap();
    let page = |status, name, sort, descending, offset| JobPage {
        status,
        name_contains: name,
        sort,
        descending,
        offset,
        limit: 50,
    };

    let (first, total) = store.page_training_jobs(&page(None, None, JobSort::Created, true, 0)).await.unwrap();
    assert_eq!((first.len(), total), (50, 121));
    assert_eq!(first[0].name, "churn-000", "newest first");
    let (last, _) = store.page_training_jobs(&page(None, None, JobSort::Created, true, 100)).await.unwrap();
    assert_eq!(last.len(), 21);
    assert_eq!(last.last().unwrap().name, "other-1");

    let (failed, total) =
        store.page_training_jobs(&page(Some("Failed"), Some("churn-"), JobSort::Name, false, 0)).await.unwrap();
    assert_eq!(total, 40);
    assert!(failed.iter().all(|j| j.status == "Failed"));
    assert_eq!(failed[0].name, "churn-000");
    assert!(failed.windows(2).all(|w| w[0].name < w[1].name), "sorted by name");

    // A part of the name is matched literally: LIKE's wildcards mean nothing here.
    let (none, total) = store.page_training_jobs(&page(None, Some("%"), JobSort::Name, false, 0)).await.unwrap();
    assert_eq!((none.len(), total), (0, 0));
}
}
