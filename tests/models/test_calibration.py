from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from models.calibration import calibrate
from models.metrics import expected_calibration_error


def _rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    churned = (rng.random(n) < 1 / (1 + np.exp(-(x - 2.0)))).astype(int)  # ~15% churn
    return pd.DataFrame({"x": x}), churned


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_on_held_out_rows_improves_ece(method: str) -> None:
    x_train, y_train = _rows(3000, 0)
    x_calib, y_calib = _rows(3000, 1)
    x_test, y_test = _rows(5000, 2)
    # class weights push every probability up: a 15% base rate scored around 50%
    model = LogisticRegression(class_weight="balanced").fit(x_train, y_train)
    before = expected_calibration_error(y_test, model.predict_proba(x_test)[:, 1])

    calibrated = calibrate(model, x_calib, y_calib, method)
    after = expected_calibration_error(y_test, calibrated.predict_proba(x_test)[:, 1])

    assert before > 0.15
    assert after < 0.03
    assert after < before / 5


def test_none_returns_the_model_unchanged() -> None:
    x, y = _rows(200, 0)
    model = LogisticRegression().fit(x, y)

    assert calibrate(model, x, y, "none") is model
