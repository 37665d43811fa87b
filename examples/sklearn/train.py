"""Train a scikit-learn logistic regression under SageMaker's training contract and export
it as ONNX for trainyard's runtime.

Reads CSV files (label in the first column, no header) from SM_CHANNEL_TRAIN, the
hyperparameters from SM_HPS, and writes model.onnx and model.json into SM_MODEL_DIR.
"""

import glob
import json
import os

import numpy as np
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression


def load(channel):
    directory = os.environ[f"SM_CHANNEL_{channel.upper()}"]
    files = sorted(glob.glob(os.path.join(directory, "*.csv")))
    data = np.vstack([np.loadtxt(path, delimiter=",", ndmin=2) for path in files])
    return data[:, 1:].astype(np.float32), data[:, 0].astype(np.int64)


def main():
    hyperparameters = json.loads(os.environ.get("SM_HPS", "{}"))
    features, labels = load("train")
    model = LogisticRegression(C=float(hyperparameters.get("C", 1.0)), max_iter=500)
    model.fit(features, labels)
    print(f"train:accuracy={model.score(features, labels):.4f}", flush=True)

    onnx_model = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, features.shape[1]]))],
        options={id(model): {"zipmap": False}},
    )
    out = os.environ["SM_MODEL_DIR"]
    with open(os.path.join(out, "model.onnx"), "wb") as f:
        f.write(onnx_model.SerializeToString())
    metadata = {
        "problem_type": "binary_classification",
        "input_name": "input",
        "feature_count": int(features.shape[1]),
        "class_labels": [int(c) for c in model.classes_],
        "producer": "scikit-learn " + __import__("sklearn").__version__,
    }
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(metadata, f, indent=2)


if __name__ == "__main__":
    main()
