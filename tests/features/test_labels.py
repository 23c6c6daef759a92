from __future__ import annotations

import datetime as dt

import pytest

from core.config import ChurnConfig
from features.build import compute_features
from features.labels import MissingSourceError
from tests.features.raw_tables import customers, only, orders, table

CUTOFF = dt.date(2024, 3, 1)
LATER_CUTOFF = dt.date(2024, 6, 1)
NO_FEATURES = only()


def labels(tables: dict, churn: ChurnConfig, cutoffs=(CUTOFF,)) -> dict[tuple[str, str], int]:
    frame = compute_features(tables, list(cutoffs), NO_FEATURES, churn)
    return {
        (row.customer_id, row.cutoff_date.date().isoformat()): row.churned
        for row in frame.itertuples()
    }


def test_inactivity_population_and_label_on_a_hand_built_history() -> None:
    tables = {
        "customers": table(
            "customers",
            [
                *({"customer_id": c, "signup_date": "2023-01-01"} for c in "ABCDEFGH"),
                {"customer_id": "S", "signup_date": "2024-03-01"},
            ],
        ),
        "orders": orders(
            ("A", "2024-01-10 12:00", 20.0),
            ("A", "2024-03-15 09:00", 30.0),  # inside the horizon: stays
            ("B", "2023-06-01 08:00", 10.0),  # in the look-back, nothing after: churned
            ("C", "2022-12-31 23:00", 10.0),  # older than 365 days: not in the population
            ("D", "2023-03-02 00:00", 10.0),  # exactly cutoff - 365 days: in (window is [ , ))
            ("D", "2024-05-30 00:00", 10.0),  # exactly cutoff + 90 days: outside the horizon
            ("E", "2024-03-01 00:00", 10.0),  # at the cutoff itself: not before it
            ("F", "2024-02-01 10:00", 10.0),
            ("F", "2024-02-20 10:00", 10.0, "cancelled"),
            ("F", "2024-04-01 10:00", 10.0, "returned"),  # not a purchase: churned
            ("G", "2024-02-10 10:00", 10.0, "cancelled"),  # no completed order: not in it
            ("H", "2024-02-29 23:59:59", 10.0),
            ("H", "2024-05-29 23:59:59", 10.0),  # last second of the horizon: stays
            ("S", "2024-02-29 10:00", 10.0),  # signs up on the cutoff date: excluded
        ),
    }

    assert labels(tables, ChurnConfig(definition="inactivity")) == {
        ("A", "2024-03-01"): 0,
        ("B", "2024-03-01"): 1,
        ("D", "2024-03-01"): 1,
        ("F", "2024-03-01"): 1,
        ("H", "2024-03-01"): 0,
    }


def test_inactivity_labels_every_cutoff_in_one_pass() -> None:
    tables = {
        "customers": customers("A"),
        "orders": orders(("A", "2024-01-10 12:00", 20.0), ("A", "2024-03-15 09:00", 30.0)),
    }

    assert labels(tables, ChurnConfig(), cutoffs=(CUTOFF, LATER_CUTOFF)) == {
        ("A", "2024-03-01"): 0,  # orders again on 2024-03-15
        ("A", "2024-06-01"): 1,  # nothing after 2024-06-01
    }


def test_horizon_and_lookback_come_from_params() -> None:
    tables = {
        "customers": customers("A", "B"),
        "orders": orders(
            ("A", "2024-02-20 12:00", 20.0),
            ("A", "2024-03-20 09:00", 30.0),
            ("B", "2024-01-10 12:00", 20.0),
        ),
    }

    churn = ChurnConfig(horizon_days=10, lookback_days=30)

    # A's next order is 19 days later: outside a 10-day horizon. B last ordered 51 days before.
    assert labels(tables, churn) == {("A", "2024-03-01"): 1}


def subscription(customer_id: str, start: str, end: str | None) -> dict:
    return {
        "subscription_id": f"{customer_id}-{start}",
        "customer_id": customer_id,
        "start_date": start,
        "end_date": end,
        "mrr": 9.0,
    }


def test_subscription_population_and_label_on_a_hand_built_history() -> None:
    # Cutoff 2024-03-01, horizon 90 days: the first day after the horizon is 2024-05-30.
    tables = {
        "customers": customers(*"ABCDEFGHIJ"),
        "subscriptions": table(
            "subscriptions",
            [
                subscription("A", "2023-01-01", None),  # running: stays
                subscription("B", "2023-01-01", "2024-04-15"),  # ends in the horizon: churned
                subscription("C", "2023-01-01", "2024-04-15"),
                subscription("C", "2024-05-01", None),  # ... renewed: stays
                subscription("D", "2024-03-01", None),  # starts on the cutoff: not in it
                subscription("E", "2023-01-01", "2024-02-29"),  # last day before the cutoff
                subscription("F", "2023-01-01", "2024-02-28"),  # ended earlier: not in it
                subscription("G", "2023-01-01", "2024-05-30"),  # covers the day after: stays
                subscription("H", "2023-01-01", "2024-05-29"),  # ends on the last day: churned
                subscription("I", "2023-01-01", "2024-05-29"),
                subscription("I", "2024-05-30", None),  # seamless renewal: stays
                subscription("J", "2024-02-29", "2024-03-10"),  # one-day-old, ends: churned
            ],
        ),
    }

    assert labels(tables, ChurnConfig(definition="subscription")) == {
        ("A", "2024-03-01"): 0,
        ("B", "2024-03-01"): 1,
        ("C", "2024-03-01"): 0,
        ("E", "2024-03-01"): 1,
        ("G", "2024-03-01"): 0,
        ("H", "2024-03-01"): 1,
        ("I", "2024-03-01"): 0,
        ("J", "2024-03-01"): 1,
    }


def test_subscription_population_needs_no_orders_and_respects_signup() -> None:
    tables = {
        "customers": table(
            "customers",
            [
                {"customer_id": "A", "signup_date": "2023-01-01"},
                {"customer_id": "L", "signup_date": "2024-03-01"},
            ],
        ),
        "subscriptions": table(
            "subscriptions",
            [subscription("A", "2023-01-01", None), subscription("L", "2024-02-01", None)],
        ),
    }

    assert labels(tables, ChurnConfig(definition="subscription")) == {("A", "2024-03-01"): 0}


@pytest.mark.parametrize(
    ("definition", "present", "needed"),
    [("subscription", "orders", "subscriptions"), ("inactivity", "subscriptions", "orders")],
)
def test_a_definition_without_its_table_fails_naming_it(
    definition: str, present: str, needed: str
) -> None:
    tables = {
        "customers": customers("A"),
        present: orders(("A", "2024-01-10", 1.0))
        if present == "orders"
        else table("subscriptions", [subscription("A", "2023-01-01", None)]),
    }

    with pytest.raises(MissingSourceError, match=f"needs the {needed} table"):
        compute_features(tables, [CUTOFF], NO_FEATURES, ChurnConfig(definition=definition))
