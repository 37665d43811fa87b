//! The built-in evaluator's figures agree with `sklearn.metrics` to 1e-6 on the same
//! predictions, and the gate decides on them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use trainyard_algorithms::CsvOptions;
use trainyard_models::gate::{decide, Condition};
use trainyard_models::{evaluate, EvaluationInput};
use trainyard_runtime::{Label, Model, Predictions, Task};

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("TRAINYARD_PYTHON").filter(|p| !p.is_empty());
    if p.is_none() {
        println!("skipped: TRAINYARD_PYTHON is not set");
    }
    p.map(PathBuf::from)
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Models (make_matrix.py) and labelled test channels (make_datasets.py) in a temp dir.
fn fixtures(python: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let run = |script: &str, args: &[&str]| {
        let out = Command::new(python).arg(repository().join(script)).args(args).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let models = dir.path().join("models");
    run(
        "tests/runtime/make_matrix.py",
        &[models.to_str().unwrap(), "--only", "logreg_binary,rf_cls_binary,logreg_multi,gb_reg"],
    );
    run("tests/data/make_datasets.py", &[dir.path().join("data").to_str().unwrap()]);
    dir
}

const SKLEARN: &str = r#"
import json, sys
import numpy as np
from sklearn import metrics as m
d = json.load(open(sys.argv[1]))
y, yp = np.array(d["actual"]), np.array(d["predicted"])
out = {}
if d["kind"] == "regression":
    out = {"mse": m.mean_squared_error(y, yp), "rmse": float(np.sqrt(m.mean_squared_error(y, yp))),
           "mae": m.mean_absolute_error(y, yp), "r2": m.r2_score(y, yp)}
else:
    # float32 outputs can exceed 1 by an ulp; scikit-learn 1.9 refuses that.
    P = np.clip(np.array(d["probabilities"]), 0.0, 1.0)
    labels = list(range(P.shape[1]))
    out["accuracy"] = m.accuracy_score(y, yp)
    out["logloss"] = m.log_loss(y, P, labels=labels)
    if d["kind"] == "binary":
        out["precision"] = m.precision_score(y, yp, zero_division=0)
        out["recall"] = m.recall_score(y, yp, zero_division=0)
        out["f1"] = m.f1_score(y, yp, zero_division=0)
        out["auc"] = m.roc_auc_score(y, P[:, 1])
        tn, fp, fn, tp = m.confusion_matrix(y, yp, labels=labels).ravel()
        out["false_positive_rate"] = fp / (fp + tn)
        out["true_negative_rate"] = tn / (tn + fp)
    else:
        for name in ["precision", "recall", "f1"]:
            out["weighted_" + name] = getattr(m, name + "_score")(y, yp, average="weighted", zero_division=0)
print(json.dumps({k: float(v) for k, v in out.items()}))
"#;

fn sklearn_metrics(python: &Path, dir: &Path, document: &Value) -> Value {
    let input = dir.join("predictions.json");
    std::fs::write(&input, document.to_string()).unwrap();
    let out = Command::new(python).arg("-c").arg(SKLEARN).arg(&input).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn reports_agree_with_sklearn_metrics() {
    let Some(python) = python() else { return };
    let root = fixtures(&python);
    for (model, data) in [
        ("logreg_binary", "breast_cancer"),
        ("rf_cls_binary", "breast_cancer"),
        ("logreg_multi", "iris"),
        ("gb_reg", "diabetes"),
    ] {
        let model_path = root.path().join("models").join(model).join("model.onnx");
        let test = root.path().join("data").join(data).join("test");
        let report =
            evaluate(&EvaluationInput { model: &model_path, test: &test, csv: CsvOptions::default() }).unwrap();

        // The same predictions, handed to scikit-learn.
        let runtime = Model::load(&model_path).unwrap();
        let dataset = trainyard_algorithms::Dataset::load_channel(
            "test",
            &test,
            &CsvOptions::default(),
            &trainyard_algorithms::LabelRule::Any,
        )
        .unwrap();
        let predictions = runtime.predict(&dataset.features, dataset.n_rows).unwrap();
        let document = match (runtime.task(), predictions) {
            (Task::Classification { classes, .. }, Predictions::Classification { labels, probabilities, .. }) => {
                let index = |l: &Label| classes.iter().position(|c| c == l).unwrap();
                let truth: Vec<usize> = dataset.labels.iter().map(|&v| index(&Label::Int(v as i64))).collect();
                json!({
                    "kind": if classes.len() == 2 { "binary" } else { "multiclass" },
                    "actual": truth,
                    "predicted": labels.iter().map(index).collect::<Vec<_>>(),
                    "probabilities": probabilities.unwrap().chunks(classes.len()).map(|r| r.iter().map(|&p| p as f64).collect::<Vec<_>>()).collect::<Vec<_>>(),
                })
            }
            (_, Predictions::Regression { values, .. }) => json!({
                "kind": "regression",
                "actual": dataset.labels,
                "predicted": values.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            }),
            other => panic!("{model}: {other:?}"),
        };
        let expected = sklearn_metrics(&python, root.path(), &document);
        for (name, want) in expected.as_object().unwrap() {
            let want = want.as_f64().unwrap();
            let got =
                report.metric(name).unwrap_or_else(|| panic!("{model}: no {name} in {:?}", report.metric_names()));
            assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "{model} {name}: ours {got}, sklearn {want}");
        }
        // Every metric carries a bootstrap standard deviation.
        let section = report.0.as_object().unwrap().values().next().unwrap();
        assert!(section
            .as_object()
            .unwrap()
            .values()
            .filter(|v| v.get("value").is_some())
            .all(|v| v["standard_deviation"].as_f64().is_some()));
    }
}

#[test]
fn the_gate_compares_a_candidate_with_the_champion_on_the_same_data() {
    let Some(python) = python() else { return };
    let root = fixtures(&python);
    let test = root.path().join("data/breast_cancer/test");
    let report = |model: &str| {
        let path = root.path().join("models").join(model).join("model.onnx");
        evaluate(&EvaluationInput { model: &path, test: &test, csv: CsvOptions::default() }).unwrap()
    };
    let (logistic, forest) = (report("logreg_binary"), report("rf_cls_binary"));
    let conditions =
        [Condition::parse("auc >= 0.9").unwrap(), Condition::parse("auc >= champion.auc - 0.005").unwrap()];
    let (better, worse) =
        if logistic.metric("auc") >= forest.metric("auc") { (&logistic, &forest) } else { (&forest, &logistic) };
    let promoted = decide(&conditions, better, Some(("1", worse))).unwrap();
    assert!(promoted.passed, "{promoted:?}");
    let gap = better.metric("auc").unwrap() - worse.metric("auc").unwrap();
    let demoted = decide(&conditions, worse, Some(("1", better))).unwrap();
    assert_eq!(demoted.passed, gap <= 0.005, "{demoted:?}");
    let strict = decide(&[Condition::parse("auc > champion.auc").unwrap()], worse, Some(("1", worse))).unwrap();
    assert!(!strict.passed, "a candidate equal to the champion does not beat it: {strict:?}");
}
