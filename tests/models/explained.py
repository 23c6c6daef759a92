"""A small fitted XGBoost churn model and its explanation, shared by the report tests."""

from __future__ import annotations

from functools import cache

import pandas as pd

from models.calibration import calibrate
from models.candidates import feature_columns, fit_candidate, model_inputs
from models.explain import Explanation, explain_rows
from models.split import plan_split, split_frame
from tests.models.frames import CUTOFFS, feature_table


@cache
def explained_test_rows() -> tuple[Explanation, pd.DataFrame]:
    """The test cutoff of ``feature_table`` explained under a calibrated XGBoost model."""
    table = feature_table(customers=200)
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    columns = feature_columns(table)
    params = {"n_estimators": 60, "early_stopping_rounds": 10, "max_depth": 3}
    fitted = fit_candidate("xgboost", params, columns, frames.train, frames.validation, 5)
    inputs = model_inputs(frames.validation, columns)
    model = calibrate(fitted, inputs, frames.validation["churned"].to_numpy(), "isotonic")
    return explain_rows(model, frames.test), frames.test
