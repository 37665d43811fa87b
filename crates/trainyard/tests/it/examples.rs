//! The examples run as the README says: the scikit-learn example's script trains in an
//! image built from its directory (its requirements.txt in a virtual environment), its
//! evaluation script measures it (and the champion), and the pipeline registers and serves
//! it. Needs `TRAINYARD_PYTHON` with scikit-learn
//! and skl2onnx (`.ci/run` sets it up).

use serde_json::Value;

use crate::jobs::run;
use crate::process::{cli, stderr, ServerProcess};

#[test]
fn the_scikit_learn_example_trains_registers_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = ServerProcess::start(&data);
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/sklearn");
    let built = cli(
        &data,
        &[
            "build",
            example.to_str().unwrap(),
            "--repo",
            "sklearn-churn",
            "--tag",
            "v1",
            "--push",
            "--entrypoint",
            "python3 train.py",
        ],
    );
    assert!(built.status.success(), "{}", stderr(&built));
    for (name, rows, seed) in [("train", 400, 1), ("test", 200, 3)] {
        let folder = dir.path().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        crate::jobs::write_csv(&folder.join("part-0.csv"), rows, seed, 1.5);
    }
    run(&data, &["data", "mb", "s3://ml-data"]);
    for name in ["train", "test"] {
        run(
            &data,
            &["data", "put", dir.path().join(name).to_str().unwrap(), &format!("s3://ml-data/sklearn-churn/{name}/")],
        );
    }
    let script = example.join("evaluate.py");
    run(&data, &["data", "put", script.to_str().unwrap(), "s3://ml-data/sklearn-churn/code/"]);
    run(&data, &["apply", "-f", example.join("trainyard.yaml").to_str().unwrap()]);
    for (count, version) in [(1, 1), (2, 2)] {
        run(&data, &["pipelines", "start", "sklearn-churn"]);
        let finished = wait_for_runs(&data, count);
        let id = finished["RunId"].as_str().unwrap();
        let described = run(&data, &["pipelines", "run-describe", id, "-o", "json"]);
        assert_eq!(finished["Status"], "Succeeded", "{described}");
        assert!(described.contains("train:accuracy"), "the script's metric was read: {described}");
        let version: Value = serde_json::from_str(&run(
            &data,
            &["models", "describe", &format!("sklearn-churn/{version}"), "-o", "json"],
        ))
        .unwrap();
        let decision = &version["GateDecision"];
        assert_eq!(decision["passed"], true, "{version:#}");
        assert_eq!(decision["conditions"].as_array().unwrap().len(), 2, "{decision:#}");
        // The second run's script measured the champion (version 1) on the same data.
        let champion = decision["conditions"][1]["right"].as_f64();
        match count {
            1 => assert_eq!(champion, None, "no champion yet: {decision:#}"),
            _ => {
                assert_eq!(decision["champion"], "1", "{decision:#}");
                assert!(champion.is_some_and(|auc| auc > 0.5), "{decision:#}");
            }
        }
    }
    let prediction =
        run(&data, &["endpoints", "invoke", "sklearn-churn", "--body", "1.5,-1.0,0.5", "--content-type", "text/csv"]);
    assert!(prediction.contains("predictions"), "{prediction}");
}

/// The newest run once `count` runs exist and it has ended.
fn wait_for_runs(data: &std::path::Path, count: usize) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let runs: Value =
            serde_json::from_str(&run(data, &["pipelines", "runs", "sklearn-churn", "-o", "json"])).unwrap();
        let status = runs["Runs"][0]["Status"].as_str().unwrap_or_default().to_string();
        if runs["Runs"].as_array().unwrap().len() == count && (status == "Succeeded" || status == "Failed") {
            return runs["Runs"][0].clone();
        }
        assert!(std::time::Instant::now() < deadline, "the example did not finish: {runs:#}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
