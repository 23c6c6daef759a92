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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder
from xgboost import Booster, XGBClassifier

from models.candidates import MISSING_CATEGORY, FeatureColumns


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

    def probabilities(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Churn probability per row of ``{feature: value}`` (validated request values)."""
        blocks = [np.array([[row[name] for name in self.numeric] for row in rows], dtype="float64")]
        blocks[0] = blocks[0].reshape(len(rows), len(self.numeric))
        for name, known in zip(self.categorical, self.categories, strict=True):
            values = np.array([_category(row[name]) for row in rows], dtype=object)
            blocks.append((values[:, None] == known[None, :]).astype("float64"))
        matrix = np.hstack(blocks)
        # what XGBClassifier.predict_proba does for binary:logistic (its second column), minus
        # the wrapper's per-call config and column stacking
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
            mean += calibrator.predict(scores)
        return mean / len(self.calibrators)


def _category(value: Any) -> str:
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
    return FastScorer(
        numeric=tuple(columns.numeric),
        categorical=tuple(columns.categorical),
        categories=categories,
        classifier=classifier,
        calibrators=calibrators,
        booster=classifier.get_booster(),
        iteration_range=_iteration_range(classifier),
    )


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
