from __future__ import annotations

import datetime as dt
import math

from features.build import compute_features
from tests.features.raw_tables import CHURN, by_customer, customers, only, orders, table

CUTOFF = dt.date(2024, 7, 1)


def offer(customer: str, sent: str, redeemed: str | None, group: str = "treatment") -> dict:
    return {
        "customer_id": customer,
        "campaign_id": f"CMP-{sent[:10]}",
        "offer_id": None if group == "control" else "discount_10",
        "sent_ts": sent,
        "group": group,
        "redeemed_ts": redeemed,
    }


def test_offers_received_redeemed_and_recency() -> None:
    tables = {
        "customers": customers("A", "B"),
        "orders": orders(("A", "2024-06-01", 1.0), ("B", "2024-06-01", 1.0)),
        "offers": table(
            "offers",
            [
                offer("A", "2024-06-21 10:00", "2024-06-26 10:00"),  # redeemed before the cutoff
                offer("A", "2024-03-23 10:00", "2024-07-03 10:00"),  # redeemed only after it
                offer("A", "2023-05-28 10:00", None),  # 400 days before: outside 365d
                offer("A", "2024-06-28 10:00", None, "control"),  # control: received nothing
                offer("B", "2024-06-28 10:00", None, "control"),
            ],
        ),
    }

    offers = by_customer(compute_features(tables, [CUTOFF], only("offers"), CHURN))

    a, b = offers["A"], offers["B"]
    assert (a["offers_received_365d"], a["offers_redeemed_365d"]) == (2, 1)
    assert a["offers_days_since_last_offer"] == 9.583333  # 2024-06-21 10:00, rounded
    assert (b["offers_received_365d"], b["offers_redeemed_365d"]) == (0, 0)
    assert math.isnan(b["offers_days_since_last_offer"])
