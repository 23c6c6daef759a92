from __future__ import annotations

import datetime as dt
import math

import pytest

from core.config import ChurnConfig
from features.build import compute_features
from tests.features.raw_tables import CHURN, by_customer, only, orders, table


def test_tenure_first_order_and_first_90_days_at_two_cutoffs() -> None:
    tables = {
        "customers": table(
            "customers",
            [
                {"customer_id": "A", "signup_date": "2023-01-01"},
                {"customer_id": "B", "signup_date": "2023-02-01"},
            ],
        ),
        "orders": orders(
            ("A", "2023-01-05 00:00", 9.0, "cancelled"),  # not a purchase
            ("A", "2023-01-10 00:00", 10.0),  # first purchase
            ("A", "2023-02-01 00:00", 10.0),
            ("A", "2023-04-09 00:00", 10.0),  # 89 days after the first: in its first 90
            ("A", "2023-04-10 00:00", 10.0),  # exactly 90 days after: not
            ("A", "2023-12-01 00:00", 10.0),
            ("B", "2023-02-10 00:00", 10.0),
        ),
    }
    cutoffs = [dt.date(2023, 2, 15), dt.date(2024, 1, 1)]

    frame = compute_features(tables, cutoffs, only("lifecycle"), CHURN)

    early, late = by_customer(frame, "2023-02-15"), by_customer(frame, "2024-01-01")
    assert early["A"]["lifecycle_days_since_signup"] == 45
    assert early["A"]["lifecycle_days_since_first_order"] == 36.0
    assert early["A"]["lifecycle_orders_first_90d"] == 2  # so far: Jan 10, Feb 1
    assert late["A"]["lifecycle_days_since_signup"] == 365
    assert late["A"]["lifecycle_days_since_first_order"] == 356.0
    assert late["A"]["lifecycle_orders_first_90d"] == 3
    assert early["B"]["lifecycle_days_since_signup"] == 14
    assert early["B"]["lifecycle_orders_first_90d"] == 1
    assert late["B"]["lifecycle_orders_first_90d"] == 1


@pytest.mark.parametrize("first_order", ["2023-06-01 00:00", "2023-03-01 00:00"])
def test_before_the_first_purchase_there_is_no_first_order(first_order: str) -> None:
    """Also when the first purchase is exactly at the cutoff: ``<`` not ``<=`` (the random
    leakage tests rarely draw a population member whose first order sits on the cutoff)."""
    subscription = {
        "subscription_id": "S1",
        "customer_id": "A",
        "start_date": "2023-01-01",
        "end_date": None,
        "mrr": 5.0,
    }
    tables = {
        "customers": table("customers", [{"customer_id": "A", "signup_date": "2023-01-01"}]),
        "orders": orders(("A", first_order, 10.0)),
        "subscriptions": table("subscriptions", [subscription]),
    }

    frame = compute_features(
        tables, [dt.date(2023, 3, 1)], only("lifecycle"), ChurnConfig(definition="subscription")
    )

    a = by_customer(frame)["A"]
    assert a["lifecycle_days_since_signup"] == 59
    assert math.isnan(a["lifecycle_days_since_first_order"])
    assert a["lifecycle_orders_first_90d"] == 0


@pytest.mark.usefixtures("info_logs")
def test_without_orders_only_the_signup_feature_is_left_and_the_build_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    subscription = {
        "subscription_id": "S1",
        "customer_id": "A",
        "start_date": "2023-01-01",
        "end_date": None,
        "mrr": 5.0,
    }
    tables = {
        "customers": table("customers", [{"customer_id": "A", "signup_date": "2023-01-01"}]),
        "subscriptions": table("subscriptions", [subscription]),
    }

    frame = compute_features(
        tables, [dt.date(2023, 3, 1)], only("lifecycle"), ChurnConfig(definition="subscription")
    )

    assert list(frame.columns) == [
        "customer_id",
        "cutoff_date",
        "lifecycle_days_since_signup",
        "churned",
    ]
    logged = capsys.readouterr().err
    assert "feature family partly off" in logged
    assert "family=lifecycle" in logged
    assert "reason='table(s) orders absent'" in logged
    assert "features_left_out=2" in logged
