"""SHAP contributions of a churn model, on the original feature names.

Three exact paths, picked by the classifier's kind:

* ``xgboost_native``: XGBoost's own TreeSHAP (``pred_contribs``). ``shap.TreeExplainer`` hands
  XGBoost models to this same routine, so going direct skips shap's import (numba: seconds) and
  its conversions; ``benchmarks/bench_explain.py`` measures both and shap's own C++ TreeSHAP.
* ``hist_treeshap``: path-dependent TreeSHAP over HistGradientBoosting's own trees
  (``models.explain.treeshap``): shap's TreeExplainer misreads their categorical splits.
* ``shap_tree``: ``shap.TreeExplainer`` (path-dependent) for random forests.
* ``linear``: ``shap.LinearExplainer`` for the logistic regression, against a reference row:
  the training mean of the standardised numerics (0 after the scaler: exact) and an even spread
  over the known categories (the one-hot encoder keeps no category frequencies).

Contributions are computed on the model's inputs and summed back to original features
(``models.explain.mapping``); ``base_value + sum == margin`` is checked on every call.
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from xgboost import Booster, DMatrix, XGBClassifier

from models.candidates import CandidateError, model_inputs, preprocess_rows
from models.explain.dense import DenseModel, dense_model
from models.explain.mapping import input_owners, regrouping_matrix
from models.explain.model_parts import ModelParts, model_parts
from models.explain.treeshap import hist_gradient_boosting_shap

Path_ = Literal["xgboost_native", "hist_treeshap", "shap_tree", "linear"]
ADDITIVITY_TOLERANCE = 1e-4
NEAR_BASE = 0.5
"""Log-odds from the base within which probability points use the calibrated map's average slope
(over twice this width) instead of each row's own secant, which a calibration step makes explode."""


class ExplainError(ValueError):
    """Rows or a model that cannot be explained, or an explanation that does not add up."""


@dataclass(frozen=True)
class Explanation:
    """Per-row SHAP contributions on original feature names, in the classifier's raw output.

    ``base_value + contributions.sum(axis=1) == margin`` (within ``ADDITIVITY_TOLERANCE``);
    ``churn_probability`` is what the model serves (calibrated), ``base_probability`` what it
    serves at the base margin.
    """

    contributions: pd.DataFrame
    base_value: float
    margin: np.ndarray
    churn_probability: np.ndarray
    base_probability: float
    values: pd.DataFrame
    path: Path_
    output: Literal["log_odds", "probability"] = "log_odds"
    additivity_error: float = field(default=0.0)
    near_base_slope: float | None = None
    """The calibrated probability's average slope over ``base_value +- NEAR_BASE``, per unit of
    raw output; ``None`` keeps the per-row secant everywhere."""

    def probability_contributions(self) -> pd.DataFrame:
        """Contributions in probability points: each row's raw contributions scaled so they add
        up to ``churn_probability - base_probability``.

        The calibrated probability is a monotone function of the margin, so the scale factor is
        never negative and each feature keeps its direction. Within :data:`NEAR_BASE` of the
        base the per-row secant is ill-conditioned (an isotonic map's step right beside the base
        made one feature worth +3.3 probability), so those rows use ``near_base_slope`` instead
        and add up to the probability change that slope implies.
        """
        step = self.margin - self.base_value
        moved = self.churn_probability - self.base_probability
        safe = np.abs(step) > 1e-12
        scale = np.divide(moved, step, out=np.zeros_like(moved, dtype=float), where=safe)
        if self.near_base_slope is not None:
            scale = np.where(np.abs(step) < NEAR_BASE, self.near_base_slope, scale)
        return self.contributions.mul(scale, axis=0)


