#!/usr/bin/env python3
"""Benchmarks trainyard's built-in algorithms against LightGBM and scikit-learn.

Usage (from a venv with numpy, scikit-learn, lightgbm, onnxruntime, threadpoolctl):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/algorithms/compare.py BINARY [options]

BINARY runs an algorithm under the SageMaker contract: `trainyard algorithm` or, until the
CLI has it, the crate's example (`cargo build --release -p trainyard-algorithms --example
run_algorithm` -> target/release/examples/run_algorithm). If BINARY's name ends in
"trainyard", the word "algorithm" is put before the algorithm name.

It generates a deterministic synthetic binary classification set (sklearn
make_classification, seed 42, 28 features), writes CSV (label first, no header), then
times in one run:
  * gbdt (ours) vs LightGBM vs sklearn HistGradientBoostingClassifier: 100 trees,
    max_depth 6, learning rate 0.1, 255 bins, 2 threads;
  * linear-learner (ours) vs sklearn LogisticRegression (lbfgs) on a row subset.
Python libraries are timed on fit only (data already in memory); ours reports total wall
time and, from its `#timing` line, the training time without CSV parsing. Test AUC of our
models is computed with onnxruntime on the exported model.onnx.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def make_data(rows, test_rows, seed):
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=rows + test_rows,
        n_features=28,
        n_informative=12,
        n_redundant=8,
        n_clusters_per_class=4,
        flip_y=0.05,
        class_sep=0.8,
        random_state=seed,
    )
    x = x.astype(np.float32)
    return x[:rows], y[:rows], x[rows:], y[rows:]


def write_csv(path, x, y):
    """Label first, no header; floats as the shortest text that round-trips float32."""
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for start in range(0, len(y), 50_000):
            block = np.column_stack([y[start : start + 50_000].astype(np.float32), x[start : start + 50_000]])
            np.savetxt(f, block, fmt="%.9g", delimiter=",")
    os.replace(tmp, path)


def run_ours(binary, algorithm, train_dir, hps, work):
    model_dir = os.path.join(work, algorithm, "model")
    env = dict(os.environ)
    env.update(
        SM_CHANNEL_TRAIN=train_dir,
        SM_MODEL_DIR=model_dir,
        SM_OUTPUT_DATA_DIR=os.path.join(work, algorithm, "output/data"),
        SM_OUTPUT_DIR=os.path.join(work, algorithm, "output"),
        SM_HPS=json.dumps({k: str(v) for k, v in hps.items()}),
    )
    env.pop("SM_CHANNEL_VALIDATION", None)
    cmd = [binary, "algorithm", algorithm] if os.path.basename(binary) == "trainyard" else [binary, algorithm]
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    total = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{algorithm} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    timing = re.search(r"#timing load_seconds=([\d.]+) train_seconds=([\d.]+)", out.stdout)
    if not timing:
        sys.exit(f"no #timing line in the output of {algorithm}")
    return total, float(timing.group(1)), float(timing.group(2)), os.path.join(model_dir, "model.onnx")


def onnx_auc(model_path, x, y):
    import onnxruntime as ort
    from sklearn.metrics import roc_auc_score

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    sess = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    probabilities = sess.run(["probabilities"], {"input": x})[0]
    return roc_auc_score(y, probabilities[:, 1])


def busy_cpu_seconds():
    """CPU seconds the whole machine has spent busy (all processes), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return 0.0
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Load:
    """Measures the share of the machine's CPUs that other processes used during a block:
    this machine is shared, and OpenMP-based libraries slow down sharply when a core is taken."""

    def __enter__(self):
        self.start = (time.perf_counter(), busy_cpu_seconds(), own_cpu_seconds())
        return self

    def __exit__(self, *exc):
        wall, busy, own = (time.perf_counter() - self.start[0], busy_cpu_seconds() - self.start[1],
                           own_cpu_seconds() - self.start[2])
        self.other = max(0.0, busy - own) / max(wall * (os.cpu_count() or 1), 1e-9)


def wait_for_quiet(limit_seconds):
    """Waits (up to a limit) until other processes use under 10% of the CPUs for two seconds."""
    deadline = time.perf_counter() + limit_seconds
    quiet = 0
    while time.perf_counter() < deadline and quiet < 2:
        with Load() as load:
            time.sleep(1.0)
        quiet = quiet + 1 if load.other < 0.10 else 0
    if quiet < 2:
        log("machine still busy; measuring anyway")


