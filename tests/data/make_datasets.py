#!/usr/bin/env python3
"""Writes scikit-learn's bundled data sets as CSV for the built-in algorithm tests.

Usage: make_datasets.py OUT_DIR

For each of breast_cancer (binary), iris (multiclass) and diabetes (regression) it writes
    OUT_DIR/<name>/train/train.csv   label first, no header (SageMaker's convention)
    OUT_DIR/<name>/test/test.csv
and a headered variant with the label as the last column, named "target":
    OUT_DIR/<name>_header/train/train.csv
    OUT_DIR/<name>_header/test/test.csv
The split is fixed (train_test_split, test_size=0.25, random_state=0, stratified for
classifiers). No download is needed: the three data sets ship with scikit-learn.
"""

import os
import sys

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.model_selection import train_test_split

DATASETS = {
    "breast_cancer": (load_breast_cancer, True),
    "iris": (load_iris, True),
    "diabetes": (load_diabetes, False),
}


def write(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        if header is not None:
            f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(repr(float(v)) if isinstance(v, float) else str(v) for v in row) + "\n")


def main(out):
    for name, (loader, classification) in DATASETS.items():
        bunch = loader()
        x, y = bunch.data.astype(np.float64), bunch.target
        y = y.astype(np.int64) if classification else y.astype(np.float64)
        split = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y if classification else None)
        names = [n.replace(" ", "_") for n in bunch.feature_names]
        for part, xs, ys in (("train", split[0], split[2]), ("test", split[1], split[3])):
            label_first = [[ys[i].item()] + [v.item() for v in xs[i]] for i in range(len(ys))]
            write(os.path.join(out, name, part, f"{part}.csv"), None, label_first)
            label_last = [[v.item() for v in xs[i]] + [ys[i].item()] for i in range(len(ys))]
            write(os.path.join(out, f"{name}_header", part, f"{part}.csv"), names + ["target"], label_last)
    print(f"wrote {len(DATASETS)} data sets to {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
