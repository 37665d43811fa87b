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

const LIMITS_PY: &str = r#"
import os
print(f"cpus={os.environ['SM_NUM_CPUS']} allowed={len(os.sched_getaffinity(0))}", flush=True)
block = bytearray(int(os.environ["SM_HP_ALLOCATE_GIB"]) << 30)
print(f"allocated {len(block) >> 30} GiB", flush=True)
"#;

#[tokio::test]
async fn an_instance_type_limits_the_jobs_memory_and_cpus() {
    let h = Harness::start(2).await;
    h.put("train/data.csv", b"1,2\n").await;
    h.put_source("code/limits.tar.gz", &[("train.py", LIMITS_PY)]).await;
    let machine = std::thread::available_parallelism().map_or(1, |n| n.get());
    let expected_cpus = machine.min(2);
    for (name, gib) in [("fits", "1"), ("too-big", "10")] {
        let mut request = script_job(name, "code/limits.tar.gz", "train.py", &[("allocate_gib", gib)]);
        request["ResourceConfig"] = serde_json::json!({"InstanceType": "ml.m5.large", "InstanceCount": 1});
        h.create(request).await.unwrap();
    }
    let fits = h.wait_for("fits", &["Completed", "Failed", "Stopped"]).await;
    let log = h.jobs.logs("fits", 0).await.unwrap().text;
    assert_eq!(fits["TrainingJobStatus"], "Completed", "{fits:#}\n{log}");
    assert!(log.contains(&format!("cpus={expected_cpus} allowed={expected_cpus}")), "{log}");
    // ml.m5.large has 8 GiB: a 10 GiB allocation fails inside the job, not on the machine.
    let too_big = h.wait_for("too-big", &["Completed", "Failed", "Stopped"]).await;
    assert_eq!(too_big["TrainingJobStatus"], "Failed", "{too_big:#}");
    assert!(too_big["FailureReason"].as_str().unwrap().contains("MemoryError"), "{too_big:#}");

    // A type this machine cannot give is refused before anything runs.
    let mut gpu = script_job("gpu", "code/limits.tar.gz", "train.py", &[("allocate_gib", "1")]);
    gpu["ResourceConfig"] = serde_json::json!({"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1});
    let refused = h.create(gpu).await.unwrap_err().to_string();
    assert!(refused.contains("ml.p3.2xlarge has 1 GPU(s)"), "{refused}");
}
