"""The XGBoost model's served probability from its already preprocessed inputs.

``CalibratedClassifierCV.predict_proba`` on feature rows runs the whole pipeline again,
DataFrame column handling included (milliseconds per call), although the explanation has just
built the classifier's inputs (``models.candidates.preprocess_rows``). For an XGBoost classifier
under isotonic or sigmoid calibration of a frozen pipeline (or none), the same fitted objects give
the same number from those inputs: the booster's ``predict_proba``, each fold's calibrator, the
``(1, 1 + 1e-5]`` clip and the mean over folds, in scikit-learn's order of operations.

:func:`dense_model` returns ``None`` for any other shape, and the caller keeps
``model.predict_proba``; ``tests/models/explain/test_dense.py`` pins the two bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from xgboost import XGBClassifier

from models.explain.model_parts import ModelParts

CLIP_ABOVE_ONE = 1e-5  # scikit-learn's _CalibratedClassifier rounds (1, 1 + 1e-5] down to 1


@dataclass(frozen=True)
class DenseModel:
    """The classifier and calibrators of one XGBoost churn model."""

    classifier: XGBClassifier
    calibrators: tuple[tuple[Any, ...], ...]  # per fold: its one calibrator (binary)

    def probability(self, inputs: np.ndarray) -> np.ndarray:
        """The served (calibrated) churn probability for classifier inputs."""
        scores = self.classifier.predict_proba(inputs)[:, 1]
        if not self.calibrators:
            return np.asarray(scores, dtype=float)
        mean = np.zeros(len(inputs))
        for (calibrator,) in self.calibrators:
            probability = np.zeros(len(inputs))
            probability[:] = calibrator.predict(scores)
            probability[(probability > 1.0) & (probability <= 1.0 + CLIP_ABOVE_ONE)] = 1.0
            mean += probability
        mean /= len(self.calibrators)
        return mean


def dense_model(parts: ModelParts) -> DenseModel | None:
    """A :class:`DenseModel` for ``parts`` if the model has the recognised shape, else None."""
    if not isinstance(parts.classifier, XGBClassifier) or list(parts.classifier.classes_) != [0, 1]:
        return None
    calibrators: tuple[tuple[Any, ...], ...] = ()
    if parts.calibration is not None:
        folds = parts.calibration.calibrated_classifiers_
        if list(parts.calibration.classes_) != [0, 1] or any(
            fold.method not in ("isotonic", "sigmoid") or len(fold.calibrators) != 1
            for fold in folds
        ):
            return None
        calibrators = tuple((fold.calibrators[0],) for fold in folds)
    return DenseModel(
        classifier=parts.classifier,
        calibrators=calibrators,
    )
