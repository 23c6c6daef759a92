"""Explained rows whose features change reason group, for the reason paths' parity tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.explain import Explanation

REGROUP_FEATURES = [
    "rfm_days_since_last_order",
    "rfm_orders_30d",
    "rfm_spend_trend_90d",
    "rfm_orders_trend_30d",
    "rfm_orders_365d",
    "rfm_avg_basket_365d",
    "loyalty_member",
    "events_days_since_loyalty_earn",
    "static_loyalty_member",
    "support_tickets_90d",
    "events_days_since_email_open",
    "events_days_since_email_unsubscribe",
    "static_region",
]


def regroup_rows(rows: int, seed: int = 1) -> Explanation:
    """Random contributions over features that move between groups, with idle, never-ordered,
    not-enrolled and unsubscribed customers, missing values and an integer text attribute."""
    rng = np.random.default_rng(seed)
    days = rng.choice([np.nan, 10.0, 45.0, 100.0, 200.0, 400.0], rows)
    values = pd.DataFrame(
        {
            "rfm_days_since_last_order": days,
            "rfm_orders_30d": rng.integers(0, 3, rows).astype(float),
            "rfm_spend_trend_90d": np.where(days > 90, np.nan, rng.normal(0, 1, rows)),
            "rfm_orders_trend_30d": rng.normal(0, 1, rows),
            "rfm_orders_365d": rng.integers(0, 9, rows).astype(float),
            "rfm_avg_basket_365d": np.where(days > 365, np.nan, 30.0),
            "loyalty_member": rng.integers(0, 2, rows).astype(float),
            "events_days_since_loyalty_earn": np.where(rng.random(rows) < 0.5, np.nan, 20.0),
            "static_loyalty_member": rng.choice(["True", "False", "missing"], rows),
            "support_tickets_90d": rng.integers(0, 4, rows).astype(float),
            "events_days_since_email_open": np.where(rng.random(rows) < 0.5, np.nan, 5.0),
            "events_days_since_email_unsubscribe": np.where(rng.random(rows) < 0.7, np.nan, 60.0),
            "static_region": rng.integers(10, 13, rows),
        }
    )
    frame = pd.DataFrame(
        rng.normal(0, 0.5, (rows, len(REGROUP_FEATURES))), columns=REGROUP_FEATURES
    )
    return Explanation(
        contributions=frame,
        base_value=0.0,
        margin=frame.sum(axis=1).to_numpy(),
        churn_probability=np.full(rows, 0.5),
        base_probability=0.5,
        values=values,
        path="xgboost_native",
    )
