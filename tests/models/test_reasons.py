"""Reason codes: grouped contributions, order, direction, wording and the JSON form."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.explain import Explanation
from models.reasons import (
    ReasonCode,
    group_contributions,
    reason_codes,
    reasons_for_rows,
    reasons_json,
)

CONTRIBUTIONS = {
    "rfm_days_since_last_order": 0.9,
    "rfm_gap_mean_days_365d": 0.1,
    "support_tickets_90d": 0.2,
    "support_first_response_hours_max_365d": 0.3,
    "support_tickets_365d": 0.15,
    "engagement_email_open_rate_90d": 0.4,
    "events_count_30d_email_open": 0.05,
    "lifecycle_days_since_signup": 0.02,
    "loyalty_points_earned_90d": -0.6,
    "static_plan": -0.1,
}
VALUES = {
    "rfm_days_since_last_order": 74.0,
    "rfm_gap_mean_days_365d": 21.0,
    "support_tickets_90d": 3.0,
    "support_tickets_365d": 4.0,
    "support_first_response_hours_max_365d": 52.0,
    "engagement_email_open_rate_90d": 0.05,
    "events_count_30d_email_open": 0.0,
    "lifecycle_days_since_signup": 400.0,
    "loyalty_points_earned_90d": 350.0,
    "static_plan": "plus",
}


def test_groups_sum_their_features_so_correlated_columns_make_one_reason() -> None:
    totals = group_contributions(CONTRIBUTIONS)

    assert totals["support friction"] == pytest.approx(0.65)
    assert totals["e-mail disengagement"] == pytest.approx(0.45)  # engagement + email events
    assert totals["order recency"] == pytest.approx(1.0)
    assert sum(totals.values()) == pytest.approx(sum(CONTRIBUTIONS.values()))


def test_top_raising_reasons_largest_first_worded_from_the_lead_feature() -> None:
    codes = reason_codes(CONTRIBUTIONS, VALUES, top_k=3)

    assert [c.group for c in codes] == ["order recency", "support friction", "e-mail disengagement"]
    assert codes[0] == ReasonCode(
        feature="rfm_days_since_last_order",
        family="rfm",
        group="order recency",
        text="No order for 74 days (usual gap 21 days)",
        direction="raises",
        contribution=pytest.approx(1.0),
        actionable=True,
    )
    assert codes[1].feature == "support_first_response_hours_max_365d"
    assert codes[1].text == "Slowest first response in the last year 52 h (4 support tickets)"
    assert codes[2].family == "engagement"
    assert all(c.direction == "raises" and c.actionable for c in codes)


def test_lowering_reasons_follow_when_asked() -> None:
    codes = reason_codes(CONTRIBUTIONS, VALUES, top_k=2, include_lowering=True)

    assert [c.direction for c in codes] == ["raises", "raises", "lowers", "lowers"]
    assert codes[2].group == "loyalty inactivity"
    assert codes[2].text == "Earned 350 loyalty points in the last 90 days"
    assert codes[3].group == "customer profile"
    assert codes[3].actionable is False
    assert codes[3].text == "On the plus plan"


def test_small_pushes_are_not_reasons() -> None:
    codes = reason_codes(CONTRIBUTIONS, VALUES, top_k=10, min_contribution=0.05)

    assert "tenure" not in {c.group for c in codes}  # 0.02 log-odds
    assert len(codes) == 3


def test_a_push_of_exactly_the_minimum_is_not_a_reason_either_way() -> None:
    contributions = {"rfm_days_since_last_order": 0.25, "loyalty_points_earned_90d": -0.25}
    explanation = Explanation(
        contributions=pd.DataFrame([contributions]),
        base_value=0.0,
        margin=np.array([0.0]),
        churn_probability=np.array([0.5]),
        base_probability=0.5,
        values=pd.DataFrame([VALUES]),
        path="xgboost_native",
    )

    assert reason_codes(contributions, VALUES, include_lowering=True, min_contribution=0.25) == []
    assert reasons_for_rows(explanation, include_lowering=True, min_contribution=0.25) == [[]]


def test_a_customer_nothing_pushes_up_gets_no_reasons() -> None:
    lowering = {name: -abs(value) for name, value in CONTRIBUTIONS.items()}

    assert reason_codes(lowering, VALUES) == []


def test_rows_of_an_explanation_and_the_json_form() -> None:
    frame = pd.DataFrame([CONTRIBUTIONS, {k: -v for k, v in CONTRIBUTIONS.items()}])
    explanation = Explanation(
        contributions=frame,
        base_value=-1.0,
        margin=-1.0 + frame.sum(axis=1).to_numpy(),
        churn_probability=np.array([0.6, 0.1]),
        base_probability=0.27,
        values=pd.DataFrame([VALUES, VALUES]),
        path="xgboost_native",
    )

    rows = reasons_for_rows(explanation, top_k=1)
    payload = json.loads(reasons_json(rows[0]))

    assert [len(r) for r in rows] == [1, 1]
    assert rows[1][0].group == "loyalty inactivity"
    assert payload == [rows[0][0].as_dict()]
    assert set(payload[0]) == {
        "feature",
        "family",
        "group",
        "text",
        "direction",
        "contribution",
        "actionable",
    }


def test_rows_at_once_equal_one_row_at_a_time() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        rng.normal(scale=0.3, size=(25, len(CONTRIBUTIONS))), columns=list(CONTRIBUTIONS)
    )
    explanation = Explanation(
        contributions=frame,
        base_value=0.0,
        margin=frame.sum(axis=1).to_numpy(),
        churn_probability=np.full(25, 0.5),
        base_probability=0.5,
        values=pd.DataFrame([VALUES] * 25),
        path="xgboost_native",
    )

    rows = reasons_for_rows(explanation, top_k=2, include_lowering=True, min_contribution=0.1)

    for position, codes in enumerate(rows):
        expected = reason_codes(
            frame.iloc[position], VALUES, top_k=2, include_lowering=True, min_contribution=0.1
        )
        assert [(c.group, c.feature, c.text, c.direction) for c in codes] == [
            (c.group, c.feature, c.text, c.direction) for c in expected
        ]
        assert [c.contribution for c in codes] == pytest.approx([c.contribution for c in expected])


def test_a_decline_over_a_window_without_orders_joins_recency_as_one_reason() -> None:
    """4,713 snapshot customers read two reasons for one fact: "No order for 301 days" and
    "No spending in the last 180 days" (the spend trend over two empty 90-day windows)."""
    contributions = {
        "rfm_days_since_last_order": 0.5,
        "rfm_spend_trend_90d": 0.8,
        "rfm_orders_365d": 0.1,
        "support_tickets_90d": 0.3,
    }
    idle = {"rfm_days_since_last_order": 301.0, "rfm_spend_trend_90d": None, "rfm_orders_365d": 2.0}

    codes = reason_codes(contributions, idle, top_k=3)

    assert [c.group for c in codes] == ["order recency", "support friction", "purchase decline"]
    assert codes[0].text == "No order for 301 days"  # the group's own lead, not the trend
    assert codes[0].contribution == pytest.approx(1.3)
    assert codes[2].feature == "rfm_orders_365d"  # 2 orders within the year: still a decline
    assert group_contributions(contributions, idle)["order recency"] == pytest.approx(1.3)

    active = idle | {"rfm_days_since_last_order": 20.0, "rfm_spend_trend_90d": -0.6}
    codes = reason_codes(contributions, active, top_k=3)
    assert [c.group for c in codes] == ["purchase decline", "order recency", "support friction"]
    assert codes[0].text == "Spending down over the last 90 days compared with the 90 before"

    never = idle | {"rfm_days_since_last_order": None, "rfm_orders_365d": 0.0}
    codes = reason_codes(contributions, never, top_k=3)
    assert [c.group for c in codes] == ["order recency", "support friction"]
    assert codes[0].text == "No order within the history"


def test_a_customer_outside_the_loyalty_programme_is_told_so_not_that_they_earn_nothing() -> None:
    contributions = {"events_days_since_loyalty_earn": 0.6, "loyalty_member": 0.2}

    outside = reason_codes(
        contributions, {"events_days_since_loyalty_earn": None, "loyalty_member": 0}
    )
    member = reason_codes(
        contributions, {"events_days_since_loyalty_earn": None, "loyalty_member": 1}
    )

    assert [(c.feature, c.text) for c in outside] == [
        ("loyalty_member", "Loyalty programme member: no")
    ]
    assert outside[0].contribution == pytest.approx(0.8)
    assert [(c.feature, c.text) for c in member] == [
        ("events_days_since_loyalty_earn", "No loyalty earn within the history")
    ]
