"""The tables behind the report: groups, segments, churners vs stayers, risk tiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from structlog.testing import capture_logs

from core.names import SettingNameError
from models.explain import analysis
from tests.models.explained import explained_test_rows


def test_group_totals_preserve_each_rows_sum() -> None:
    explanation, _ = explained_test_rows()

    grouped = analysis.by_group(explanation.contributions)

    np.testing.assert_allclose(
        grouped.sum(axis=1), explanation.contributions.sum(axis=1), atol=1e-9
    )
    assert set(grouped.columns) == {
        "order recency",
        "purchase decline",
        "tenure",
        "customer profile",
    }


def test_importance_is_sorted_and_in_both_scales() -> None:
    explanation, _ = explained_test_rows()

    table = analysis.importance(explanation)

    assert table.index[0] == "rfm_days_since_last_order"  # the table's strongest signal
    assert table["mean_abs_log_odds"].is_monotonic_decreasing
    assert (table["mean_abs_probability"] <= table["mean_abs_log_odds"]).all()
    assert table.loc["static_plan", "group"] == "customer profile"


def test_segments_label_categories_and_value_and_tenure_bands() -> None:
    frame = pd.DataFrame(
        {
            "static_plan": ["basic", "plus", "basic", "basic"],
            "rfm_spend_365d": [10.0, 20.0, 300.0, np.nan],
            "lifecycle_days_since_signup": [5, 50, 500, 900],
        }
    )

    with capture_logs() as logs:
        labels = analysis.segments(
            frame,
            ["static_plan", "static_absent"],
            "rfm_spend_365d",
            "lifecycle_days_since_signup",
            2,
        )

    [skipped] = [log for log in logs if log["log_level"] == "warning"]
    assert skipped["columns"] == ["static_absent"]  # named, not silently dropped

    assert labels["plan"].tolist() == ["basic", "plus", "basic", "basic"]
    assert labels["value"].tolist() == ["low", "low", "high", "missing"]
    assert labels["tenure"].tolist() == ["new", "new", "long", "long"]
    assert "absent" not in labels


def test_a_misspelt_segment_column_is_refused_naming_the_setting() -> None:
    frame = pd.DataFrame({"static_plan": ["basic"], "rfm_spend_365d": [1.0]})

    with pytest.raises(
        SettingNameError, match=r"explain.segment_columns: 'static_plna'.*'static_plan'"
    ):
        analysis.segments(
            frame, ["static_plna"], "rfm_spend_365d", "lifecycle_days_since_signup", 2
        )


def test_churners_get_more_risk_from_recency_than_stayers() -> None:
    explanation, test = explained_test_rows()

    table = analysis.outcome_drivers(explanation, test["churned"])

    assert table.loc["order recency", "churners"] > table.loc["order recency", "stayers"]
    assert table["difference"].is_monotonic_decreasing


def test_segment_drivers_have_one_row_per_large_enough_segment() -> None:
    explanation, test = explained_test_rows()
    labels = {"plan": test["static_plan"].astype(str)}

    table = analysis.segment_drivers(explanation, labels, min_rows=5)

    counts = test["static_plan"].value_counts()
    assert sorted(table.index) == sorted(f"plan: {p} ({n})" for p, n in counts.items())


def test_risk_tiers_and_one_typical_example_per_tier() -> None:
    probabilities = np.array([0.05, 0.1, 0.3, 0.35, 0.9, 0.15])

    assert analysis.risk_tiers(probabilities, [0.2, 0.5]).tolist() == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "low",
    ]
    with pytest.raises(ValueError, match="cut points"):
        analysis.risk_tiers(probabilities, [0.1, 0.2, 0.3, 0.4, 0.5])
