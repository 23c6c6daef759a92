from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from structlog.testing import capture_logs

from core.config import EconomicsConfig, EvaluateConfig, TrainConfig
from models.candidates import feature_columns
from models.evaluation import (
    backtest,
    oracle_ratios,
    oracle_scores,
    segment_labels,
    segment_metrics,
    stability,
)
from models.split import rolling_origins
from models.training import MetricSettings
from tests.models.frames import CUTOFFS, feature_table

DAY = dt.date(2024, 10, 3)


def test_oracle_scores_join_on_keys_and_score_already_churned_customers_one() -> None:
    test = pd.DataFrame({"customer_id": ["A", "B", "C"], "cutoff_date": [DAY] * 3})
    truth = pd.DataFrame(
        {
            "customer_id": ["C", "A", "A"],
            "cutoff_date": [DAY, DAY, dt.date(2024, 9, 3)],
            "p_churn_no_offer": [0.2, 0.7, 0.9],
        }
    )

    scores, matched = oracle_scores(test, truth)

    np.testing.assert_array_equal(scores, [0.7, 1.0, 0.2])
    assert matched == pytest.approx(2 / 3)


def test_oracle_ratios_divide_model_by_oracle() -> None:
    ratios = oracle_ratios(
        {"roc_auc": 0.9, "pr_auc": 0.5, "ece": 0.1}, {"roc_auc": 0.95, "pr_auc": 0.5}
    )

    assert ratios == {"roc_auc": pytest.approx(0.9 / 0.95), "pr_auc": 1.0}


def test_segments_keep_categories_and_cut_quantile_bands() -> None:
    test = pd.DataFrame(
        {
            "static_plan": pd.array(["basic", None, "plus", "basic"], dtype="str"),
            "lifecycle_days_since_signup": [10, 400, 200, 30],
            "rfm_spend_365d": [5.0, np.nan, 50.0, 500.0],
        }
    )
    config = EvaluateConfig(segment_columns=["static_plan", "static_country"], bands=2)

    with capture_logs() as logs:
        segments = segment_labels(test, config)

    [skipped] = [log for log in logs if log["log_level"] == "warning"]
    assert skipped["columns"] == ["static_country"]  # named, not silently dropped

    assert list(segments.columns) == ["static_plan", "tenure_band", "value_band"]
    assert segments["static_plan"].tolist() == ["basic", "missing", "plus", "basic"]
    assert segments["tenure_band"].tolist() == ["q1", "q2", "q2", "q1"]
    assert segments["value_band"].tolist() == ["q1", "missing", "q1", "q2"]


def test_small_segments_report_counts_only() -> None:
    labels = np.array([1, 0, 1, 0, 1, 0])
    scores = np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3])
    segments = pd.DataFrame({"plan": ["a", "a", "a", "a", "b", "b"]})
    settings = MetricSettings(economics=EconomicsConfig(), top_fraction=0.5)

    result = segment_metrics(labels, scores, segments, settings, min_rows=3)

    assert result["plan"]["a"]["roc_auc"] == 1.0
    assert result["plan"]["b"] == {"rows": 2.0, "churn_rate": 0.5}


def test_stability_summarises_a_metric_over_origins() -> None:
    rows = [{"roc_auc": 0.9}, {"roc_auc": 0.8}]

    assert stability(rows, "roc_auc") == pytest.approx(
        {"mean": 0.85, "std": 0.05, "min": 0.8, "max": 0.9}
    )


def test_backtest_skips_an_origin_whose_training_cutoffs_lack_a_feature() -> None:
    """A source that starts late (a support tool adopted mid-history) leaves early origins with
    no value of a feature the champion uses: those origins are skipped, the others refitted."""
    table = feature_table(customers=150)
    late = pd.to_datetime(table["cutoff_date"]).dt.date < CUTOFFS[3]
    table.loc[late, "rfm_spend_365d"] = np.nan
    origins = rolling_origins(CUTOFFS, 60, embargo=False, n_origins=4, min_train_cutoffs=1)
    columns = feature_columns(table)

    with capture_logs() as logs:
        rows = backtest(
            table,
            origins,
            "hist_gradient_boosting",
            {"max_iter": 20},
            columns,
            TrainConfig(),
            MetricSettings(economics=EconomicsConfig()),
            seed=0,
        )

    usable = [s for s in origins if not set(s.train) <= set(CUTOFFS[:3])]
    assert [row["test_cutoff"] for row in rows] == [s.test.isoformat() for s in usable]
    assert 0 < len(usable) < len(origins)
    skipped = [log for log in logs if log["event"] == "backtest origin skipped"]
    assert len(skipped) == len(origins) - len(usable)
    assert "rfm_spend_365d" in skipped[0]["reason"]
