from __future__ import annotations

import datetime as dt
import math

import pytest

from features.build import compute_features
from tests.features.raw_tables import CHURN, by_customer, customers, events, only, orders

CUTOFF = dt.date(2024, 7, 1)


@pytest.fixture(scope="module")
def engagement() -> dict[str, dict]:
    tables = {
        "customers": customers("A", "B"),
        "orders": orders(("A", "2024-06-01", 1.0), ("B", "2024-06-01", 1.0)),
        "events": events(
            ("A", "2024-06-26 09:00", "email_sent"),  # 5 days before
            ("A", "2024-06-11 09:00", "email_sent"),  # 20 days before
            ("A", "2024-05-17 09:00", "email_sent"),  # 45 days before
            ("A", "2024-06-27 09:00", "email_open"),
            ("A", "2024-05-18 09:00", "email_open"),  # 44 days before
            ("A", "2024-05-18 09:05", "email_click"),
            ("A", "2024-03-23 09:00", "email_unsubscribe"),  # 100 days before
            ("A", "2024-06-30 20:00", "web_session"),
            ("A", "2024-06-29 20:00", "web_session"),
            ("A", "2024-05-02 20:00", "web_session"),  # 60 days before
            ("A", "2024-06-21 20:00", "cart_add"),
            ("A", "2024-06-21 21:00", "cart_abandon"),
            ("A", "2024-05-12 20:00", "cart_add"),
            ("A", "2024-07-01 00:00", "email_open"),  # at the cutoff: ignored
            ("B", "2024-06-26 09:00", "app_login"),  # another type: not engagement
        ),
    }
    return by_customer(compute_features(tables, [CUTOFF], only("engagement"), CHURN))


def test_email_rates(engagement: dict[str, dict]) -> None:
    a = engagement["A"]

    assert a["engagement_email_open_rate_30d"] == 0.5  # 1 open / 2 sent
    assert a["engagement_email_open_rate_90d"] == pytest.approx(2 / 3, abs=1e-6)
    assert a["engagement_email_click_rate_90d"] == pytest.approx(1 / 3, abs=1e-6)
    assert a["engagement_email_unsubscribes_365d"] == 1


def test_web_and_cart(engagement: dict[str, dict]) -> None:
    a = engagement["A"]

    assert (a["engagement_web_sessions_30d"], a["engagement_web_sessions_90d"]) == (2, 3)
    assert a["engagement_cart_abandon_rate_90d"] == 0.5


def test_no_mail_and_no_cart_give_null_rates_and_zero_counts(
    engagement: dict[str, dict],
) -> None:
    b = engagement["B"]

    assert math.isnan(b["engagement_email_open_rate_30d"])
    assert math.isnan(b["engagement_cart_abandon_rate_90d"])
    assert (b["engagement_web_sessions_90d"], b["engagement_email_unsubscribes_365d"]) == (0, 0)
