"""Serving benchmark: trainyard endpoints against the HTTP ceiling and `mlflow models serve`.

Measures requests/s and p50/p99 latency of single-row requests with wrk (-t1 -c16, a POST
Lua script) against, in the same run:
  - the ceiling: `trainyard bench ceiling`, an axum server answering every POST with a
    constant prediction;
  - trainyard endpoints serving a LogisticRegression (StandardScaler pipeline) and a
    RandomForest (100 trees) exported with skl2onnx;
  - `mlflow models serve` of the same scikit-learn LogisticRegression pipeline, with
    `{"inputs": ...}` and `dataframe_split` bodies (when --mlflow-python is given);
then p50/p99 at half of trainyard's peak rate with hey (-q).

usage: python bench/endpoints/compare.py --trainyard target/release/trainyard --workdir /tmp/be \
           [--mlflow-python /tmp/mlflow-venv/bin/python] [--duration 10]
Run it with the Python that has scikit-learn and skl2onnx (TRAINYARD_PYTHON).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request

MAKE_MODELS = r"""
import sys, pickle
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
X, y = load_breast_cancer(return_X_y=True)
lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
rf = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
out = sys.argv[1]
if sys.argv[2] == "onnx":
    from skl2onnx import to_onnx
    for name, model in [("lr", lr), ("rf", rf)]:
        onnx = to_onnx(model, X[:1].astype("float32"), options={id(model): {"zipmap": False}} if name == "rf" else {id(model.steps[-1][1]): {"zipmap": False}})
        open(f"{out}/{name}.onnx", "wb").write(onnx.SerializeToString())
else:
    import mlflow.sklearn
    mlflow.sklearn.save_model(lr, f"{out}/mlflow-lr")
print(",".join(f"{v:.6g}" for v in X[0]))
"""


def wait_http(url, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.3)
    raise SystemExit(f"{url} never answered")


def start(args, pattern, env=None):
    """Starts a server process and returns (process, url) from the line matching pattern."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    for line in process.stdout:
        match = re.search(pattern, line)
        if match:
            return process, match.group(1)
    raise SystemExit(f"{args[0]} did not start")


def wrk(url, body, content_type, token, duration, workdir):
    script = os.path.join(workdir, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write(f"wrk.body = {json.dumps(body)}\n")
        f.write(f'wrk.headers["Content-Type"] = "{content_type}"\n')
        if token:
            f.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    out = subprocess.run(["wrk", "-t1", "-c16", f"-d{duration}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    def percentile(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    return {"rps": rps, "p50_ms": percentile(50), "p99_ms": percentile(99), "errors": int(non2xx.group(1)) if non2xx else 0}


def hey(url, body, content_type, token, duration, rate, workdir):
    body_file = os.path.join(workdir, "body")
    with open(body_file, "w") as f:
        f.write(body)
    workers = 32
    out = subprocess.run(["hey", "-z", f"{duration}s", "-c", str(workers), "-q", str(max(1, int(rate / workers))),
                          "-m", "POST", "-T", content_type, "-H", f"Authorization: Bearer {token}", "-D", body_file, url],
                         capture_output=True, text=True, check=True).stdout
    def percentile(p):
        return float(re.search(rf"{p}% in ([\d.]+) secs", out).group(1)) * 1000
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rps": rps, "p50_ms": percentile(50), "p99_ms": percentile(99)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trainyard", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--mlflow-python")
    parser.add_argument("--duration", type=int, default=10)
    args = parser.parse_args()
    trainyard = os.path.abspath(args.trainyard)
    workdir = os.path.abspath(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    row = subprocess.run([sys.executable, "-c", MAKE_MODELS, workdir, "onnx"], capture_output=True, text=True,
                         check=True).stdout.strip()
    values = [float(v) for v in row.split(",")]
    processes = []
    results = {}
    try:
        data_dir = os.path.join(workdir, "data")
        server, base = start([trainyard, "server", "--listen", "127.0.0.1:0", "--aws-listen", "127.0.0.1:0", "--data-dir", data_dir],
                             r"trainyard listening on (\S+)")
        processes.append(server)
        base = base.rstrip("/")
        token = open(os.path.join(data_dir, "admin.token")).read().strip()
        cli = lambda *a: subprocess.run([trainyard, "--data-dir", data_dir, *a], check=True, capture_output=True, text=True)
        cli("data", "mb", "s3://bench")
        for name in ["lr", "rf"]:
            archive = os.path.join(workdir, f"{name}.tar.gz")
            with tarfile.open(archive, "w:gz") as tar:
                tar.add(os.path.join(workdir, f"{name}.onnx"), arcname="model.onnx")
            cli("data", "put", archive, f"s3://bench/{name}/model.tar.gz")
            cli("endpoints", "deploy", name, "--model-data", f"s3://bench/{name}/model.tar.gz", "--wait")
        ceiling, ceiling_url = start([trainyard, "bench", "ceiling"], r"ceiling listening on (\S+)")
        processes.append(ceiling)

        csv_row = row + "\n"
        results["ceiling"] = wrk(ceiling_url + "/", csv_row, "text/csv", None, args.duration, workdir)
        results["trainyard LR (csv)"] = wrk(f"{base}/endpoints/lr/invocations", csv_row, "text/csv", token, args.duration, workdir)
        results["trainyard LR (json)"] = wrk(f"{base}/endpoints/lr/invocations", json.dumps({"instances": [values]}),
                                             "application/json", token, args.duration, workdir)
        results["trainyard RF (csv)"] = wrk(f"{base}/endpoints/rf/invocations", csv_row, "text/csv", token, args.duration, workdir)
        if args.mlflow_python:
            subprocess.run([args.mlflow_python, "-c", MAKE_MODELS, workdir, "mlflow"], check=True, capture_output=True)
            env = dict(os.environ, MLFLOW_ALLOW_FILE_STORE="true",
                       PATH=os.path.dirname(args.mlflow_python) + os.pathsep + os.environ["PATH"])
            mlflow = subprocess.Popen([os.path.join(os.path.dirname(args.mlflow_python), "mlflow"), "models", "serve", "-m",
                                       os.path.join(workdir, "mlflow-lr"), "-p", "5055", "--env-manager", "local"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            processes.append(mlflow)
            wait_http("http://127.0.0.1:5055/ping")
            results["mlflow LR (inputs)"] = wrk("http://127.0.0.1:5055/invocations", json.dumps({"inputs": [values]}),
                                                "application/json", None, args.duration, workdir)
            split = {"dataframe_split": {"columns": [str(i) for i in range(len(values))], "data": [values]}}
            results["mlflow LR (dataframe_split)"] = wrk("http://127.0.0.1:5055/invocations", json.dumps(split),
                                                         "application/json", None, args.duration, workdir)
        for name, key in [("lr", "trainyard LR (csv)"), ("rf", "trainyard RF (csv)")]:
            rate = results[key]["rps"] / 2
            results[f"{key} at half peak ({rate:.0f}/s)"] = hey(f"{base}/endpoints/{name}/invocations", csv_row, "text/csv",
                                                                token, args.duration, rate, workdir)
    finally:
        for p in processes:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    ceiling_rps = results["ceiling"]["rps"]
    print("| target | requests/s | of ceiling | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['rps']:.0f} | {r['rps'] / ceiling_rps:.0%} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r.get('errors', '-')} |")
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
