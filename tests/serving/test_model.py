from __future__ import annotations

import pytest

from models.calibration import calibrate
from models.candidates import KINDS, LABEL, feature_columns, fit_candidate, model_inputs
from models.split import plan_split, split_frame
from serving.model import known_categories
from tests.models.frames import CUTOFFS, feature_table

FAST = {
    "logistic_regression": {},
    "hist_gradient_boosting": {"max_iter": 10},
    "random_forest": {"n_estimators": 10},
    "xgboost": {"n_estimators": 20},
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("calibration", ["none", "isotonic"])
def test_known_categories_are_the_training_rows_values_through_any_wrapper(
    kind: str, calibration: str
) -> None:
    table = feature_table(customers=60)
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    columns = feature_columns(table)
    train = frames.train.copy()
    train.loc[train.index[:2], "static_plan"] = None  # a null in training is a known "missing"
    model = fit_candidate(kind, FAST[kind], columns, train, frames.validation, seed=1)
    model = calibrate(
        model,
        model_inputs(frames.validation, columns),
        frames.validation[LABEL].to_numpy(dtype=int),
        calibration,  # type: ignore[arg-type]
    )

    known = known_categories(model, columns)

    inputs = model_inputs(train, columns)
    assert known == {name: frozenset(inputs[name]) for name in columns.categorical}
    assert "missing" in known["static_plan"]
    assert known["static_loyalty_member"] == {"True", "False"}


def test_a_model_without_the_encoder_over_these_columns_claims_nothing() -> None:
    table = feature_table(customers=30)
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    columns = feature_columns(table)
    model = fit_candidate("xgboost", FAST["xgboost"], columns, frames.train, frames.validation, 1)
    other = columns.__class__(numeric=columns.numeric, categorical=columns.categorical[:1])

    assert known_categories(model, other) == {}
    assert known_categories(object(), columns) == {}
