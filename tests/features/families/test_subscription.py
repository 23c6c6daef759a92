from __future__ import annotations

import datetime as dt
import math

import pytest

from core.config import ChurnConfig
from features.build import compute_features
from tests.features.raw_tables import CHURN, by_customer, customers, only, orders, table

CUTOFF = dt.date(2024, 7, 1)


def subscription(
    subscription_id: str, customer: str, start: str, end: str | None, mrr: float
) -> dict:
    return {
        "subscription_id": subscription_id,
        "customer_id": customer,
        "start_date": start,
        "end_date": end,
        "mrr": mrr,
    }


SUBSCRIPTIONS = [
    # A: 912 days before the cutoff (beyond the 730-day history), ended 77 days before it
    subscription("S1", "A", "2022-01-01", "2024-04-15", 20.0),
    # A: the downgrade that followed, still running
    subscription("S2", "A", "2024-04-16", None, 12.0),
    # A: started and ending on the day before the cutoff: its end is not known yet, so running
    subscription("S3", "A", "2024-06-30", "2024-06-30", 5.0),
    # A: starts on the cutoff day: not known at all
    subscription("S4", "A", "2024-07-01", None, 99.0),
    # C: ended two days before the cutoff, the latest end one can know of
    subscription("S5", "C", "2023-01-01", "2024-06-29", 30.0),
]


@pytest.fixture(scope="module")
def features() -> dict[str, dict]:
    tables = {
        "customers": customers("A", "B", "C"),
        "orders": orders(*((c, "2024-06-01", 1.0) for c in "ABC")),
        "subscriptions": table("subscriptions", SUBSCRIPTIONS),
    }
    return by_customer(compute_features(tables, [CUTOFF], only("subscription"), CHURN))


def test_running_subscriptions_and_their_monthly_revenue(features: dict[str, dict]) -> None:
    a, c = features["A"], features["C"]

    assert (a["subscription_running"], a["subscription_mrr"]) == (2, 17.0)
    assert (c["subscription_running"], c["subscription_mrr"]) == (0, 0.0)


def test_mrr_change_compares_with_the_subscriptions_running_90_days_earlier(
    features: dict[str, dict],
) -> None:
    # 90 days earlier, on 2024-04-01 (the day before that cutoff), S1 ran for A and S5 for C.
    assert features["A"]["subscription_mrr_change_90d"] == 17.0 - 20.0
    assert features["C"]["subscription_mrr_change_90d"] == -30.0


def test_subscriptions_started_and_ended_in_the_last_year(features: dict[str, dict]) -> None:
    a, c = features["A"], features["C"]

    assert (a["subscription_started_365d"], a["subscription_ended_365d"]) == (2, 1)
    assert (c["subscription_started_365d"], c["subscription_ended_365d"]) == (0, 1)


def test_days_since_first_start_current_start_and_last_end(features: dict[str, dict]) -> None:
    a, c = features["A"], features["C"]

    assert a["subscription_days_since_first_start"] == (CUTOFF - dt.date(2022, 1, 1)).days
    assert a["subscription_days_since_current_start"] == 1.0  # S3, started the day before
    assert a["subscription_days_since_last_end"] == 77.0
    assert math.isnan(c["subscription_days_since_current_start"])
    assert c["subscription_days_since_last_end"] == 2.0


def test_a_customer_without_subscriptions_has_zero_counts_and_null_days(
    features: dict[str, dict],
) -> None:
    b = features["B"]

    assert (b["subscription_running"], b["subscription_started_365d"]) == (0, 0)
    assert (b["subscription_mrr"], b["subscription_mrr_change_90d"]) == (0.0, 0.0)
    for days in ("first_start", "current_start", "last_end"):
        assert math.isnan(b[f"subscription_days_since_{days}"])


def test_under_the_subscription_definition_every_customer_has_one_running() -> None:
    tables = {
        "customers": customers("A", "B", "C"),
        "subscriptions": table("subscriptions", SUBSCRIPTIONS),
    }

    frame = compute_features(
        tables, [CUTOFF], only("subscription"), ChurnConfig(definition="subscription")
    )

    # C's subscription ended before the day before the cutoff: C is not in the population.
    rows = by_customer(frame)
    assert set(rows) == {"A"}
    assert rows["A"]["subscription_running"] == 2
    assert rows["A"]["churned"] == 0  # S2 still covers the day after the horizon
