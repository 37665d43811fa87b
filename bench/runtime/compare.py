#!/usr/bin/env python3
"""Latency benchmark: onnxruntime (Python) versus trainyard's ONNX runtime.

Trains four binary classifiers on a fixed synthetic data set (make_classification,
20000 x 20, seed 0), exports them to ONNX (skl2onnx, zipmap=False), writes

  WORKDIR/NAME/model.onnx   for NAME in random_forest, gradient_boosting, logreg, mlp
  WORKDIR/input.csv         1000 held-out rows, 20 features, no header; each value is
                            repr(float(np.float32(v))) so that parsing gives the exact float32

and measures, for each model, in microseconds:
  - single-row latency: one 1x20 float32 array per call, median and p99 over >= 2000 calls
    (after warm-up), cycling through the 1000 rows;
  - batch latency: the 1000-row batch, median and p99 over >= 50 calls.
onnxruntime runs as a Python InferenceSession with default options (so the timing includes
the Python call overhead, a few microseconds).

With --trainyard BIN it also runs, per model,
  BIN runtime bench --model WORKDIR/NAME/model.onnx --input WORKDIR/input.csv --json
and reads its stdout JSON
  {"single_row_us": {"median": f, "p99": f}, "batch_rows": 1000, "batch_us": {"median": f, "p99": f}}
(a failure is printed and the benchmark goes on). It prints a markdown table and, with
--out FILE, saves everything as JSON.

Trained models are reused when WORKDIR already holds them (same data set and parameters):
training the 300-tree gradient boosting takes about a minute on 2 cores.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")

SEED = 0
N_SAMPLES = 20000
N_FEATURES = 20
BATCH_ROWS = 1000
INPUT = "input"


def make_models():
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "random_forest": RandomForestClassifier(n_estimators=100, max_depth=10, random_state=SEED, n_jobs=2),
        "gradient_boosting": GradientBoostingClassifier(n_estimators=300, max_depth=6, random_state=SEED),
        "logreg": LogisticRegression(max_iter=1000),
        "mlp": make_pipeline(StandardScaler(),
                             MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=60, random_state=SEED)),
    }


def dataset():
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=10,
                               n_redundant=4, n_classes=2, random_state=SEED)
    X = X.astype(np.float32)
    return train_test_split(X, y, test_size=BATCH_ROWS, random_state=SEED)


def export(model):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.pipeline import Pipeline

    est = model.steps[-1][1] if isinstance(model, Pipeline) else model
    return convert_sklearn(model, initial_types=[(INPUT, FloatTensorType([None, N_FEATURES]))],
                           options={id(est): {"zipmap": False}})


def fmt(v):
    v = np.float32(v)
    return "NaN" if np.isnan(v) else repr(float(v))


def prepare(workdir, names, retrain):
    """Train + export (or reuse) the models; write input.csv. Returns (X_batch, y_batch)."""
    Xtr, Xte, ytr, yte = dataset()
    with open(os.path.join(workdir, "input.csv"), "w") as f:
        for row in Xte:
            f.write(",".join(fmt(v) for v in row) + "\n")
    stamp = {"seed": SEED, "n_samples": N_SAMPLES, "n_features": N_FEATURES}
    for name, model in make_models().items():
        if name not in names:
            continue
        d = os.path.join(workdir, name)
        path = os.path.join(d, "model.onnx")
        params = {**stamp, "model": repr(model)}
        stamp_path = os.path.join(d, "params.json")
        if not retrain and os.path.exists(path) and os.path.exists(stamp_path):
            with open(stamp_path) as f:
                if json.load(f) == params:
                    print(f"# {name}: reusing {path}", file=sys.stderr)
                    continue
        os.makedirs(d, exist_ok=True)
        t0 = time.time()
        model.fit(Xtr, ytr)
        t1 = time.time()
        onx = export(model)
        with open(path, "wb") as f:
            f.write(onx.SerializeToString())
        with open(stamp_path, "w") as f:
            json.dump(params, f)
        acc = float(np.mean(model.predict(Xte) == yte))
        print(f"# {name}: trained in {t1 - t0:.1f}s, exported in {time.time() - t1:.1f}s, "
              f"test accuracy {acc:.3f}", file=sys.stderr)
    return Xte, yte


def stats(samples_ns):
    us = np.asarray(samples_ns, dtype=np.float64) / 1000.0
    return {"median": float(np.median(us)), "p99": float(np.percentile(us, 99))}


def bench_ort(path, X, y, single_calls, batch_calls):
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    # Sanity: the exported model must still classify.
    labels = sess.run(None, {INPUT: X})[0]
    acc = float(np.mean(labels == y))
    rows = [np.ascontiguousarray(X[i:i + 1]) for i in range(len(X))]
    run = sess.run
    for i in range(200):
        run(None, {INPUT: rows[i % len(rows)]})
    single = []
    clock = time.perf_counter_ns
    for i in range(single_calls):
        feed = {INPUT: rows[i % len(rows)]}
        t0 = clock()
        run(None, feed)
        single.append(clock() - t0)
    for _ in range(5):
        run(None, {INPUT: X})
    batch = []
    for _ in range(batch_calls):
        t0 = clock()
        run(None, {INPUT: X})
        batch.append(clock() - t0)
    return {"single_row_us": stats(single), "batch_rows": len(X), "batch_us": stats(batch),
            "single_calls": single_calls, "batch_calls": batch_calls, "accuracy": acc}


def bench_trainyard(binary, model_path, input_path, timeout, backend="tract"):
    cmd = [binary, "runtime", "bench", "--model", model_path, "--input", input_path, "--json",
           "--backend", backend]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": f"{' '.join(cmd)}: {e}"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": f"{' '.join(cmd)}: exit {proc.returncode}: {' | '.join(tail)}"}
    # The JSON object is the whole stdout, or else its last line that parses as one.
    for text in [proc.stdout] + proc.stdout.strip().splitlines()[::-1]:
        try:
            res = json.loads(text)
        except ValueError:
            continue
        if isinstance(res, dict) and "single_row_us" in res and "batch_us" in res:
            return res
    return {"error": f"{' '.join(cmd)}: no result JSON in stdout: {proc.stdout.strip()[:300]!r}"}


def table(results):
    """Markdown table. "ort (Rust)" is onnxruntime run in-process by trainyard's optional
    `onnxruntime` backend (no Python call overhead); ratios are trainyard/onnxruntime."""
    lines = ["| model | shape | onnxruntime (Python) µs | onnxruntime (Rust, ort) µs | trainyard µs "
             "| ratio vs Python | ratio vs ort |",
             "|---|---|---:|---:|---:|---:|---:|"]

    def cell(res, key):
        if res is None:
            return None, "–"
        if "error" in res:
            return None, "error"
        value = float(res[key]["median"])
        return value, f"{value:.1f}"

    for r in results:
        for shape, key in (("1×%d" % N_FEATURES, "single_row_us"),
                           ("%d×%d" % (r["onnxruntime"]["batch_rows"], N_FEATURES), "batch_us")):
            ort_med = r["onnxruntime"][key]["median"]
            ty, ty_cell = cell(r.get("trainyard"), key)
            rust, rust_cell = cell(r.get("trainyard_ort"), key)
            ratio = f"{ty / ort_med:.2f}" if ty is not None else "–"
            ratio_rust = f"{ty / rust:.2f}" if ty is not None and rust is not None else "–"
            lines.append(f"| {r['name']} | {shape} | {ort_med:.1f} | {rust_cell} | {ty_cell} | {ratio} | {ratio_rust} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trainyard", metavar="BIN", help="trainyard binary to compare against")
    ap.add_argument("--workdir", metavar="DIR", help="where models and input.csv go (default: a temp dir)")
    ap.add_argument("--out", metavar="JSON", help="save results as JSON")
    ap.add_argument("--quick", action="store_true", help="fewer timing iterations (smoke test)")
    ap.add_argument("--retrain", action="store_true", help="retrain even if WORKDIR holds the models")
    ap.add_argument("--models", help="comma-separated subset of: " + ",".join(make_models()))
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per trainyard run (default 900)")
    args = ap.parse_args()

    names = list(make_models())
    if args.models:
        wanted = args.models.split(",")
        unknown = set(wanted) - set(names)
        if unknown:
            ap.error(f"unknown models: {', '.join(sorted(unknown))}")
        names = [n for n in names if n in wanted]
    tmp = None
    workdir = args.workdir
    if workdir is None:
        workdir = tmp = tempfile.mkdtemp(prefix="trainyard-bench-")
    os.makedirs(workdir, exist_ok=True)
    single_calls, batch_calls = (300, 10) if args.quick else (3000, 60)
    try:
        X, y = prepare(workdir, names, args.retrain)
        input_path = os.path.join(workdir, "input.csv")
        results = []
        for name in names:
            path = os.path.join(workdir, name, "model.onnx")
            res = {"name": name, "model": path, "model_bytes": os.path.getsize(path)}
            res["onnxruntime"] = bench_ort(path, X, y, single_calls, batch_calls)
            o = res["onnxruntime"]
            print(f"# {name}: onnxruntime single {o['single_row_us']['median']:.1f} µs "
                  f"(p99 {o['single_row_us']['p99']:.1f}), batch {o['batch_us']['median']:.1f} µs "
                  f"(p99 {o['batch_us']['p99']:.1f}), accuracy {o['accuracy']:.3f}", file=sys.stderr, flush=True)
            if args.trainyard:
                res["trainyard"] = bench_trainyard(args.trainyard, path, input_path, args.timeout)
                if os.environ.get("ORT_DYLIB_PATH"):
                    res["trainyard_ort"] = bench_trainyard(args.trainyard, path, input_path, args.timeout,
                                                           backend="onnxruntime")
                if "error" in res["trainyard"]:
                    print(f"# {name}: trainyard failed: {res['trainyard']['error']}", file=sys.stderr, flush=True)
            results.append(res)
        print(table(results))
        if args.out:
            import onnxruntime
            import sklearn

            doc = {
                "environment": {"python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
                                "scikit-learn": sklearn.__version__, "cpus": os.cpu_count(),
                                "machine": platform.machine(), "quick": args.quick},
                "data": {"generator": "make_classification", "n_samples": N_SAMPLES,
                         "n_features": N_FEATURES, "seed": SEED, "batch_rows": len(X)},
                "workdir": None if tmp else workdir,
                "results": results,
            }
            with open(args.out, "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
