from __future__ import annotations

import datetime as dt
import math

from features.build import compute_features
from tests.features.raw_tables import CHURN, by_customer, customers, events, only, orders

CUTOFF = dt.date(2024, 7, 1)


def test_every_event_type_before_the_latest_cutoff_gets_counts_and_recency() -> None:
    tables = {
        "customers": customers("A", "B"),
        "orders": orders(("A", "2024-06-01", 1.0), ("B", "2024-06-01", 1.0)),
        "events": events(
            ("A", "2024-06-21 00:00", "Store Visit"),  # 10 days before
            ("A", "2024-05-22 00:00", "Store Visit"),  # 40 days before
            ("A", "2023-07-02 00:00", "Store Visit"),  # exactly 365 days before
            ("B", "2024-06-30 00:00", "app_login"),
            ("A", "2024-07-01 00:00", "chatbot"),  # first seen at the cutoff: no features
        ),
    }

    frame = compute_features(tables, [CUTOFF], only("events"), CHURN)

    assert list(frame.columns) == [
        "customer_id",
        "cutoff_date",
        "events_count_30d_app_login",
        "events_count_30d_store_visit",
        "events_count_90d_app_login",
        "events_count_90d_store_visit",
        "events_count_365d_app_login",
        "events_count_365d_store_visit",
        "events_days_since_app_login",
        "events_days_since_store_visit",
        "churned",
    ]
    a, b = by_customer(frame)["A"], by_customer(frame)["B"]
    assert (a["events_count_30d_store_visit"], a["events_count_90d_store_visit"]) == (1, 2)
    assert a["events_count_365d_store_visit"] == 3
    assert a["events_days_since_store_visit"] == 10.0
    assert a["events_count_365d_app_login"] == 0
    assert math.isnan(a["events_days_since_app_login"])
    assert b["events_days_since_app_login"] == 1.0
