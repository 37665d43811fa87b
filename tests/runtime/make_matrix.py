#!/usr/bin/env python3
"""Build the ONNX correctness matrix for trainyard's pure-Rust ONNX runtime.

Usage: make_matrix.py OUT_DIR [--only NAME[,NAME...]]

For every model NAME this writes
  OUT_DIR/NAME/model.onnx      the exported model (one float input named "input", [N, n])
  OUT_DIR/NAME/input.csv       test rows, features only, no header; every value is
                               repr(float(np.float32(v))) (NaN as "NaN"), so parsing it as
                               float32 gives exactly the float32 the model was fed
  OUT_DIR/NAME/expected.json   onnxruntime's outputs on exactly those float32 rows
and OUT_DIR/matrix.json, the list of all models ({name, family, task, producer, operators,
rows}).

expected.json holds: kind ("classifier" | "regressor"); labels (ints or strings, as ORT
returned them) and probabilities (one row per input row, columns in class-label order) for
classifiers; values for regressors (flat list, or a list of lists when multi-target);
output_names; operators ("domain:op_type", the default domain written "ai.onnx", sorted
unique); opsets; producer; note; framework_check (how ORT compared with the training
framework); and, for classifiers with 2+ probability columns:
  exact_tie_rows  rows whose two largest probabilities ORT gives as the same float32: the
                  label is its tie rule's (first class; `> 0.5` for a binary score), and a
                  runtime must answer the same;
  near_tie_rows   rows whose two largest probabilities are within 1e-5 but not equal, where
                  the label depends on the last bits of the arithmetic (ORT itself flips
                  them with its thread count), so a runtime whose arithmetic is not ORT's
                  bit for bit may differ there;
  vote_tie_rows   rows whose probabilities tie in the training framework (float64, within
                  1e-12): split votes, whatever float32 makes of them.

Models whose final estimator has no predict_proba (LinearSVC) put ORT's second output, the
decision scores, under "probabilities". Torch-style models have a single output; their
labels are the argmax of it.

Everything is trained on scikit-learn's bundled data sets (nothing is downloaded), every
seed is fixed and every trainer runs single-threaded, so the output is deterministic.
Each ORT result is also checked against the training framework's own predictions; a
conversion that disagrees grossly counts as a failed export. Exit status is non-zero if
any model fails.
"""

import argparse
import json
import os
import sys
import time
import traceback
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")  # deterministic, and no oversubscription

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore")

SEED = 0
MAX_TEST_ROWS = 150
FLOAT_IN = "input"


# --------------------------------------------------------------------------- data sets

def _split(X, y, test_size=0.3, seed=SEED):
    from sklearn.model_selection import train_test_split

    Xtr, Xte, ytr, yte = train_test_split(
        np.asarray(X, dtype=np.float64), np.asarray(y), test_size=test_size, random_state=seed
    )
    # Train on float32-representable values: the model then sees exactly what ONNX sees.
    Xtr = Xtr.astype(np.float32)
    Xte = Xte.astype(np.float32)[:MAX_TEST_ROWS]
    return Xtr, Xte, ytr, yte[:MAX_TEST_ROWS]


def data(name):
    from sklearn import datasets

    if name == "digits_odd":  # 8x8 pixels of 17 levels; binary: is the digit odd
        X, y = datasets.load_digits(return_X_y=True)
        return _split(X, y % 2, test_size=0.25)
    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "diabetes": datasets.load_diabetes,
        "digits": datasets.load_digits,
    }[name]
    X, y = loader(return_X_y=True)
    return _split(X, y, test_size=0.25 if len(X) > 300 else 0.33)


def with_nans(X, frac, cols, seed):
    """Copy of X with about `frac` of the entries of `cols` set to NaN."""
    rng = np.random.RandomState(seed)
    X = X.copy()
    for c in cols:
        X[rng.rand(X.shape[0]) < frac, c] = np.nan
    return X


# --------------------------------------------------------------------------- converters

def _patch_skl2onnx_hist_gradient_boosting():
    """Work around skl2onnx 1.20 failing on HistGradientBoosting*.

    skl2onnx's add_tree_to_attribute_pairs_hist_gradient_boosting passes the Python bool
    `missing = False` for leaf nodes as nodes_missing_value_tracks_true, and recent onnx
    (helper.make_attribute) refuses booleans in an INTS attribute ("Expected an int, got a
    boolean"). Branch nodes pass numpy uint8 (the predictor's missing_go_to_left), which is
    fine. We wrap the module-level add_node so that the flag is always a plain int; the
    semantics are unchanged (0/1, 1 = NaN goes to the true/left branch).
    """
    from skl2onnx.common import tree_ensemble

    if getattr(tree_ensemble.add_node, "_trainyard_patched", False):
        return
    original = tree_ensemble.add_node

    def add_node(*args, **kwargs):
        if "nodes_missing_value_tracks_true" in kwargs:
            kwargs["nodes_missing_value_tracks_true"] = int(kwargs["nodes_missing_value_tracks_true"])
        return original(*args, **kwargs)

    add_node._trainyard_patched = True
    tree_ensemble.add_node = add_node


