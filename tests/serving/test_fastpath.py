"""The pandas-free score-only path (XGBoost or the compiled tree walk) equals the pipeline's
``predict_churn`` bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.candidates import feature_columns, fit_candidate
from models.split import SplitFrames, plan_split, split_frame
from models.training import predict_churn
from serving.fastpath import TREES_MAX_ROWS, compile_fast_scorer, snapshot_rows, without_trees
from tests.models.frames import CUTOFFS, awkward_rows, calibrated_xgboost, feature_table


@pytest.fixture(scope="module")
def frames() -> SplitFrames:
    return split_frame(feature_table(customers=80), plan_split(CUTOFFS, horizon_days=60))


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid", "none"])
def test_xgboost_pipelines_score_identically_including_nulls_and_unknown_categories(
    frames: SplitFrames, calibration: str
) -> None:
    params = {"n_estimators": 30, "early_stopping_rounds": 5}
    model, columns = calibrated_xgboost(frames, calibration, params, seed=3)
    rows = awkward_rows(frames.test)

    fast = compile_fast_scorer(model, columns)

    assert fast is not None
    expected = predict_churn(model, rows, columns)
    assert np.array_equal(fast.probabilities(snapshot_rows(rows, columns.all)), expected)


def test_other_model_shapes_keep_the_standard_path(frames: SplitFrames) -> None:
    columns = feature_columns(frames.train)
    logistic = fit_candidate("logistic_regression", {}, columns, frames.train, frames.validation, 3)

    assert compile_fast_scorer(logistic, columns) is None


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid", "none"])
def test_the_compiled_tree_walk_scores_single_rows_identically(
    frames: SplitFrames, calibration: str
) -> None:
    """Requests of up to TREES_MAX_ROWS rows go through the tree walk, not XGBoost."""
    params = {"n_estimators": 40, "max_depth": 4}
    model, columns = calibrated_xgboost(frames, calibration, params, seed=5)
    rows = pd.concat([frames.test, frames.validation])
    rows.loc[rows.index[:5], "static_plan"] = None
    rows.loc[rows.index[5:10], "static_acquisition_channel"] = "carrier_pigeon"
    rows.loc[rows.index[10:20], "rfm_spend_365d"] = np.nan

    fast = compile_fast_scorer(model, columns)

    assert fast is not None and fast.trees is not None
    expected = predict_churn(model, rows, columns)
    values = snapshot_rows(rows, columns.all)
    walked = np.concatenate(
        [
            fast.probabilities(values[start : start + TREES_MAX_ROWS])
            for start in range(0, len(values), TREES_MAX_ROWS)
        ]
    )
    assert np.array_equal(walked, expected)
    single = np.concatenate([fast.probabilities([value]) for value in values[:40]])
    assert np.array_equal(single, expected[:40])
    assert np.array_equal(without_trees(fast).probabilities(values), expected)


def test_a_walk_that_cannot_compile_leaves_scoring_to_xgboost(
    frames: SplitFrames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If numba fails (missing, or cannot compile here), the service must still load and score."""
    import serving.fastpath

    def broken() -> None:
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(serving.fastpath, "_compiled_walk", broken)
    model, columns = calibrated_xgboost(frames, "isotonic", {"n_estimators": 20}, seed=7)
    rows = frames.test.head(5)

    fast = compile_fast_scorer(model, columns)

    assert fast is not None and fast.trees is None
    expected = predict_churn(model, rows, columns)
    assert np.array_equal(fast.probabilities(snapshot_rows(rows, columns.all)), expected)
