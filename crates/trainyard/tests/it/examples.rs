//! The examples run as the README says: the scikit-learn example's script trains in an
//! image built from its directory (its requirements.txt in a virtual environment), and the
//! pipeline evaluates, registers and serves it. Needs `TRAINYARD_PYTHON` with scikit-learn
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
    run(&data, &["apply", "-f", example.join("trainyard.yaml").to_str().unwrap()]);
    run(&data, &["pipelines", "start", "sklearn-churn"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let finished = loop {
        let runs: Value =
            serde_json::from_str(&run(&data, &["pipelines", "runs", "sklearn-churn", "-o", "json"])).unwrap();
        let status = runs["Runs"][0]["Status"].as_str().unwrap_or_default().to_string();
        if status == "Succeeded" || status == "Failed" {
            break runs["Runs"][0].clone();
        }
        assert!(std::time::Instant::now() < deadline, "the example did not finish: {runs:#}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let id = finished["RunId"].as_str().unwrap();
    let described = run(&data, &["pipelines", "run-describe", id, "-o", "json"]);
    assert_eq!(finished["Status"], "Succeeded", "{described}");
    assert!(described.contains("train:accuracy"), "the script's metric was read: {described}");
    let prediction =
        run(&data, &["endpoints", "invoke", "sklearn-churn", "--body", "1.5,-1.0,0.5", "--content-type", "text/csv"]);
    assert!(prediction.contains("predictions"), "{prediction}");
}
