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
from tests.models.reason_rows import regroup_rows

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
    # none of these features moves group with the row's values: the same totals given them
    assert group_contributions(CONTRIBUTIONS, VALUES) == totals


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


def one_customer(
    contributions: dict[str, float], margin: float = 0.0, churn_probability: float = 0.5
) -> Explanation:
    """An explanation of one customer with :data:`VALUES` as feature values."""
    return Explanation(
        contributions=pd.DataFrame([contributions]),
        base_value=0.0,
        margin=np.array([margin]),
        churn_probability=np.array([churn_probability]),
        base_probability=0.5,
        values=pd.DataFrame([VALUES]),
        path="xgboost_native",
    )


def test_a_push_of_exactly_the_minimum_is_not_a_reason_either_way() -> None:
    contributions = {"rfm_days_since_last_order": 0.25, "loyalty_points_earned_90d": -0.25}
    explanation = one_customer(contributions)

    assert reason_codes(contributions, VALUES, include_lowering=True, min_contribution=0.25) == []
    assert reasons_for_rows(explanation, include_lowering=True, min_contribution=0.25) == [[]]


def test_a_customer_nothing_pushes_up_gets_no_reasons() -> None:
    lowering = {name: -abs(value) for name, value in CONTRIBUTIONS.items()}

    assert reason_codes(lowering, VALUES) == []
    explanation = one_customer(lowering, margin=sum(lowering.values()), churn_probability=0.1)
    assert reasons_for_rows(explanation) == [[]]


def test_a_lowering_reason_is_worded_from_the_feature_lowering_most() -> None:
    contributions = {"support_tickets_90d": -0.1, "support_tickets_365d": -0.5}

    [code] = reason_codes(contributions, VALUES, top_k=1, include_lowering=True)

    assert (code.group, code.direction) == ("support friction", "lowers")
    assert code.feature == "support_tickets_365d"
    assert code.contribution == pytest.approx(-0.6)


def test_top_k_is_three_unless_asked_zero_gives_none_and_negative_is_refused() -> None:
    """A negative ``top_k`` would slice from the end (all but the last reasons), not mean none."""
    explanation = one_customer(CONTRIBUTIONS)

    with pytest.raises(ValueError, match="top_k must be >= 0, got -1"):
        reason_codes(CONTRIBUTIONS, VALUES, top_k=-1)
    with pytest.raises(ValueError, match="top_k must be >= 0, got -1"):
        reasons_for_rows(explanation, top_k=-1)
    assert reason_codes(CONTRIBUTIONS, VALUES, top_k=0, include_lowering=True) == []
    assert reasons_for_rows(explanation, top_k=0, include_lowering=True) == [[]]
    # unasked, a customer hears three reasons at most
    assert len(reason_codes(CONTRIBUTIONS, VALUES)) == 3
    assert [len(codes) for codes in reasons_for_rows(explanation)] == [3]


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


def test_a_last_order_on_the_first_day_of_the_window_keeps_the_decline_its_own_reason() -> None:
    """90 days since the last order: that order lies inside the 90-day window, which is not
    empty, so its trend is a purchase decline, not the recency story."""
    contributions = {
        "rfm_days_since_last_order": 0.5,
        "rfm_spend_trend_90d": 0.8,
        "rfm_orders_365d": 0.1,
    }
    edge = {"rfm_days_since_last_order": 90.0, "rfm_spend_trend_90d": -0.6, "rfm_orders_365d": 2.0}

    codes = reason_codes(contributions, edge, top_k=3)

    assert [c.group for c in codes] == ["purchase decline", "order recency"]
    assert group_contributions(contributions, edge)["order recency"] == pytest.approx(0.5)


