from __future__ import annotations

import dataclasses

import pytest

from core.config import CandidateConfig, EconomicsConfig, TrainConfig
from models.candidates import feature_columns
from models.metrics import score_for
from models.split import LABEL, plan_split, split_frame
from models.training import MetricSettings, pick_winner, predict_churn, train_candidate
from tests.models.frames import CUTOFFS, feature_table


@pytest.fixture(scope="module")
def trained() -> tuple:
    table = feature_table()
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    columns = feature_columns(table)
    candidate = CandidateConfig(name="logistic", kind="logistic_regression")
    config = TrainConfig(calibration="isotonic", candidates=[candidate])
    settings = MetricSettings(economics=EconomicsConfig())
    result = train_candidate(candidate, frames, columns, config, settings, seed=3)
    return result, frames, columns


def test_the_selection_score_is_the_validation_metric_before_calibration(trained: tuple) -> None:
    result, frames, columns = trained
    uncalibrated = result.model.estimator.estimator  # CalibratedClassifierCV(FrozenEstimator)
    labels = frames.validation[LABEL].to_numpy(dtype=int)

    scores = predict_churn(uncalibrated, frames.validation, columns)
    before = score_for("pr_auc", labels, scores, EconomicsConfig())

    assert result.selection_score == pytest.approx(before, abs=1e-12)
    # isotonic pooling makes ties, so the in-sample calibrated figure differs
    assert result.validation_metrics["pr_auc"] != pytest.approx(before, abs=1e-9)


def test_the_winner_is_picked_before_calibration_not_on_in_sample_metrics(
    trained: tuple,
) -> None:
    result, _, _ = trained
    ranks_first_raw = dataclasses.replace(
        result, name="a", selection_score=0.80, validation_metrics={"pr_auc": 0.70}
    )
    ranks_first_calibrated = dataclasses.replace(
        result, name="b", selection_score=0.79, validation_metrics={"pr_auc": 0.75}
    )

    assert pick_winner([ranks_first_calibrated, ranks_first_raw]).name == "a"
    tie = dataclasses.replace(ranks_first_raw, name="c")
    assert pick_winner([tie, ranks_first_raw]).name == "c"  # ties: the one listed first
