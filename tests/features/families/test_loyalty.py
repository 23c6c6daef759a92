from __future__ import annotations

import datetime as dt
import math

from features.build import compute_features
from tests.features.raw_tables import CHURN, by_customer, customers, events, only, orders

CUTOFF = dt.date(2024, 7, 1)


def test_points_redemptions_and_referrals() -> None:
    tables = {
        "customers": customers("A", "B"),
        "orders": orders(("A", "2024-06-01", 1.0), ("B", "2024-06-01", 1.0)),
        "events": events(
            ("A", "2024-06-01 00:00", "loyalty_earn", 100.0),  # exactly 30 days before
            ("A", "2023-12-14 00:00", "loyalty_earn", 50.0),  # 200 days before
            ("A", "2024-06-11 00:00", "loyalty_redeem", 500.0),  # 20 days before
            ("A", "2023-09-05 00:00", "referral"),  # 300 days before
            ("A", "2023-05-28 00:00", "referral"),  # 400 days before: not in 365d
            ("A", "2024-07-01 00:00", "loyalty_earn", 70.0),  # at the cutoff: ignored
            ("B", "2024-06-11 00:00", "email_open"),
        ),
    }

    loyalty = by_customer(compute_features(tables, [CUTOFF], only("loyalty"), CHURN))

    a, b = loyalty["A"], loyalty["B"]
    assert a["loyalty_member"] == 1
    assert (a["loyalty_points_earned_90d"], a["loyalty_points_earned_365d"]) == (100.0, 150.0)
    assert a["loyalty_points_redeemed_365d"] == 500.0
    assert a["loyalty_days_since_last_redeem"] == 20.0
    assert a["loyalty_referrals_365d"] == 1
    assert b["loyalty_member"] == 0
    assert (b["loyalty_points_earned_365d"], b["loyalty_referrals_365d"]) == (0.0, 0)
    assert math.isnan(b["loyalty_days_since_last_redeem"])