def test_a_customer_the_export_marks_as_not_enrolled_is_told_so_not_that_they_earn_nothing() -> (
    None
):
    """``loyalty_member`` is loyalty activity; membership is the export's own attribute."""
    contributions = {
        "events_days_since_loyalty_earn": 0.6,
        "loyalty_member": 0.2,
        "static_loyalty_member": 0.1,
    }
    inactive = {"events_days_since_loyalty_earn": None, "loyalty_member": 0}

    outside = reason_codes(contributions, inactive | {"static_loyalty_member": "False"})
    enrolled = reason_codes(contributions, inactive | {"static_loyalty_member": "True"})
    unknown = reason_codes(contributions, inactive)

    assert (outside[0].group, outside[0].feature, outside[0].text) == (
        "loyalty inactivity",
        "events_days_since_loyalty_earn",
        "Not enrolled in the loyalty programme",
    )
    assert outside[0].contribution == pytest.approx(0.8)
    assert outside[0].family == "loyalty"  # the group's, not its lead's (events)
    for codes in (enrolled, unknown):
        assert codes[0].text == "No loyalty earn within the history"


def test_a_customer_who_unsubscribed_is_told_so_not_that_they_open_no_e_mail() -> None:
    """211 unsubscribed snapshot customers read "No email open within the history": true, and
    a consequence of the unsubscribe, which is what the CRM agent needs to know."""
    contributions = {
        "events_days_since_email_open": 0.5,
        "engagement_email_open_rate_90d": 0.3,
        "events_days_since_email_unsubscribe": 0.1,
    }
    silent = {"events_days_since_email_open": None, "engagement_email_open_rate_90d": None}

    unsubscribed = reason_codes(contributions, silent | {"events_days_since_email_unsubscribe": 40})
    subscribed = reason_codes(contributions, silent | {"events_days_since_email_unsubscribe": None})

    assert (unsubscribed[0].group, unsubscribed[0].feature, unsubscribed[0].text) == (
        "e-mail disengagement",
        "events_days_since_email_open",
        "Unsubscribed from marketing e-mails 40 days ago",
    )
    assert unsubscribed[0].contribution == pytest.approx(0.9)
    assert subscribed[0].text == "No email open within the history"
    assert reason_codes(contributions, silent)[0].text == subscribed[0].text


@pytest.mark.parametrize("min_contribution", [0.0, 0.05])
def test_rows_at_once_equal_one_row_at_a_time_where_features_change_group(
    min_contribution: float,
) -> None:
    """A minimum of 0 used to pick a group every feature had left (its total a rounding
    residue) and crash on an empty lead."""
    explanation = regroup_rows(600)

    rows = reasons_for_rows(explanation, 3, True, min_contribution)

    for position, codes in enumerate(rows):
        values = explanation.values.iloc[position].to_dict()
        values["static_region"] = int(values["static_region"])  # as a service row holds it
        expected = reason_codes(
            explanation.contributions.iloc[position], values, 3, True, min_contribution
        )
        assert [(c.group, c.feature, c.text, c.direction) for c in codes] == [
            (c.group, c.feature, c.text, c.direction) for c in expected
        ], position
        assert [c.contribution for c in codes] == pytest.approx([c.contribution for c in expected])


def test_a_group_every_feature_left_is_never_a_reason() -> None:
    contributions = {"rfm_days_since_last_order": 0.5, "rfm_spend_trend_90d": -0.3}
    contributions |= {"rfm_orders_trend_90d": 0.2, "rfm_spend_trend_30d": 0.1}

    codes = reason_codes(contributions, {"rfm_days_since_last_order": 400.0}, 3, True, 0.0)

    assert [c.group for c in codes] == ["order recency"]
    assert group_contributions(contributions, {"rfm_days_since_last_order": 400.0}) == {
        "order recency": pytest.approx(0.5)
    }


def test_text_attributes_are_quoted_as_given() -> None:
    """One row went through a frame, which turned an integer code into 12.0."""
    codes = reason_codes({"static_region": 0.4}, {"static_region": 12})

    assert codes[0].text == "Region: 12"