def timed_fit(fit):
    start = time.perf_counter()
    model = fit()
    return model, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--test-rows", type=int, default=200_000)
    parser.add_argument("--linear-rows", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet-wait", type=float, default=120.0,
                        help="seconds to wait, before each timed run, for other processes to go idle")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "trainyard-bench-algorithms"))
    args = parser.parse_args()
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            log(f"warning: {var} is set; run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`")

    from threadpoolctl import threadpool_info, threadpool_limits

    import lightgbm as lgb
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    t = args.threads
    log(f"generating {args.rows} + {args.test_rows} rows x 28 features (seed {args.seed})")
    x, y, xt, yt = make_data(args.rows, args.test_rows, args.seed)
    data_dir = os.path.join(args.work, f"data-{args.rows}-{args.seed}")
    log(f"writing CSV under {data_dir}")
    write_csv(os.path.join(data_dir, "train", "train.csv"), x, y)
    n_lin = min(args.linear_rows, args.rows)
    write_csv(os.path.join(data_dir, f"train-{n_lin}", "train.csv"), x[:n_lin], y[:n_lin])
    runs = os.path.join(args.work, "runs")

    # name -> (train rows, [fit seconds], [total seconds], [other processes' CPU share], test AUC of the last run)
    results = {}

    def record(name, n, fit, auc, other, total=None):
        entry = results.setdefault(name, (n, [], [], [], None))
        entry[1].append(fit)
        entry[3].append(other)
        if total is not None:
            entry[2].append(total)
        results[name] = entry[:4] + (auc,)

    gbdt_hps = dict(objective="binary:logistic", num_round=100, max_depth=6, eta=0.1, max_bin=255, nthread=t)
    with threadpool_limits(limits=t):
        # Interleaved repetitions, so that a slow spell of a shared machine hits all alike.
        for rep in range(args.repeat):
            log(f"repetition {rep + 1}/{args.repeat}: trainyard gbdt")
            wait_for_quiet(args.quiet_wait)
            with Load() as load:
                total, _, fit, model = run_ours(args.binary, "gbdt", os.path.join(data_dir, "train"), gbdt_hps, runs)
            record("trainyard gbdt", args.rows, fit, onnx_auc(model, xt, yt), load.other, total)

            for leaves in (31, 64):
                log(f"repetition {rep + 1}/{args.repeat}: LightGBM num_leaves={leaves}")
                params = dict(objective="binary", max_depth=6, num_leaves=leaves, learning_rate=0.1, num_threads=t,
                              max_bin=255, verbose=-1, seed=args.seed)
                wait_for_quiet(args.quiet_wait)
                with Load() as load:
                    booster, fit = timed_fit(lambda: lgb.train(params, lgb.Dataset(x, y), num_boost_round=100))
                name = "LightGBM" + (" (num_leaves=64)" if leaves == 64 else "")
                record(name, args.rows, fit, roc_auc_score(yt, booster.predict(xt)), load.other)

            log(f"repetition {rep + 1}/{args.repeat}: sklearn HistGradientBoostingClassifier")
            hgb = HistGradientBoostingClassifier(max_iter=100, max_depth=6, learning_rate=0.1, max_bins=255,
                                                 early_stopping=False, random_state=args.seed)
            wait_for_quiet(args.quiet_wait)
            with Load() as load:
                hgb, fit = timed_fit(lambda: hgb.fit(x, y))
            record("sklearn HistGradientBoosting", args.rows, fit, roc_auc_score(yt, hgb.predict_proba(xt)[:, 1]),
                   load.other)

            log(f"repetition {rep + 1}/{args.repeat}: trainyard linear-learner")
            hps = dict(predictor_type="binary_classifier", nthread=t)
            wait_for_quiet(args.quiet_wait)
            with Load() as load:
                total, _, fit, model = run_ours(args.binary, "linear-learner",
                                                os.path.join(data_dir, f"train-{n_lin}"), hps, runs)
            record("trainyard linear-learner", n_lin, fit, onnx_auc(model, xt, yt), load.other, total)

            log(f"repetition {rep + 1}/{args.repeat}: sklearn LogisticRegression")
            wait_for_quiet(args.quiet_wait)
            with Load() as load:
                lr, fit = timed_fit(lambda: LogisticRegression(max_iter=100).fit(x[:n_lin], y[:n_lin]))
            record("sklearn LogisticRegression", n_lin, fit, roc_auc_score(yt, lr.predict_proba(xt)[:, 1]), load.other)
        blas = [(i.get("internal_api"), i.get("num_threads"), i.get("architecture")) for i in threadpool_info()]

    median = statistics.median
    lgb_fit, lgb_auc = median(results["LightGBM"][1]), results["LightGBM"][4]
    lr_fit, lr_auc = median(results["sklearn LogisticRegression"][1]), results["sklearn LogisticRegression"][4]
    print(f"Synthetic binary classification (make_classification, seed {args.seed}): {args.rows} training rows x 28 "
          f"features, {args.test_rows} test rows; {t} threads. Trees: 100 rounds, max_depth 6, learning rate 0.1, "
          f"255 bins. Times are medians of {args.repeat} interleaved runs (min-max in brackets).")
    print()
    print("| model | train rows | fit s, no CSV | total s, with CSV | test AUC | fit time vs reference "
          "| AUC - reference | other load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (n, fits, totals, others, auc) in results.items():
        linear = "linear" in name.lower() or "Logistic" in name
        ref_fit, ref_auc = (lr_fit, lr_auc) if linear else (lgb_fit, lgb_auc)
        span = lambda v: f"{median(v):.2f} [{min(v):.2f}-{max(v):.2f}]" if v else ""
        print(f"| {name} | {n} | {span(fits)} | {span(totals)} | {auc:.4f} | {median(fits) / ref_fit:.2f}x | "
              f"{auc - ref_auc:+.4f} | {100 * median(others):.0f}% |")
    print()
    print("Reference: LightGBM (max_depth 6, default num_leaves 31) for trees, sklearn LogisticRegression for "
          "linear models. Ours: fit = the `train_seconds` of its `#timing` line (binning included, CSV parsing "
          "excluded); total = wall time of the process. Test AUC of ours from onnxruntime on model.onnx. "
          "Other load: median share of the machine's CPUs used by other processes during the timed runs "
          "(the machine is shared; OpenMP libraries slow down sharply when it is not near 0%).")
    print(f"threadpools: {blas}")


if __name__ == "__main__":
    main()
