"""A user's SageMaker script-mode training script for the scikit-learn framework (SKLearn
estimator, framework_version 1.2-1), as it would run on AWS.

Data: every CSV file in the `train` channel (SM_CHANNEL_TRAIN), no header, the label in the
FIRST column (SageMaker's convention for CSV, as the built-in algorithms read it), the
features after it. Hyperparameters arrive as command-line arguments (--C, --max-iter).

Output, into SM_MODEL_DIR (packed by the platform into model.tar.gz):
* model.onnx: the fitted pipeline converted by skl2onnx with a [None, F] float input and no
  ZipMap, so the output is the label and the class probabilities. This is what trainyard
  serves (it never unpickles a model).
* model.joblib: the same pipeline pickled, for AWS's scikit-learn serving container, which
  loads it through `model_fn` below. trainyard does not load it.

`fit_model` is importable, so a test can fit the same model locally and compare."""
import argparse
import glob
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def read_channel(directory):
    """The rows of every CSV file under a channel directory: (features, labels)."""
    files = sorted(glob.glob(os.path.join(directory, "**", "*.csv"), recursive=True))
    if not files:
        raise SystemExit(f"no CSV files in {directory}")
    data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    return data[:, 1:].astype(np.float32), data[:, 0].astype(np.int64)


def fit_model(features, labels, C=1.0, max_iter=200):
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    return model.fit(features, labels)


def to_onnx(model, n_features):
    from skl2onnx import to_onnx as convert
    from skl2onnx.common.data_types import FloatTensorType

    return convert(model, initial_types=[("input", FloatTensorType([None, n_features]))],
                   options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})


def model_fn(model_dir):
    """What AWS's scikit-learn serving container calls to load the model (not trainyard)."""
    import joblib

    return joblib.load(os.path.join(model_dir, "model.joblib"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN", "train"))
    args, _ = parser.parse_known_args()

    features, labels = read_channel(args.train)
    model = fit_model(features, labels, C=args.C, max_iter=args.max_iter)
    print(f"trained on {len(labels)} rows, {features.shape[1]} features; "
          f"train accuracy {model.score(features, labels):.4f}", flush=True)
    os.makedirs(args.model_dir, exist_ok=True)
    with open(os.path.join(args.model_dir, "model.onnx"), "wb") as f:
        f.write(to_onnx(model, features.shape[1]).SerializeToString())
    import joblib

    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    print(f"wrote model.onnx and model.joblib to {args.model_dir}", flush=True)
