"""Score-only without pandas: the served model's own fitted parts applied to plain rows.

A one-row DataFrame costs tens of milliseconds in column handling before the model does any
work (``model_inputs`` and ``ColumnTransformer`` touch every column), while the booster itself
needs well under a millisecond. For the model shape the pipeline trains for XGBoost —
``CalibratedClassifierCV(FrozenEstimator(Pipeline[ColumnTransformer(numeric passthrough,
OneHotEncoder), XGBClassifier]))`` or the bare pipeline — this applies the same fitted objects
to a float matrix: numbers as they are, categories one-hot against the encoder's own
``categories_`` (null → ``missing``, booleans as ``True``/``False``, unknown → all zeros, as
``model_inputs`` + ``OneHotEncoder(handle_unknown="ignore")`` do), the booster's
``predict_proba`` and each fitted calibrator's ``predict``, averaged as scikit-learn averages.

It is only used after :func:`compile_fast_scorer` has checked, on the whole scoring snapshot,
that it returns bit-identical probabilities to ``models.training.predict_churn``; any other
model shape, or any difference, and the service keeps the standard path.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache, cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
from sklearn.compose import ColumnTransformer
from sklearn.isotonic import IsotonicRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder
from xgboost import Booster, XGBClassifier

from core.layout import MISSING_CATEGORY
from core.logging import get_logger
from models.candidates import FeatureColumns


@dataclass(frozen=True)
class FastScorer:
    """The fitted parts of one served model, for plain-row scoring."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: tuple[np.ndarray, ...]
    classifier: XGBClassifier
    calibrators: tuple[Any, ...]
    booster: Booster
    iteration_range: tuple[int, int]
    trees: TreeEnsemble | None = None

    def probabilities(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Churn probability per row of ``{feature: value}`` (validated request values)."""
        numbers = np.array([[row[name] for name in self.numeric] for row in rows], dtype="float64")
        matrix = np.zeros((len(rows), self.width))
        matrix[:, : len(self.numeric)] = numbers.reshape(len(rows), len(self.numeric))
        for name, positions in zip(self.categorical, self.one_hot, strict=True):
            for index, row in enumerate(rows):
                position = positions.get(request_category(row[name]))
                if position is not None:  # an unknown category is all zeros
                    matrix[index, position] = 1.0
        if self.trees is not None and len(rows) <= TREES_MAX_ROWS:
            scores = self.trees.probability(matrix)
        else:
            # what XGBClassifier.predict_proba does for binary:logistic (its second column),
            # minus the wrapper's per-call config and column stacking
            scores = self.booster.inplace_predict(
                matrix,
                iteration_range=self.iteration_range,
                predict_type="value",
                missing=self.classifier.missing,
            )
        if not self.calibrators:
            return scores
        mean = np.zeros(len(rows))
        for calibrator in self.calibrators:
            mean += calibrated(calibrator, scores)
        return mean / len(self.calibrators)

    @property
    def width(self) -> int:
        return len(self.numeric) + sum(len(known) for known in self.categories)

    @cached_property
    def one_hot(self) -> tuple[dict[str, int], ...]:
        """Per categorical feature, each known category's column in the model's input matrix
        (after the numbers, in the encoder's order). Only text categories can equal a request's
        value, which is compared as text, as ``OneHotEncoder`` compares it."""
        positions, start = [], len(self.numeric)
        for known in self.categories:
            positions.append(
                {value: start + i for i, value in enumerate(known) if isinstance(value, str)}
            )
            start += len(known)
        return tuple(positions)


TREES_MAX_ROWS = 256
"""Rows up to which the compiled walk scores a request instead of XGBoost's ``inplace_predict``:
measured on the default model (102 trees), 0.03 against 0.27 ms for 1-8 rows and 0.36 against
0.75 ms for 128; XGBoost's batch prediction only wins from about 300-500 rows."""


@dataclass(frozen=True)
class TreeEnsemble:
    """A binary:logistic booster's trees as arrays, walked by compiled code for small requests.

    ``inplace_predict`` has a fixed cost of about 0.25 ms per call (a proxy DMatrix, JSON
    config, ctypes) against microseconds of tree walking for one row. The same walk here, in a
    loop numba compiles (numba comes with shap; a numpy walk level by level cost 50 us a row in
    numpy call overhead, the compiled loop a few): features as float32, ``value < split`` goes
    left, a missing value takes the default branch, leaf values added in tree order in float32
    from the base margin, then ``1 / (1 + expf(-m))`` with the C library's ``expf`` (numpy's
    float32 ``exp`` differs from it in the last bit for some inputs). Only used once the
    service found it bit-identical to the booster on the rows given (the whole snapshot).
    """

    left: np.ndarray  # flat node index of the left child; a leaf points at itself
    right: np.ndarray
    feature: np.ndarray
    value: np.ndarray  # split condition, or the leaf value at a leaf (float32)
    default_left: np.ndarray
    roots: np.ndarray  # flat index of each tree's root
    base_margin: np.float32

    def margin(self, matrix: np.ndarray) -> np.ndarray:
        return _compiled_walk()(
            np.ascontiguousarray(matrix, dtype=np.float32),
            self.left,
            self.right,
            self.feature,
            self.value,
            self.default_left,
            self.roots,
            self.base_margin,
        )

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        return self.logistic(self.margin(matrix))

    @staticmethod
    def logistic(margin: np.ndarray) -> np.ndarray:
        one = np.float32(1.0)
        return np.array(
            [one / (one + np.float32(_expf(-float(m)))) for m in margin], dtype=np.float32
        )


def _walk(
    values: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    feature: np.ndarray,
    value: np.ndarray,
    default_left: np.ndarray,
    roots: np.ndarray,
    base_margin: np.float32,
) -> np.ndarray:
    """Margin per row: the source numba compiles (plain Python, IEEE float32 arithmetic)."""
    margins = np.empty(values.shape[0], dtype=np.float32)
    for row in range(values.shape[0]):
        margin = base_margin
        for root in roots:
            node = root
            while left[node] != node:
                x = values[row, feature[node]]
                if np.isnan(x):
                    node = left[node] if default_left[node] else right[node]
                elif x < value[node]:
                    node = left[node]
                else:
                    node = right[node]
            margin += value[node]
        margins[row] = margin
    return margins


@cache
def _compiled_walk() -> Any:
    """:func:`_walk` compiled on first use: importing numba and compiling take a second or two,
    which the service pays while it loads (its checks walk the snapshot), never in a request.
    Not cached on disk: a read-only install or home folder would make numba's cache fail."""
    import numba

    return numba.njit(nogil=True)(_walk)


def _load_expf() -> Any:
    library = ctypes.util.find_library("m")
    if library is None:
        return None
    expf = ctypes.CDLL(library).expf
    expf.restype, expf.argtypes = ctypes.c_float, [ctypes.c_float]
    return expf


_expf = _load_expf()
_log = get_logger(__name__)


def tree_ensemble(booster: Booster, iteration_range: tuple[int, int]) -> TreeEnsemble | None:
    """The booster's first ``iteration_range[1]`` trees (all if 0) as a :class:`TreeEnsemble`,
    or None for a shape it does not walk (categorical splits, several trees per round, not
    binary:logistic, a NaN-free ``missing``)."""
    if _expf is None or iteration_range[0] != 0:
        return None
    learner = json.loads(booster.save_raw("json"))["learner"]
    gbm = learner["gradient_booster"]
    if learner["objective"]["name"] != "binary:logistic" or gbm.get("name") != "gbtree":
        return None
    model = gbm["model"]
    if int(model["gbtree_model_param"].get("num_parallel_tree", "1")) != 1:
        return None
    trees = model["trees"][: iteration_range[1] or None]
    if not trees or any(any(tree["split_type"]) for tree in trees):
        return None
    base = learner["learner_model_param"]["base_score"]
    base_score = np.float32(json.loads(base)[0] if base.startswith("[") else float(base))
    one = np.float32(1.0)
    left, right, feature, value, default_left, roots = [], [], [], [], [], []
    for tree in trees:
        offset = len(left)
        roots.append(offset)
        children = list(zip(tree["left_children"], tree["right_children"], strict=True))
        for node, (first, second) in enumerate(children):
            leaf = first < 0
            left.append(offset + (node if leaf else first))
            right.append(offset + (node if leaf else second))
        feature += tree["split_indices"]
        value += tree["split_conditions"]
        default_left += [bool(flag) for flag in tree["default_left"]]
    ensemble = TreeEnsemble(
        left=np.array(left, dtype=np.int64),
        right=np.array(right, dtype=np.int64),
        feature=np.array(feature, dtype=np.int64),
        value=np.asarray(value, dtype=np.float64).astype(np.float32),
        default_left=np.array(default_left, dtype=bool),
        roots=np.array(roots, dtype=np.int64),
        base_margin=-np.log(one / base_score - one),
    )
    try:
        ensemble.margin(np.zeros((1, max(feature, default=0) + 1)))  # compiles the walk now
    except Exception as error:  # numba unusable here: XGBoost's own prediction serves instead
        _log.warning("compiled tree walk unavailable; XGBoost scores instead", error=repr(error))
        return None
    return ensemble


def calibrated(calibrator: Any, scores: np.ndarray) -> np.ndarray:
    """``calibrator.predict(scores)`` for a 1-d score array, without scikit-learn's per-call
    input validation (a tenth of a millisecond for one row): the sigmoid and isotonic
    calibrators' own arithmetic, the same operations in the same order; any other calibrator
    through its ``predict``."""
    if isinstance(calibrator, _SigmoidCalibration):
        return expit(-(calibrator.a_ * np.ravel(scores) + calibrator.b_))
    if isinstance(calibrator, IsotonicRegression) and calibrator.out_of_bounds in ("clip", "nan"):
        dtype = getattr(calibrator, "X_thresholds_", np.empty(0)).dtype
        values = np.asarray(scores, dtype=dtype).reshape(-1)
        if calibrator.out_of_bounds == "clip":
            values = np.clip(values, calibrator.X_min_, calibrator.X_max_)
        return calibrator.f_(values).astype(values.dtype)
    return calibrator.predict(scores)


def request_category(value: Any) -> str:
    """A categorical request value as the model's encoder saw it: text, null → ``missing``
    (as ``model_inputs`` does)."""
    return MISSING_CATEGORY if value is None else str(value)


def compile_fast_scorer(model: Any, columns: FeatureColumns) -> FastScorer | None:
    """A :class:`FastScorer` for ``model`` if it has the recognised shape, else None."""
    calibrators: tuple[Any, ...] = ()
    pipeline = model
    if isinstance(model, CalibratedClassifierCV):
        members = model.calibrated_classifiers_
        if model.method not in ("isotonic", "sigmoid") or list(model.classes_) != [0, 1]:
            return None
        pipelines = {id(_unfrozen(member.estimator)) for member in members}
        if len(pipelines) != 1 or any(len(member.calibrators) != 1 for member in members):
            return None
        pipeline = _unfrozen(members[0].estimator)
        calibrators = tuple(member.calibrators[0] for member in members)
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        return None
    preprocess, classifier = pipeline.steps[0][1], pipeline.steps[1][1]
    if not isinstance(preprocess, ColumnTransformer) or not isinstance(classifier, XGBClassifier):
        return None
    if classifier.objective != "binary:logistic" or classifier.booster == "gblinear":
        return None
    parts = {
        name: (transformer, list(cols)) for name, transformer, cols in preprocess.transformers_
    }
    numeric, categorical = parts.get("numeric"), parts.get("categorical")
    remainder = parts.get("remainder", ("drop", []))
    if numeric is None or not _identity(numeric[0]) or numeric[1] != list(columns.numeric):
        return None
    if remainder[0] != "drop" and remainder[1]:
        return None
    categories: tuple[np.ndarray, ...] = ()
    if columns.categorical:
        encoder = categorical[0] if categorical else None
        if (
            not isinstance(encoder, OneHotEncoder)
            or categorical[1] != list(columns.categorical)
            or encoder.drop is not None
            or encoder.handle_unknown != "ignore"
        ):
            return None
        categories = tuple(np.asarray(known, dtype=object) for known in encoder.categories_)
    booster, iteration_range = classifier.get_booster(), _iteration_range(classifier)
    walk = np.isnan(classifier.missing)  # the walk treats NaN, and only NaN, as missing
    return FastScorer(
        numeric=tuple(columns.numeric),
        categorical=tuple(columns.categorical),
        categories=categories,
        classifier=classifier,
        calibrators=calibrators,
        booster=booster,
        iteration_range=iteration_range,
        trees=tree_ensemble(booster, iteration_range) if walk else None,
    )


def without_trees(scorer: FastScorer) -> FastScorer:
    """The same scorer on XGBoost's own prediction only."""
    return replace(scorer, trees=None)


def snapshot_rows(frame: pd.DataFrame, names: Sequence[str]) -> list[dict[str, Any]]:
    """Snapshot rows as request values (NaN → None), to check the fast path against batch."""
    subset = frame[list(names)].astype(object)
    subset = subset.where(subset.notna(), None)
    return subset.to_dict(orient="records")


def _iteration_range(classifier: XGBClassifier) -> tuple[int, int]:
    """The trees ``predict_proba`` uses: up to the early-stopping best iteration, else all."""
    try:
        return (0, int(classifier.best_iteration) + 1)
    except AttributeError:
        return (0, 0)


def _identity(step: Any) -> bool:
    """``passthrough``, which a fitted ColumnTransformer holds as a FunctionTransformer."""
    if step == "passthrough":
        return True
    return isinstance(step, FunctionTransformer) and step.func is None


def _unfrozen(estimator: Any) -> Any:
    return getattr(estimator, "estimator", estimator)
