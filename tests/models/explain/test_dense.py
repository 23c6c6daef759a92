"""The numpy path of the XGBoost explanation gives scikit-learn's inputs and served probability
bit for bit, including nulls and categories the encoder never saw."""

from __future__ import annotations

import numpy as np
import pytest

from models.candidates import feature_columns, fit_candidate, model_inputs, preprocess_rows
from models.explain import explain_rows
from models.explain.dense import dense_model
from models.explain.model_parts import model_parts
from models.split import SplitFrames, plan_split, split_frame
from tests.models.frames import CUTOFFS, awkward_rows, calibrated_xgboost, feature_table


@pytest.fixture(scope="module")
def frames() -> SplitFrames:
    return split_frame(feature_table(customers=80), plan_split(CUTOFFS, horizon_days=60))


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid", "none"])
def test_dense_inputs_and_probability_equal_scikit_learns(
    frames: SplitFrames, calibration: str
) -> None:
    params = {"n_estimators": 30, "early_stopping_rounds": 5}
    model, columns = calibrated_xgboost(frames, calibration, params, seed=3)
    rows = awkward_rows(frames.test)
    values = model_inputs(rows, columns)
    parts = model_parts(model)

    dense = dense_model(parts)

    assert dense is not None
    inputs = preprocess_rows(parts.preprocessor, values)
    expected_inputs = np.asarray(parts.preprocessor.transform(values), dtype=float)
    assert np.array_equal(inputs, expected_inputs, equal_nan=True)
    assert np.isnan(inputs).any() and set(np.unique(inputs[:, len(columns.numeric) :])) == {0, 1}
    served = model.predict_proba(values)[:, 1]
    assert np.array_equal(dense.probability(inputs), served)
    assert np.array_equal(explain_rows(model, rows).churn_probability, served)


def test_other_model_shapes_keep_scikit_learns_path(frames: SplitFrames) -> None:
    columns = feature_columns(frames.train)
    params = {"max_iter": 10}
    fitted = fit_candidate(
        "hist_gradient_boosting", params, columns, frames.train, frames.validation, seed=3
    )

    assert dense_model(model_parts(fitted)) is None
