from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.candidates import (
    KINDS,
    CandidateError,
    feature_columns,
    fit_candidate,
    fitted_settings,
    model_inputs,
)
from models.split import plan_split, split_frame
from tests.models.frames import CUTOFFS, feature_table

FAST = {
    "logistic_regression": {},
    "hist_gradient_boosting": {"max_iter": 30},
    "random_forest": {"n_estimators": 30},
    "xgboost": {"n_estimators": 200, "early_stopping_rounds": 10},
}


def test_feature_columns_split_numbers_from_categories() -> None:
    columns = feature_columns(feature_table(customers=5))

    assert columns.categorical == (
        "static_plan",
        "static_acquisition_channel",
        "static_loyalty_member",
    )
    assert "churned" not in columns.all and "customer_id" not in columns.all
    assert "rfm_days_since_last_order" in columns.numeric


def test_model_inputs_name_nulls_and_stringify_categories() -> None:
    table = pd.DataFrame(
        {
            "static_plan": pd.array(["plus", None], dtype="str"),
            "static_loyalty_member": [True, False],
            "rfm_orders_30d": [1, 2],
        }
    )
    columns = feature_columns(table)

    inputs = model_inputs(table, columns)

    assert inputs["static_plan"].tolist() == ["plus", "missing"]
    assert inputs["static_loyalty_member"].tolist() == ["True", "False"]
    assert inputs["rfm_orders_30d"].dtype == np.float64


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_learns_the_signal_and_scores_unseen_categories(kind: str) -> None:
    table = feature_table()
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    columns = feature_columns(table)

    model = fit_candidate(kind, FAST[kind], columns, frames.train, frames.validation, seed=1)
    test = frames.test.assign(static_acquisition_channel="tv")  # never seen in training
    probabilities = model.predict_proba(model_inputs(test, columns))[:, 1]

    assert probabilities.shape == (len(test),)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert roc_auc_score(test["churned"], probabilities) > 0.7


def test_xgboost_stops_early_on_the_validation_cutoff() -> None:
    table = feature_table()
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    params = {"n_estimators": 2000, "learning_rate": 0.3, "early_stopping_rounds": 5}

    model = fit_candidate(
        "xgboost", params, feature_columns(table), frames.train, frames.validation, 1
    )

    assert fitted_settings(model)["best_iteration"] < 200


def test_unknown_params_name_the_candidate() -> None:
    table = feature_table(customers=30)
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))

    with pytest.raises(CandidateError, match="logistic_regression: invalid params"):
        fit_candidate(
            "logistic_regression",
            {"depth": 3},
            feature_columns(table),
            frames.train,
            frames.validation,
            1,
        )
