"""The pieces of a trained churn model that an explanation needs.

A served model is ``CalibratedClassifierCV(FrozenEstimator(Pipeline[preprocess, classifier]))``
(or the bare pipeline when calibration is off). SHAP explains the classifier's raw output on its
own inputs; the calibration map turns that raw output into the probability the model serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from models.candidates import FeatureColumns


class ModelShapeError(ValueError):
    """The object is not a churn model this project trains."""


@dataclass(frozen=True)
class ModelParts:
    """Preprocessor, classifier and calibration of one served churn model."""

    preprocessor: ColumnTransformer
    classifier: Any
    columns: FeatureColumns
    calibration: CalibratedClassifierCV | None
    uses_decision_function: bool

    def raw_to_score(self, raw: np.ndarray) -> np.ndarray:
        """What the calibration map reads for a raw output: the margin itself, or the
        classifier's own probability (sigmoid of the margin) when it has no decision function."""
        if self.uses_decision_function:
            return raw
        if _is_random_forest(self.classifier):
            return raw  # a forest's raw output already is its vote share
        return 1.0 / (1.0 + np.exp(-raw.astype(np.float32)))

    def served_probability(self, raw: np.ndarray) -> np.ndarray:
        """The churn probability the model serves for a given raw classifier output."""
        score = self.raw_to_score(np.asarray(raw, dtype=float))
        if self.calibration is None:
            return np.asarray(score, dtype=float)
        per_fold = []
        for calibrated in self.calibration.calibrated_classifiers_:
            if calibrated.method not in ("isotonic", "sigmoid"):
                raise ModelShapeError(f"calibration method {calibrated.method!r} is not supported")
            probability = np.asarray(calibrated.calibrators[0].predict(score), dtype=float)
            per_fold.append(
                np.where((probability > 1.0) & (probability <= 1.0 + 1e-5), 1.0, probability)
            )
        return np.mean(per_fold, axis=0)


def model_parts(model: Any) -> ModelParts:
    """Unwrap a served churn model into the parts an explanation needs."""
    calibration = model if isinstance(model, CalibratedClassifierCV) else None
    pipeline = model
    if calibration is not None:
        folds = calibration.calibrated_classifiers_
        pipeline = folds[0].estimator
        pipeline = getattr(pipeline, "estimator", pipeline)  # FrozenEstimator wraps the pipeline
        if len(folds) != 1:
            raise ModelShapeError(
                f"the calibrated model holds {len(folds)} fitted copies (cross-validated "
                "calibration); explanations need one classifier (FrozenEstimator calibration)"
            )
    if not isinstance(pipeline, Pipeline) or set(pipeline.named_steps) != {
        "preprocess",
        "classifier",
    }:
        raise ModelShapeError(
            f"expected a Pipeline with steps 'preprocess' and 'classifier' (models/candidates.py), "
            f"got {type(pipeline).__name__}"
        )
    preprocessor = pipeline.named_steps["preprocess"]
    by_name = {name: list(cols) for name, _, cols in preprocessor.transformers_}
    columns = FeatureColumns(
        numeric=tuple(by_name.get("numeric", [])), categorical=tuple(by_name.get("categorical", []))
    )
    return ModelParts(
        preprocessor=preprocessor,
        classifier=pipeline.named_steps["classifier"],
        columns=columns,
        calibration=calibration,
        uses_decision_function=hasattr(pipeline, "decision_function"),
    )


def _is_random_forest(classifier: Any) -> bool:
    from sklearn.ensemble import RandomForestClassifier

    return isinstance(classifier, RandomForestClassifier)
