"""Evaluate a model under trainyard's script-evaluation contract (a processing job).

Inputs (each a directory, from the environment as SageMaker processing names them):
SM_CHANNEL_MODEL holds the candidate's model.tar.gz, SM_CHANNEL_TEST the test CSV files
(label in the first column, no header) and, when the model group has a champion,
SM_CHANNEL_CHAMPION holds the champion's model.tar.gz. The script writes the model-quality
report (SageMaker's layout) to evaluation.json in SM_PROCESSING_OUTPUT_EVALUATION and, given
a champion, the champion's report on the same data to champion-evaluation.json. The
registry decides the gate from these reports.
"""

import glob
import json
import os
import tarfile
import tempfile

import numpy as np
import onnxruntime
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score


def load_test():
    files = sorted(glob.glob(os.path.join(os.environ["SM_CHANNEL_TEST"], "*.csv")))
    data = np.vstack([np.loadtxt(path, delimiter=",", ndmin=2) for path in files])
    return data[:, 1:].astype(np.float32), data[:, 0].astype(np.int64)


def load_model(channel):
    archive = glob.glob(os.path.join(channel, "*.tar.gz"))[0]
    directory = tempfile.mkdtemp()
    with tarfile.open(archive) as tar:
        tar.extractall(directory, filter="data")
    return onnxruntime.InferenceSession(os.path.join(directory, "model.onnx"))


def report(session, features, labels):
    outputs = session.run(None, {session.get_inputs()[0].name: features})
    predicted = np.asarray(outputs[0]).reshape(-1)
    probabilities = np.asarray(outputs[1])[:, 1]
    metric = lambda value: {"value": float(value), "standard_deviation": 0.0}
    return {
        "binary_classification_metrics": {
            "accuracy": metric(accuracy_score(labels, predicted)),
            "f1": metric(f1_score(labels, predicted)),
            "auc": metric(roc_auc_score(labels, probabilities)),
        }
    }


def write(name, value):
    path = os.path.join(os.environ["SM_PROCESSING_OUTPUT_EVALUATION"], name)
    with open(path, "w") as f:
        json.dump(value, f, indent=2)


def main():
    features, labels = load_test()
    write("evaluation.json", report(load_model(os.environ["SM_CHANNEL_MODEL"]), features, labels))
    champion = os.environ.get("SM_CHANNEL_CHAMPION")
    if champion:
        write("champion-evaluation.json", report(load_model(champion), features, labels))
    print("evaluated", flush=True)


if __name__ == "__main__":
    main()
