from __future__ import annotations

import datetime as dt

from features.build import compute_features
from tests.features.raw_tables import CHURN, by_customer, only, orders, table

CUTOFF = dt.date(2024, 7, 1)


def test_extra_customer_columns_are_kept_as_exported() -> None:
    tables = {
        "customers": table(
            "customers",
            [
                {
                    "customer_id": "A",
                    "signup_date": "2023-01-01",
                    "country": "DE",
                    "Plan Type": "plus",
                    "loyalty_member": True,
                    "age": 31,
                },
                {
                    "customer_id": "B",
                    "signup_date": "2023-01-01",
                    "country": None,
                    "Plan Type": "basic",
                    "loyalty_member": False,
                    "age": None,
                },
            ],
        ),
        "orders": orders(("A", "2024-06-01", 1.0), ("B", "2024-06-01", 1.0)),
    }

    frame = compute_features(tables, [CUTOFF], only("static"), CHURN)

    assert list(frame.columns) == [
        "customer_id",
        "cutoff_date",
        "static_age",
        "static_country",
        "static_loyalty_member",
        "static_plan_type",
        "churned",
    ]
    a, b = by_customer(frame)["A"], by_customer(frame)["B"]
    assert (a["static_country"], a["static_plan_type"], a["static_age"]) == ("DE", "plus", 31)
    assert a["static_loyalty_member"] is True or a["static_loyalty_member"] == 1
    assert b["static_plan_type"] == "basic"
    assert frame["static_country"].isna().tolist() == [False, True]
