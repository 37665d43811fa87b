//! Script mode with Python: a scikit-learn model exported with skl2onnx, and a
//! requirements.txt installed into a cached virtual environment.

use crate::harness::{python, script_job, transitions, Harness};

const TRAIN_PY: &str = r#"
import argparse, os, glob
import numpy as np
from sklearn.linear_model import LogisticRegression
from skl2onnx import to_onnx

parser = argparse.ArgumentParser()
parser.add_argument("--C", type=float, default=1.0)
parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
args = parser.parse_args()

data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in sorted(glob.glob(os.path.join(args.train, "*.csv")))])
y, X = data[:, 0], data[:, 1:].astype(np.float32)
model = LogisticRegression(C=args.C, max_iter=1000).fit(X, y)
print(f"train:accuracy={model.score(X, y):.4f}")
with open(os.path.join(args.model_dir, "model.onnx"), "wb") as f:
    f.write(to_onnx(model, X[:1], options={id(model): {"zipmap": False}}).SerializeToString())
"#;

fn have_sklearn() -> bool {
    let ok = std::process::Command::new(python())
        .args(["-c", "import sklearn, skl2onnx"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        // CI sets TRAINYARD_PYTHON to a virtual environment that has them (.ci/run).
        eprintln!("skipping: {} lacks scikit-learn or skl2onnx", python());
    }
    ok
}

#[tokio::test]
async fn a_scikit_learn_script_trains_and_exports_onnx() {
    if !have_sklearn() {
        return;
    }
    let h = Harness::start(1).await;
    let rows: String =
        (0..200).map(|i| format!("{},{},{}\n", i % 2, (i % 2) as f32 + (i % 7) as f32 * 0.1, (i % 5) as f32)).collect();
    h.put("train/data.csv", rows.as_bytes()).await;
    h.put_source("code/sk.tar.gz", &[("train.py", TRAIN_PY)]).await;
    let mut request = script_job("sklearn-1", "code/sk.tar.gz", "train.py", &[("C", "0.5")]);
    request["AlgorithmSpecification"]["MetricDefinitions"] =
        serde_json::json!([{"Name": "train:accuracy", "Regex": "train:accuracy=([0-9.]+)"}]);
    h.create(request).await.unwrap();
    let job = h.wait_for("sklearn-1", &["Completed", "Failed", "Stopped"]).await;
    assert_eq!(job["TrainingJobStatus"], "Completed", "{job:#}\n{}", h.jobs.logs("sklearn-1", 0).await.unwrap().text);
    let accuracy = job["FinalMetricDataList"][0]["Value"].as_f64().unwrap();
    assert!(accuracy > 0.9, "{accuracy}");
    assert!(h.dir.path().join("jobs/sklearn-1/model/model.onnx").exists());
}

#[tokio::test]
async fn requirements_install_into_a_cached_virtual_environment() {
    let h = Harness::start(1).await;
    h.put("train/data.csv", b"1\n").await;
    // `pip` is always satisfied, so no download is needed; the environment is still built.
    let script = "import sys, os\nprint('python', sys.prefix)\nopen(os.path.join(os.environ['SM_MODEL_DIR'], 'prefix.txt'), 'w').write(sys.prefix)\n";
    h.put_source("code/req.tar.gz", &[("train.py", script), ("requirements.txt", "pip\n")]).await;
    h.create(script_job("req-1", "code/req.tar.gz", "train.py", &[])).await.unwrap();
    let job = h.wait_for("req-1", &["Completed", "Failed", "Stopped"]).await;
    assert_eq!(job["TrainingJobStatus"], "Completed", "{job:#}\n{}", h.jobs.logs("req-1", 0).await.unwrap().text);
    let prefix = std::fs::read_to_string(h.dir.path().join("jobs/req-1/model/prefix.txt")).unwrap();
    assert!(prefix.starts_with(h.dir.path().join("venvs").to_str().unwrap()), "ran in the job's environment: {prefix}");
    let venvs: Vec<_> = std::fs::read_dir(h.dir.path().join("venvs")).unwrap().collect();
    assert_eq!(venvs.len(), 1);
    h.create(script_job("req-2", "code/req.tar.gz", "train.py", &[])).await.unwrap();
    let job = h.wait_for("req-2", &["Completed", "Failed", "Stopped"]).await;
    assert_eq!(transitions(&job).last().unwrap(), "Completed");
    let log = h.jobs.logs("req-2", 0).await.unwrap().text;
    assert!(!log.contains("Requirement already satisfied"), "the cached environment is reused: {log}");
}
