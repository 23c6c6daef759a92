"""Probability calibration on the validation cutoff, so a score of 0.3 means a 30% churn risk.

Class weighting and tree ensembles bend predicted probabilities away from observed frequencies.
The fitted model is frozen and a monotone map (Platt ``sigmoid`` or ``isotonic``) is fitted from
its scores to the validation labels — rows the model never trained on. The result is still one
scikit-learn estimator taking raw feature columns.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

CalibrationMethod = Literal["isotonic", "sigmoid", "none"]


def calibrate(model: Any, inputs: pd.DataFrame, labels: Any, method: CalibrationMethod) -> Any:
    """``model`` with a calibration map fitted on (``inputs``, ``labels``); ``none`` returns it.

    ``inputs`` must be rows the model was not trained on (the validation cutoff), otherwise the
    map learns the model's overconfidence on its own training data.
    """
    if method == "none":
        return model
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method=method)
    return calibrated.fit(inputs, labels)