def _final_estimator(model):
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


def skl(model, n_features, zipmap=False):
    """Export a scikit-learn model (or pipeline) with skl2onnx, one float input."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier

    _patch_skl2onnx_hist_gradient_boosting()
    est = _final_estimator(model)
    options = None
    if is_classifier(est) and not hasattr(est, "predict_proba"):
        # LinearSVC & co. have no ZipMap and reject a 'zipmap' option, but skl2onnx's Pipeline
        # parser injects zipmap=True for any classifier step without options: give it an
        # empty set of options so it leaves the step alone.
        options = {id(est): {}}
    elif is_classifier(est) and not zipmap:
        options = {id(est): {"zipmap": False}}
    return convert_sklearn(
        model,
        initial_types=[(FLOAT_IN, FloatTensorType([None, n_features]))],
        options=options,
    )


def xgb(model, n_features):
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    # The XGBoost converter has no ZipMap: classifiers output (label, probabilities) tensors.
    return convert_xgboost(model, initial_types=[(FLOAT_IN, FloatTensorType([None, n_features]))])


def lgbm(model, n_features):
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    kwargs = {"zipmap": False} if hasattr(model, "predict_proba") else {}
    return convert_lightgbm(
        model, initial_types=[(FLOAT_IN, FloatTensorType([None, n_features]))], **kwargs
    )


# --------------------------------------------------------------------------- model registry

MODELS = []


def model(name, family, task):
    def register(fn):
        MODELS.append((name, family, task, fn))
        return fn

    return register


def sk_case(m, Xtr, ytr, Xte, zipmap=False, note=""):
    """Fit a scikit-learn estimator and describe the case (reference from sklearn)."""
    m.fit(Xtr, ytr)
    est = _final_estimator(m)
    Xref = Xte.astype(np.float64)
    case = {"onnx": skl(m, Xte.shape[1], zipmap=zipmap), "X": Xte, "note": note}
    if hasattr(est, "classes_"):
        case["kind"] = "classifier"
        case["ref_labels"] = m.predict(Xref)
        if hasattr(m, "predict_proba"):
            case["ref_probabilities"] = m.predict_proba(Xref)
        else:
            case["ref_scores"] = m.decision_function(Xref)
    else:
        case["kind"] = "regressor"
        case["ref_values"] = m.predict(Xref)
    return case


def ext_case(m, Xtr, ytr, Xte, exporter, note=""):
    """Fit an XGBoost/LightGBM sklearn-API estimator and describe the case."""
    m.fit(Xtr, ytr)
    case = {"onnx": exporter(m, Xte.shape[1]), "X": Xte, "note": note}
    if hasattr(m, "predict_proba"):
        case["kind"] = "classifier"
        case["ref_labels"] = m.predict(Xte)
        case["ref_probabilities"] = m.predict_proba(Xte)
    else:
        case["kind"] = "regressor"
        case["ref_values"] = m.predict(Xte)
    return case


# ---- linear models

@model("logreg_binary", "LogisticRegression", "binary")
def _():
    from sklearn.linear_model import LogisticRegression

    Xtr, Xte, ytr, _ = data("breast_cancer")
    return sk_case(LogisticRegression(max_iter=5000), Xtr, ytr, Xte)


@model("logreg_binary_zipmap", "LogisticRegression", "binary")
def _():
    from sklearn.linear_model import LogisticRegression

    Xtr, Xte, ytr, _ = data("breast_cancer")
    return sk_case(
        LogisticRegression(max_iter=5000), Xtr, ytr, Xte, zipmap=True,
        note="keeps skl2onnx's default ZipMap output (seq(map(int64,float))); expected "
        "probabilities are ORT's maps turned into lists in class-label order",
    )


@model("logreg_multi", "LogisticRegression", "multiclass")
def _():
    from sklearn.linear_model import LogisticRegression

    Xtr, Xte, ytr, _ = data("iris")
    return sk_case(LogisticRegression(max_iter=5000), Xtr, ytr, Xte)


@model("logreg_multi_string_labels", "LogisticRegression", "multiclass")
def _():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    Xtr, Xte, ytr, _ = data("iris")
    names = load_iris().target_names
    return sk_case(LogisticRegression(max_iter=5000), Xtr, names[ytr], Xte,
                   note="string class labels (iris target names)")


@model("scaler_logreg_multi", "Pipeline(StandardScaler,LogisticRegression)", "multiclass")
def _():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xtr, Xte, ytr, _ = data("wine")
    return sk_case(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)), Xtr, ytr, Xte)


@model("linreg", "LinearRegression", "regression")
def _():
    from sklearn.linear_model import LinearRegression

    Xtr, Xte, ytr, _ = data("diabetes")
    return sk_case(LinearRegression(), Xtr, ytr, Xte)


@model("linreg_multi_target", "LinearRegression", "regression-multi")
def _():
    from sklearn.linear_model import LinearRegression

    Xtr, Xte, ytr, _ = data("diabetes")
    # Second and third targets derived from the first, so the fit is well defined.
    Y = np.stack([ytr, np.log(ytr), Xtr[:, 2] * 100.0 - ytr / 10.0], axis=1)
    return sk_case(LinearRegression(), Xtr, Y, Xte, note="3 targets: values are lists of lists")


@model("ridge", "Ridge", "regression")
def _():
    from sklearn.linear_model import Ridge

    Xtr, Xte, ytr, _ = data("diabetes")
    return sk_case(Ridge(alpha=0.5), Xtr, ytr, Xte)


@model("linearsvc_binary", "Pipeline(MaxAbsScaler,LinearSVC)", "binary")
def _():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler
    from sklearn.svm import LinearSVC

    Xtr, Xte, ytr, _ = data("breast_cancer")
    return sk_case(make_pipeline(MaxAbsScaler(), LinearSVC(random_state=SEED, max_iter=20000)),
                   Xtr, ytr, Xte,
                   note="no predict_proba: 'probabilities' are ORT's second output (decision scores)")


@model("linearsvc_multi", "Pipeline(MinMaxScaler,LinearSVC)", "multiclass")
def _():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler
    from sklearn.svm import LinearSVC

    Xtr, Xte, ytr, _ = data("iris")
    return sk_case(make_pipeline(MinMaxScaler(), LinearSVC(random_state=SEED, max_iter=20000)),
                   Xtr, ytr, Xte,
                   note="no predict_proba: 'probabilities' are ORT's second output (decision scores)")


@model("normalizer_max_sgd_multi", "Pipeline(Normalizer(max),SGDClassifier(log_loss))", "multiclass")
def _():
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    Xtr, Xte, ytr, _ = data("wine")
    return sk_case(make_pipeline(Normalizer(norm="max"),
                                 SGDClassifier(loss="log_loss", random_state=SEED, max_iter=2000)),
                   Xtr, ytr, Xte)


@model("normalizer_l2_logreg_multi", "Pipeline(Normalizer(l2),LogisticRegression)", "multiclass")
def _():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    Xtr, Xte, ytr, _ = data("iris")
    return sk_case(make_pipeline(Normalizer(norm="l2"), LogisticRegression(C=10.0, max_iter=5000)),
                   Xtr, ytr, Xte)


@model("normalizer_l1_ridge", "Pipeline(Normalizer(l1),Ridge)", "regression")
def _():
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    Xtr, Xte, ytr, _ = data("diabetes")
    return sk_case(make_pipeline(Normalizer(norm="l1"), Ridge(alpha=0.01)), Xtr, ytr, Xte)


@model("minmax_binarizer_logreg_binary", "Pipeline(MinMaxScaler,Binarizer,LogisticRegression)", "binary")
def _():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Binarizer, MinMaxScaler

    Xtr, Xte, ytr, _ = data("breast_cancer")
    return sk_case(make_pipeline(MinMaxScaler(), Binarizer(threshold=0.3),
                                 LogisticRegression(max_iter=5000)), Xtr, ytr, Xte)


@model("maxabs_linearsvr", "Pipeline(MaxAbsScaler,LinearSVR)", "regression")
def _():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler
    from sklearn.svm import LinearSVR

    Xtr, Xte, ytr, _ = data("diabetes")
    return sk_case(make_pipeline(MaxAbsScaler(), LinearSVR(C=100.0, random_state=SEED, max_iter=50000)),
                   Xtr, ytr, Xte)


# ---- trees (scikit-learn)

def _tree_models():
    from sklearn.ensemble import (
        ExtraTreesClassifier, GradientBoostingClassifier, HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.tree import DecisionTreeClassifier

    return {
        "dtree": ("DecisionTreeClassifier", lambda: DecisionTreeClassifier(max_depth=6, random_state=SEED)),
        "rf": ("RandomForestClassifier",
               lambda: RandomForestClassifier(n_estimators=20, max_depth=8, random_state=SEED, n_jobs=1)),
        "extratrees": ("ExtraTreesClassifier",
                       lambda: ExtraTreesClassifier(n_estimators=20, max_depth=8, random_state=SEED, n_jobs=1)),
        "gb": ("GradientBoostingClassifier",
               lambda: GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=SEED)),
        "hgb": ("HistGradientBoostingClassifier",
                lambda: HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=15, random_state=SEED,
                                                       early_stopping=False)),
    }


def _register_tree_classifiers():
    for key, (family, make) in _tree_models().items():
        for task, ds in (("binary", "breast_cancer"), ("multiclass", "wine")):
            def build(make=make, ds=ds):
                Xtr, Xte, ytr, _ = data(ds)
                return sk_case(make(), Xtr, ytr, Xte)

            model(f"{key}_cls_{'binary' if task == 'binary' else 'multi'}", family, task)(build)


_register_tree_classifiers()


@model("dtree_cls_string_labels", "DecisionTreeClassifier", "multiclass")
def _():
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    Xtr, Xte, ytr, _ = data("iris")
    names = load_iris().target_names
    return sk_case(DecisionTreeClassifier(max_depth=4, random_state=SEED), Xtr, names[ytr], Xte,
                   note="string class labels (iris target names)")


@model("rf_cls_string_labels_binary", "RandomForestClassifier", "binary")
def _():
    from sklearn.ensemble import RandomForestClassifier

    Xtr, Xte, ytr, _ = data("breast_cancer")
    names = np.array(["malignant", "benign"])
    return sk_case(RandomForestClassifier(n_estimators=10, max_depth=6, random_state=SEED, n_jobs=1),
                   Xtr, names[ytr], Xte,
                   note="string class labels, binary (classes sorted: benign, malignant)")


@model("hgb_cls_nan_binary", "HistGradientBoostingClassifier", "binary")
def _():
    from sklearn.ensemble import HistGradientBoostingClassifier

    Xtr, Xte, ytr, _ = data("breast_cancer")
    cols = list(range(0, 30, 3))
    Xtr = with_nans(Xtr, 0.2, cols, seed=1)
    Xte = with_nans(Xte, 0.2, cols, seed=2)
    return sk_case(HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=15, random_state=SEED,
                                                  early_stopping=False),
                   Xtr, ytr, Xte,
                   note="NaN in training and test rows: uses nodes_missing_value_tracks_true")


@model("hgb_cls_nan_multi", "HistGradientBoostingClassifier", "multiclass")
def _():
    from sklearn.ensemble import HistGradientBoostingClassifier

    Xtr, Xte, ytr, _ = data("wine")
    cols = [0, 3, 6, 9, 12]
    Xtr = with_nans(Xtr, 0.2, cols, seed=3)
    Xte = with_nans(Xte, 0.2, cols, seed=4)
    return sk_case(HistGradientBoostingClassifier(max_iter=20, max_leaf_nodes=15, random_state=SEED,
                                                  early_stopping=False),
                   Xtr, ytr, Xte,
                   note="NaN in training and test rows: uses nodes_missing_value_tracks_true")


# ---- ties: even forests whose votes split evenly, depth-limited trees on few distinct
# values (digits: 17 pixel levels). Their split votes land on exact float32 ties (decided by
# ORT's tie rules) or, where k * float32(1/n) rounds, one ulp either side of them.

def _register_tie_prone_classifiers():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    def forest(n):
        return lambda: RandomForestClassifier(n_estimators=n, random_state=SEED, n_jobs=1)

    cases = {
        "rf2_cls_binary_ties": (
            "RandomForestClassifier", "binary", "digits_odd", forest(2),
            "2 fully grown trees: a split vote is exactly 0.5, labelled by ORT's `> 0.5` (class 0)"),
        "rf20_cls_binary_ties": (
            "RandomForestClassifier", "binary", "digits_odd", forest(20),
            "20 fully grown trees: 10 votes of float32(1/20) sum to 0.50000006 in tree order "
            "(ORT on one thread: class 1; on 2+ threads, in batches of more than 50 rows, it adds "
            "per-thread partial sums, which can make 0.5, class 0)"),
        "rf4_cls_multi_ties": (
            "RandomForestClassifier", "multiclass", "digits", forest(4),
            "4 fully grown trees, 10 classes: 2-2 splits are exact ties, the first class wins"),
        "dtree_cls_binary_ties": (
            "DecisionTreeClassifier", "binary", "digits_odd",
            lambda: DecisionTreeClassifier(max_depth=6, random_state=SEED),
            "depth 6 on 17-level pixels: leaves of exactly half of each class"),
        "dtree_cls_multi_ties": (
            "DecisionTreeClassifier", "multiclass", "digits",
            lambda: DecisionTreeClassifier(max_depth=4, random_state=SEED),
            "depth 4 on 17-level pixels, 10 classes: leaves whose two largest fractions are equal"),
    }
    for name, (family, task, ds, make, note) in cases.items():
        def build(make=make, ds=ds, note=note):
            Xtr, Xte, ytr, _ = data(ds)
            return sk_case(make(), Xtr, ytr, Xte, note=note)

        model(name, family, task)(build)


_register_tie_prone_classifiers()


def _register_tree_regressors():
    from sklearn.ensemble import (
        GradientBoostingRegressor, HistGradientBoostingRegressor, RandomForestRegressor,
    )
    from sklearn.tree import DecisionTreeRegressor

    regs = {
        "dtree_reg": ("DecisionTreeRegressor", lambda: DecisionTreeRegressor(max_depth=6, random_state=SEED)),
        "rf_reg": ("RandomForestRegressor",
                   lambda: RandomForestRegressor(n_estimators=20, max_depth=8, random_state=SEED, n_jobs=1)),
        "gb_reg": ("GradientBoostingRegressor",
                   lambda: GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=SEED)),
        "hgb_reg": ("HistGradientBoostingRegressor",
                    lambda: HistGradientBoostingRegressor(max_iter=50, max_leaf_nodes=15, random_state=SEED,
                                                          early_stopping=False)),
    }
    for name, (family, make) in regs.items():
        def build(make=make):
            Xtr, Xte, ytr, _ = data("diabetes")
            return sk_case(make(), Xtr, ytr, Xte)

        model(name, family, "regression")(build)


_register_tree_regressors()


# ---- neural networks (scikit-learn)

@model("scaler_mlp_cls_multi", "Pipeline(StandardScaler,MLPClassifier)", "multiclass")
def _():
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xtr, Xte, ytr, _ = data("wine")
    return sk_case(make_pipeline(StandardScaler(),
                                 MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=500, random_state=SEED)),
                   Xtr, ytr, Xte)


@model("scaler_mlp_cls_binary", "Pipeline(StandardScaler,MLPClassifier)", "binary")
def _():
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xtr, Xte, ytr, _ = data("breast_cancer")
    return sk_case(make_pipeline(StandardScaler(),
                                 MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", max_iter=500,
                                               random_state=SEED)),
                   Xtr, ytr, Xte)


# ---- ColumnTransformer on one float input

@model("column_transformer_logreg", "Pipeline(ColumnTransformer(SimpleImputer+StandardScaler, OneHotEncoder),"
       "LogisticRegression)", "multiclass")
def _():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    Xtr, Xte, ytr, _ = data("wine")
    # Columns 0 (alcohol) and 12 (proline) become integer-valued categories: quantile bins.
    cat_cols = [0, 12]
    for c in cat_cols:
        edges = np.quantile(Xtr[:, c], [0.25, 0.5, 0.75])
        Xtr[:, c] = np.digitize(Xtr[:, c], edges).astype(np.float32)
        Xte[:, c] = np.digitize(Xte[:, c], edges).astype(np.float32)
    # A category never seen in training (handle_unknown='ignore' -> all-zero one-hot).
    Xte[::7, 12] = 7.0
    num_cols = [c for c in range(Xtr.shape[1]) if c not in cat_cols]
    nan_cols = [1, 2, 3, 4]
    Xtr = with_nans(Xtr, 0.15, nan_cols, seed=5)
    Xte = with_nans(Xte, 0.15, nan_cols, seed=6)
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num_cols),
        ("cat", OneHotEncoder(handle_unknown="ignore"), cat_cols),
    ])
    pipe = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=5000))])
    return sk_case(pipe, Xtr, ytr, Xte,
                   note="one float input [N,13]; cols 0,12 categorical (bins 0..3, test has unseen 7.0); "
                        "NaN in cols 1-4 imputed by median")


# ---- XGBoost / LightGBM (onnxmltools)

def _xgb_cls(**kw):
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=30, max_depth=4, learning_rate=0.3, tree_method="hist",
                         random_state=SEED, n_jobs=1, **kw)


@model("xgb_cls_binary", "XGBClassifier", "binary")
def _():
    Xtr, Xte, ytr, _ = data("breast_cancer")
    return ext_case(_xgb_cls(), Xtr, ytr, Xte, xgb)


@model("xgb_cls_multi", "XGBClassifier", "multiclass")
def _():
    Xtr, Xte, ytr, _ = data("wine")
    return ext_case(_xgb_cls(), Xtr, ytr, Xte, xgb)


@model("xgb_cls_nan_binary", "XGBClassifier", "binary")
def _():
    Xtr, Xte, ytr, _ = data("breast_cancer")
    cols = list(range(1, 30, 3))
    Xtr = with_nans(Xtr, 0.2, cols, seed=7)
    Xte = with_nans(Xte, 0.2, cols, seed=8)
    return ext_case(_xgb_cls(), Xtr, ytr, Xte, xgb,
                    note="NaN in training and test rows: uses nodes_missing_value_tracks_true")


@model("xgb_reg", "XGBRegressor", "regression")
def _():
    from xgboost import XGBRegressor

    Xtr, Xte, ytr, _ = data("diabetes")
    return ext_case(XGBRegressor(n_estimators=40, max_depth=3, learning_rate=0.2, tree_method="hist",
                                 random_state=SEED, n_jobs=1), Xtr, ytr, Xte, xgb)


def _lgbm(cls, **kw):
    return cls(n_estimators=30, num_leaves=15, learning_rate=0.2, random_state=SEED, n_jobs=1,
               deterministic=True, force_row_wise=True, verbose=-1, **kw)


@model("lgbm_cls_binary", "LGBMClassifier", "binary")
def _():
    from lightgbm import LGBMClassifier

    Xtr, Xte, ytr, _ = data("breast_cancer")
    return ext_case(_lgbm(LGBMClassifier), Xtr, ytr, Xte, lgbm)


@model("lgbm_cls_multi", "LGBMClassifier", "multiclass")
def _():
    from lightgbm import LGBMClassifier

    Xtr, Xte, ytr, _ = data("wine")
    return ext_case(_lgbm(LGBMClassifier, min_child_samples=5), Xtr, ytr, Xte, lgbm)


@model("lgbm_cls_nan_binary", "LGBMClassifier", "binary")
def _():
    from lightgbm import LGBMClassifier

    Xtr, Xte, ytr, _ = data("breast_cancer")
    cols = list(range(2, 30, 3))
    Xtr = with_nans(Xtr, 0.2, cols, seed=9)
    Xte = with_nans(Xte, 0.2, cols, seed=10)
    return ext_case(_lgbm(LGBMClassifier), Xtr, ytr, Xte, lgbm,
                    note="NaN in training and test rows: uses nodes_missing_value_tracks_true")


@model("lgbm_reg", "LGBMRegressor", "regression")
def _():
    from lightgbm import LGBMRegressor

    Xtr, Xte, ytr, _ = data("diabetes")
    return ext_case(_lgbm(LGBMRegressor), Xtr, ytr, Xte, lgbm)


# ---- "torch-style" networks written with onnx.helper

def _torch_style(layers, head, n_features):
    """Graph shaped like torch.onnx.export of an nn.Sequential of Linear/ReLU (opset 17).

    layers: list of (W [out,in], b [out]) exported as Gemm(transB=1), each followed by Relu,
    except the last one when head == "linear". head == ("softmax", W [in,out], b [out]): a
    final MatMul + Add (how torch exports a Linear on a non-2-D input) and Softmax(axis=-1).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], []
    prev = FLOAT_IN
    for i, (W, b) in enumerate(layers):
        last_linear = isinstance(head, str) and i == len(layers) - 1
        inits += [numpy_helper.from_array(W, f"fc{i + 1}.weight"), numpy_helper.from_array(b, f"fc{i + 1}.bias")]
        out = "output" if last_linear else f"/fc{i + 1}/Gemm_output_0"
        nodes.append(helper.make_node("Gemm", [prev, f"fc{i + 1}.weight", f"fc{i + 1}.bias"], [out],
                                      name=f"/fc{i + 1}/Gemm", alpha=1.0, beta=1.0, transB=1))
        if not last_linear:
            nodes.append(helper.make_node("Relu", [out], [f"/act{i + 1}/Relu_output_0"], name=f"/act{i + 1}/Relu"))
            prev = f"/act{i + 1}/Relu_output_0"
    n_out = layers[-1][0].shape[0]
    if not isinstance(head, str):
        _, Wt, b = head
        inits += [numpy_helper.from_array(Wt, "onnx::MatMul_head"), numpy_helper.from_array(b, "head.bias")]
        nodes += [
            helper.make_node("MatMul", [prev, "onnx::MatMul_head"], ["/head/MatMul_output_0"], name="/head/MatMul"),
            helper.make_node("Add", ["head.bias", "/head/MatMul_output_0"], ["/head/Add_output_0"], name="/head/Add"),
            helper.make_node("Softmax", ["/head/Add_output_0"], ["output"], name="/Softmax", axis=-1),
        ]
        n_out = Wt.shape[1]
    graph = helper.make_graph(
        nodes, "main_graph",
        [helper.make_tensor_value_info(FLOAT_IN, TensorProto.FLOAT, ["batch_size", n_features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch_size", n_out])],
        initializer=inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="trainyard-make_matrix (torch-style, onnx.helper)", producer_version="1")
    m.ir_version = 8  # what torch.onnx.export writes for opset 17
    onnx.checker.check_model(m)
    return m


def _torch_forward(X, layers, head):
    h = X.astype(np.float32)
    for i, (W, b) in enumerate(layers):
        h = h @ W.T + b
        if not (isinstance(head, str) and i == len(layers) - 1):
            h = np.maximum(h, 0)
    if not isinstance(head, str):
        z = h @ head[1] + head[2]
        z = np.exp(z - z.max(axis=1, keepdims=True))
        h = z / z.sum(axis=1, keepdims=True)
    return h


def _rand_linear(rng, n_in, n_out):
    bound = 1.0 / np.sqrt(n_in)  # torch.nn.Linear's default init range
    W = rng.uniform(-bound, bound, size=(n_out, n_in)).astype(np.float32)
    b = rng.uniform(-bound, bound, size=(n_out,)).astype(np.float32)
    return W, b


@model("torch_mlp_cls", "torch-style MLP (onnx.helper)", "multiclass")
def _():
    rng = np.random.RandomState(36)  # a seed whose argmax uses all 3 classes on these rows
    Xtr, Xte, _, _ = data("iris")
    W1, b1 = _rand_linear(rng, 4, 32)
    # Fold the training mean/std into the first layer (as a trained net would have learned),
    # and scale up, so the random net does not collapse onto one class.
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
    W1 = (W1 * 2.0 / sd).astype(np.float32)
    b1 = (b1 - W1 @ mu).astype(np.float32)
    W2, b2 = _rand_linear(rng, 32, 16)
    layers = [(W1, b1), (W2 * np.float32(3.0), b2)]
    W3, b3 = _rand_linear(rng, 16, 3)
    head = ("softmax", np.ascontiguousarray(W3.T) * np.float32(3.0), b3)  # MatMul weight is [in, out]
    m = _torch_style(layers, head, 4)
    probs = _torch_forward(Xte, layers, head)
    return {"onnx": m, "X": Xte, "kind": "classifier", "torch": True,
            "ref_labels": probs.argmax(axis=1), "ref_probabilities": probs,
            "note": "random weights (seed 36); single output 'output' = Softmax; labels are DERIVED "
                    "(argmax of the probabilities), not a model output"}


@model("torch_mlp_reg", "torch-style MLP (onnx.helper)", "regression")
def _():
    rng = np.random.RandomState(18)
    _, Xte, _, _ = data("diabetes")
    W1, b1 = _rand_linear(rng, 10, 32)
    W1 *= 20.0  # diabetes features are ~±0.1
    W2, b2 = _rand_linear(rng, 32, 1)
    layers = [(W1, b1), (W2, b2)]
    m = _torch_style(layers, "linear", 10)
    return {"onnx": m, "X": Xte, "kind": "regressor", "torch": True,
            "ref_values": _torch_forward(Xte, layers, "linear"),
            "note": "random weights (seed 18); Gemm->Relu->Gemm, output 'output' [N,1]"}


# --------------------------------------------------------------------------- run + write

def fmt(v):
    v = np.float32(v)
    if np.isnan(v):
        return "NaN"
    return repr(float(v))


def write_csv(path, X):
    with open(path, "w") as f:
        for row in X:
            f.write(",".join(fmt(v) for v in row) + "\n")


def jnum(v):
    """JSON-ready scalar: python int / str / float (float32 values are written exactly)."""
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, (str, np.str_, bytes)):
        return v.decode() if isinstance(v, bytes) else str(v)
    return float(v)


def dump_json(obj, top=True):
    """JSON with one key per line and one row per line inside lists of rows."""
    if isinstance(obj, dict) and top:
        items = [f" {json.dumps(k)}: {dump_json(v, top=False)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n}\n"
    if isinstance(obj, list) and obj and all(isinstance(x, list) for x in obj):
        return "[\n" + ",\n".join("  " + json.dumps(x) for x in obj) + "\n ]"
    return json.dumps(obj)


def operators(m):
    return sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in m.graph.node})


def zipmap_labels(m):
    for n in m.graph.node:
        if n.op_type == "ZipMap":
            for a in n.attribute:
                if a.name == "classlabels_int64s":
                    return list(a.ints)
                if a.name == "classlabels_strings":
                    return [s.decode() for s in a.strings]
    raise ValueError("ZipMap node without class labels")


def normalize(m, name):
    """Make the serialized model byte-for-byte reproducible (metadata only).

    skl2onnx names the graph with a random uuid and emits opset_import in set order (which
    depends on hash randomization); it also lists the default domain twice, which we keep
    on purpose since real models look like that.
    """
    if len(m.graph.name) == 32 and all(c in "0123456789abcdef" for c in m.graph.name):
        m.graph.name = name
    imports = sorted(((o.domain, o.version) for o in m.opset_import))
    del m.opset_import[:]
    for domain, version in imports:
        m.opset_import.add(domain=domain, version=version)
    return m


def run_case(name, family, task, build, out_dir):
    import onnx
    import onnxruntime as ort

    case = build()
    m = normalize(case["onnx"], name)
    X = case["X"].astype(np.float32)
    onnx.checker.check_model(m)
    data_bytes = m.SerializeToString()
    so = ort.SessionOptions()
    # One thread: ORT's tree ensembles sum trees per thread, so their float32 outputs move by
    # ~1 ulp with the thread count (and near-tie labels can flip, see near_tie_rows).
    so.intra_op_num_threads = 1
    so.log_severity_level = 3  # onnxmltools' LightGBM models declare label as [1]: ORT warns
    sess = ort.InferenceSession(data_bytes, so, providers=["CPUExecutionProvider"])
    input_name = sess.get_inputs()[0].name
    assert input_name == FLOAT_IN and len(sess.get_inputs()) == 1, sess.get_inputs()
    outs = sess.run(None, {input_name: X})
    out_names = [o.name for o in sess.get_outputs()]
    problems = []
    exp = {"kind": case["kind"]}
    if case["kind"] == "classifier":
        if case.get("torch"):
            probs = np.asarray(outs[0], dtype=np.float32)
            labels = probs.argmax(axis=1)
        else:
            labels = np.asarray(outs[0]).reshape(-1)
            if isinstance(outs[1], list):  # ZipMap: list of {label: prob}
                order = zipmap_labels(m)
                probs = np.array([[d[k] for k in order] for d in outs[1]], dtype=np.float32)
            else:
                probs = np.asarray(outs[1], dtype=np.float32)
        assert probs.ndim == 2 and probs.shape[0] == len(X) and len(labels) == len(X)
        exp["labels"] = [jnum(v) for v in labels]
        exp["probabilities"] = [[jnum(v) for v in row] for row in probs]
        ref = case.get("ref_probabilities", case.get("ref_scores"))
        ref = np.asarray(ref, dtype=np.float64)
        vote_ties = np.zeros(len(X), dtype=bool)
        if probs.shape[1] > 1:
            top2 = np.sort(probs, axis=1)[:, -2:]
            gap = top2[:, 1] - top2[:, 0]
            exp["exact_tie_rows"] = [int(i) for i in np.nonzero(gap == 0)[0]]
            exp["near_tie_rows"] = [int(i) for i in np.nonzero((gap > 0) & (gap < 1e-5))[0]]
            if ref.ndim == 2 and ref.shape[1] > 1 and "ref_probabilities" in case:
                ref2 = np.sort(ref, axis=1)[:, -2:]
                vote_ties = ref2[:, 1] - ref2[:, 0] < 1e-12
            exp["vote_tie_rows"] = [int(i) for i in np.nonzero(vote_ties)[0]]
        ref_labels = np.asarray(case["ref_labels"]).reshape(-1)
        # Split votes are labelled by each side's tie rule on its own rounding: not compared.
        same = [str(a) == str(b) for a, b, t in zip(labels, ref_labels, vote_ties) if not t]
        agree = float(np.mean(same)) if same else 1.0
        if ref.ndim == 1:  # binary decision_function: one score, ORT gives [-s, s] or [s]
            ref = np.stack([-ref, ref], axis=1) if probs.shape[1] == 2 else ref[:, None]
        if ref.shape != probs.shape:
            problems.append(f"probability shape {probs.shape} != reference {ref.shape}")
            diff = float("inf")
        else:
            d = np.abs(probs - ref)
            tol = 1e-4 + 1e-4 * np.abs(ref)
            diff = float(d.max())
            if np.mean(np.any(d > tol, axis=1)) > 0.03:
                problems.append(f"{np.mean(np.any(d > tol, axis=1)):.1%} rows differ from the framework")
        if agree < 0.97:
            problems.append(f"label agreement {agree:.1%}")
        if not np.all(np.isfinite(probs)):
            problems.append("non-finite probabilities")
        ties = f" ({int(vote_ties.sum())} split-vote rows not compared)" if vote_ties.any() else ""
        stats = f"labels agree {agree:.1%}{ties}, max |p-ref| {diff:.2e}"
        exp["framework_check"] = (f"ORT vs the training framework (float64): labels agree {agree:.1%}{ties}, "
                                  f"max abs probability/score diff {diff:.2e}")
    else:
        vals = np.asarray(outs[0], dtype=np.float32)
        vals2 = vals.reshape(len(X), -1)
        if vals2.shape[1] == 1:
            exp["values"] = [jnum(v) for v in vals2[:, 0]]
        else:
            exp["values"] = [[jnum(v) for v in row] for row in vals2]
        ref = np.asarray(case["ref_values"], dtype=np.float64).reshape(len(X), -1)
        d = np.abs(vals2 - ref)
        scale = max(1.0, float(np.abs(ref).max()))
        diff = float(d.max()) / scale
        if np.mean(np.any(d > 1e-4 * scale, axis=1)) > 0.03:
            problems.append(f"{np.mean(np.any(d > 1e-4 * scale, axis=1)):.1%} rows differ from the framework")
        if not np.all(np.isfinite(vals2)):
            problems.append("non-finite values")
        stats = f"max rel |v-ref| {diff:.2e}"
        exp["framework_check"] = (f"ORT vs the training framework (float64): max abs diff "
                                  f"{float(d.max()):.3g}, relative to max |value| {diff:.2e}")
    ops = operators(m)
    producer = f"{m.producer_name} {m.producer_version}".strip()
    exp.update({
        "output_names": out_names,
        "operators": ops,
        "opsets": {(o.domain or "ai.onnx"): o.version for o in m.opset_import},  # sorted
        "producer": producer,
        "note": case.get("note", ""),
    })
    if problems:
        raise RuntimeError(f"{name}: ORT disagrees with the training framework: {'; '.join(problems)}")
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(data_bytes)
    write_csv(os.path.join(d, "input.csv"), X)
    with open(os.path.join(d, "expected.json"), "w") as f:
        f.write(dump_json(exp))
    entry = {"name": name, "family": family, "task": task, "producer": producer,
             "operators": ops, "rows": int(len(X))}
    return entry, stats, X.shape[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--only", help="comma-separated model names (default: all)")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    os.makedirs(args.out_dir, exist_ok=True)
    t_start = time.time()
    entries, failures = [], []
    for name, family, task, build in MODELS:
        if only and name not in only:
            continue
        t0 = time.time()
        np.random.seed(SEED)
        try:
            entry, stats, nf = run_case(name, family, task, build, args.out_dir)
        except Exception as e:  # keep going, report at the end
            failures.append(name)
            print(f"FAIL {name:34s} {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(file=sys.stderr)
            continue
        entries.append(entry)
        ops = ",".join(o.split(":", 1)[1] for o in entry["operators"])
        print(f"ok   {name:34s} {entry['rows']:4d}x{nf:<3d} {time.time() - t0:5.2f}s  {stats}  [{ops}]",
              flush=True)
    if only is None:
        with open(os.path.join(args.out_dir, "matrix.json"), "w") as f:
            json.dump(entries, f, indent=1)
            f.write("\n")
    print(f"{len(entries)} models written to {args.out_dir}, {len(failures)} failed, "
          f"{time.time() - t_start:.1f}s", flush=True)
    if failures:
        print("failed: " + ", ".join(failures), file=sys.stderr)
        return 1
    if only is not None and len(entries) != len(only):
        print("unknown model names in --only", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