class ChurnExplainer:
    """Explains one served churn model; build once per model, call per batch of rows."""

    def __init__(self, parts: ModelParts, n_jobs: int = 1) -> None:
        self.parts = parts
        self.n_jobs = n_jobs
        self.features = parts.columns.all
        self._matrix = regrouping_matrix(input_owners(parts.preprocessor), self.features)
        self.path: Path_ = _path_for(parts.classifier)
        self._booster: Booster | None = None
        self._iterations = 0
        self._dense: DenseModel | None = None
        if self.path == "xgboost_native":
            self._booster, self._iterations = _own_booster(parts.classifier, n_jobs)
            self._dense = dense_model(parts)
        self._linear: Any = None
        self._tree: Any = None

    @classmethod
    def from_model(cls, model: Any, n_jobs: int = 1) -> ChurnExplainer:
        try:
            return cls(model_parts(model), n_jobs=n_jobs)
        except ValueError as error:
            raise ExplainError(f"cannot explain this model: {error}") from None

    def explain(self, frame: pd.DataFrame, model: Any) -> Explanation:
        """SHAP contributions for every row of ``frame`` (raw feature columns)."""
        try:
            values = model_inputs(frame, self.parts.columns)
        except CandidateError as error:
            raise ExplainError(
                f"{len(frame)} rows: {error}; expected the columns of the feature snapshot"
            ) from None
        # numpy instead of scikit-learn's per-call DataFrame handling where the shape allows:
        # the same inputs and served probability for a fraction of a one-row call's cost
        inputs = preprocess_rows(self.parts.preprocessor, values)
        dense = self._dense
        raw, base, margin = self._raw_contributions(inputs)
        contributions = pd.DataFrame(raw @ self._matrix, index=frame.index, columns=self.features)
        error = float(
            np.max(np.abs(base + contributions.sum(axis=1).to_numpy() - margin), initial=0.0)
        )
        if error > ADDITIVITY_TOLERANCE:
            raise ExplainError(
                f"SHAP values do not add up ({self.path}): base + sum differs from the margin by "
                f"{error:.2e} (> {ADDITIVITY_TOLERANCE}) over {len(frame)} rows"
            )
        if dense is not None:
            probability = dense.probability(inputs)
        else:
            probability = np.asarray(model.predict_proba(values)[:, 1], dtype=float)
        output: Literal["log_odds", "probability"] = (
            "probability"
            if isinstance(self.parts.classifier, RandomForestClassifier)
            else "log_odds"
        )
        return Explanation(
            contributions=contributions,
            base_value=base,
            margin=margin,
            churn_probability=probability,
            base_probability=float(self.parts.served_probability(np.array([base]))[0]),
            near_base_slope=self._near_base_slope(base) if output == "log_odds" else None,
            values=values.set_axis(frame.index),
            path=self.path,
            output=output,
            additivity_error=error,
        )

    def _near_base_slope(self, base: float) -> float:
        ends = self.parts.served_probability(np.array([base - NEAR_BASE, base + NEAR_BASE]))
        return float(ends[1] - ends[0]) / (2 * NEAR_BASE)

    def _raw_contributions(self, inputs: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """(contributions per model input, base value, margin) in the classifier's raw output."""
        if self.path == "xgboost_native":
            return _xgboost_native(self._booster, self._iterations, inputs, self.n_jobs)
        if self.path == "linear":
            return self._linear_contributions(inputs)
        if self.path == "hist_treeshap":
            classifier = self.parts.classifier
            values, base = hist_gradient_boosting_shap(classifier, inputs)
            return values, base, np.asarray(classifier.decision_function(inputs), dtype=float)
        if self._tree is None:
            import shap

            self._tree = shap.TreeExplainer(self.parts.classifier)
        return _shap_tree(self._tree, self.parts.classifier, inputs)

    def _linear_contributions(self, inputs: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        import shap

        classifier: LogisticRegression = self.parts.classifier
        if self._linear is None:
            reference = linear_reference(self.parts)
            masker = shap.maskers.Independent(reference.reshape(1, -1), max_samples=1)
            self._linear = shap.LinearExplainer(
                (classifier.coef_[0], classifier.intercept_[0]), masker
            )
        values = np.asarray(self._linear.shap_values(inputs), dtype=float)
        margin = np.asarray(classifier.decision_function(inputs), dtype=float)
        return values, float(np.ravel(self._linear.expected_value)[0]), margin


def linear_reference(parts: ModelParts) -> np.ndarray:
    """The input row the linear explanation is measured from: 0 for standardised columns (their
    training mean), ``1/k`` for each of the ``k`` one-hot columns of a categorical."""
    owners = input_owners(parts.preprocessor)
    categorical = set(parts.columns.categorical)
    counts = pd.Series(owners).value_counts()
    return np.array([1.0 / counts[owner] if owner in categorical else 0.0 for owner in owners])


_CACHE: weakref.WeakKeyDictionary[Any, dict[int, ChurnExplainer]] = weakref.WeakKeyDictionary()


def explain_rows(model: Any, frame: pd.DataFrame, n_jobs: int = 1) -> Explanation:
    """SHAP contributions and served churn probability for ``frame``'s rows under ``model``.

    The explainer (unwrapped model, own booster copy, column mapping) is cached per model object,
    so a scoring service can call this per request.
    """
    try:
        per_model = _CACHE.setdefault(model, {})
    except TypeError:  # not weak-referenceable: no cache
        per_model = {}
    if n_jobs not in per_model:
        per_model[n_jobs] = ChurnExplainer.from_model(model, n_jobs=n_jobs)
    return per_model[n_jobs].explain(frame, model)


def _path_for(classifier: Any) -> Path_:
    if isinstance(classifier, XGBClassifier):
        return "xgboost_native"
    if isinstance(classifier, HistGradientBoostingClassifier):
        return "hist_treeshap"
    if isinstance(classifier, RandomForestClassifier):
        return "shap_tree"
    if isinstance(classifier, LogisticRegression):
        return "linear"
    raise ExplainError(
        f"no SHAP path for {type(classifier).__name__}; supported: XGBClassifier, "
        "HistGradientBoostingClassifier, RandomForestClassifier, LogisticRegression"
    )


def _own_booster(classifier: XGBClassifier, n_jobs: int) -> tuple[Booster, int]:
    """A copy of the fitted booster with its own thread count (the served model is untouched)
    and the number of boosting rounds the classifier predicts with (early stopping)."""
    booster = copy.copy(classifier.get_booster())
    booster.set_param({"nthread": n_jobs})
    try:
        best = classifier.best_iteration
    except AttributeError:
        best = None
    rounds = booster.num_boosted_rounds() if best is None else int(best) + 1
    return booster, rounds


def _xgboost_native(
    booster: Booster | None, rounds: int, inputs: np.ndarray, n_jobs: int
) -> tuple[np.ndarray, float, np.ndarray]:
    assert booster is not None
    matrix = DMatrix(inputs, nthread=n_jobs)
    iteration_range = (0, rounds)
    contributions = booster.predict(matrix, pred_contribs=True, iteration_range=iteration_range)
    margin = booster.predict(matrix, output_margin=True, iteration_range=iteration_range)
    contributions = np.asarray(contributions, dtype=float)
    base = float(contributions[0, -1]) if len(contributions) else _xgboost_bias(booster, rounds)
    return contributions[:, :-1], base, np.asarray(margin, dtype=float)


def _xgboost_bias(booster: Booster, rounds: int) -> float:
    empty = DMatrix(np.full((1, booster.num_features()), np.nan))
    return float(booster.predict(empty, pred_contribs=True, iteration_range=(0, rounds))[0, -1])


def _shap_tree(
    explainer: Any, classifier: RandomForestClassifier, inputs: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """Random forests: shap's TreeExplainer on the vote share of the churn class."""
    values = np.asarray(explainer.shap_values(inputs, check_additivity=False), dtype=float)
    expected = np.ravel(np.asarray(explainer.expected_value, dtype=float))
    positive = list(classifier.classes_).index(1)
    if values.ndim == 3:
        values = values[:, :, positive]
    base = float(expected[positive] if expected.size > 1 else expected[0])
    margin = classifier.predict_proba(inputs)[:, positive]
    return values, base, np.asarray(margin, dtype=float)
