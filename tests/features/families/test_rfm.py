from __future__ import annotations

import datetime as dt
import math
import statistics

import pytest

from features.build import compute_features
from tests.features.raw_tables import CHURN, by_customer, customers, only, orders, table

CUTOFF = dt.date(2024, 7, 1)


def order(customer: str, ts: str, amount: float, status: str = "completed", discount=None):
    return {
        "order_id": f"{customer}-{ts}",
        "customer_id": customer,
        "order_ts": ts,
        "amount": amount,
        "discount_amount": discount,
        "status": status,
    }


@pytest.fixture(scope="module")
def rfm() -> dict[str, dict]:
    tables = {
        "customers": customers("A", "B"),
        "orders": table(
            "orders",
            [
                order("A", "2024-06-21 00:00", 50.0, discount=10.0),  # 10 days before
                order("A", "2024-05-22 00:00", 30.0, discount=0.0),  # 40 days before
                order("A", "2024-04-02 00:00", 20.0),  # exactly 90 days before: in 90d
                order("A", "2024-03-01 00:00", 40.0, "returned"),  # 122 days before
                order("A", "2024-03-05 00:00", 15.0, "cancelled"),  # ignored
                order("A", "2023-07-02 00:00", 100.0),  # exactly 365 days before: in 365d
                order("A", "2023-06-01 00:00", 10.0),  # 396 days: only its gap to the next
                order("A", "2024-07-01 00:00", 999.0),  # at the cutoff: ignored
                order("B", "2024-01-03 12:00", 80.0),  # 179.5 days before
            ],
        ),
    }
    frame = compute_features(tables, [CUTOFF], only("rfm"), CHURN)
    return by_customer(frame)


def test_recency_frequency_and_monetary_windows(rfm: dict[str, dict]) -> None:
    a = rfm["A"]

    assert a["rfm_days_since_last_order"] == 10.0
    assert (a["rfm_orders_30d"], a["rfm_orders_90d"], a["rfm_orders_365d"]) == (1, 3, 4)
    assert (a["rfm_spend_30d"], a["rfm_spend_90d"], a["rfm_spend_365d"]) == (50.0, 100.0, 200.0)
    assert a["rfm_avg_basket_365d"] == 50.0


def test_trends_compare_with_the_period_before(rfm: dict[str, dict]) -> None:
    a = rfm["A"]

    # last 30 days: 50 (1 order); the 30 before ([-60, -30)): 30 (1 order)
    assert a["rfm_spend_trend_30d"] == pytest.approx((50 - 30) / (50 + 30))
    assert a["rfm_orders_trend_30d"] == 0.0
    # last 90 days: 100 (3 orders); [-180, -90) holds only a returned order
    assert a["rfm_spend_trend_90d"] == 1.0
    assert a["rfm_orders_trend_90d"] == 1.0


def test_the_period_before_includes_its_start_and_stops_where_the_window_starts() -> None:
    tables = {
        "customers": customers("C"),
        "orders": table(
            "orders",
            [
                order("C", "2024-05-02 00:00", 10.0),  # exactly 60 days before: previous period
                order("C", "2024-06-01 00:00", 10.0),  # exactly 30 days before: last 30 days
            ],
        ),
    }

    c = by_customer(compute_features(tables, [CUTOFF], only("rfm"), CHURN))["C"]

    assert c["rfm_orders_30d"] == 1
    assert c["rfm_orders_trend_30d"] == 0.0  # one order in each period


def test_gaps_between_purchases(rfm: dict[str, dict]) -> None:
    a = rfm["A"]
    gaps = [31, 275, 50, 30]  # to 2023-07-02, 2024-04-02, 2024-05-22, 2024-06-21

    assert a["rfm_gap_mean_days_365d"] == pytest.approx(96.5)
    assert a["rfm_gap_std_days_365d"] == pytest.approx(statistics.stdev(gaps), abs=1e-6)
    assert a["rfm_gap_ratio"] == pytest.approx(10 / 96.5, abs=1e-6)


def test_returns_and_discount_share(rfm: dict[str, dict]) -> None:
    a = rfm["A"]

    assert a["rfm_return_share_365d"] == pytest.approx(1 / (1 + 4))
    assert a["rfm_discount_share_365d"] == pytest.approx(10 / (200 + 10))


def test_a_single_old_order_gives_zeros_and_nulls(rfm: dict[str, dict]) -> None:
    b = rfm["B"]

    assert b["rfm_days_since_last_order"] == 179.5
    assert (b["rfm_orders_30d"], b["rfm_orders_90d"], b["rfm_orders_365d"]) == (0, 0, 1)
    assert (b["rfm_spend_30d"], b["rfm_spend_90d"]) == (0.0, 0.0)
    assert b["rfm_avg_basket_365d"] == 80.0
    assert math.isnan(b["rfm_spend_trend_30d"])  # nothing in either period
    assert b["rfm_spend_trend_90d"] == -1.0  # 80 in [-180, -90), nothing since
    assert math.isnan(b["rfm_gap_mean_days_365d"])
    assert math.isnan(b["rfm_gap_std_days_365d"])
    assert math.isnan(b["rfm_gap_ratio"])
    assert b["rfm_return_share_365d"] == 0.0
    assert math.isnan(b["rfm_discount_share_365d"])  # no discount recorded


def test_orders_without_status_or_discount_columns_all_count_as_purchases() -> None:
    tables = {
        "customers": customers("A"),
        "orders": table(
            "orders",
            [
                {"order_id": "1", "customer_id": "A", "order_ts": "2024-06-21", "amount": 5.0},
                {"order_id": "2", "customer_id": "A", "order_ts": "2024-06-01", "amount": 7.0},
            ],
        ),
    }

    a = by_customer(compute_features(tables, [CUTOFF], only("rfm"), CHURN))["A"]

    assert (a["rfm_orders_30d"], a["rfm_spend_30d"]) == (2, 12.0)
    assert a["rfm_gap_mean_days_365d"] == 20.0
    assert math.isnan(a["rfm_discount_share_365d"])


def test_a_gap_counts_when_its_later_order_is_in_the_window() -> None:
    tables = {
        "customers": customers("A"),
        "orders": orders(
            ("A", "2024-06-21 00:00", 5.0),
            ("A", "2022-07-01 00:00", 5.0),  # 731 days before: older than the history
        ),
    }

    a = by_customer(compute_features(tables, [CUTOFF], only("rfm"), CHURN))["A"]

    assert a["rfm_orders_365d"] == 1
    assert a["rfm_gap_mean_days_365d"] == 721.0  # the gap itself is a fact of the later order
    assert math.isnan(a["rfm_gap_std_days_365d"])


# 32 purchases totalling 732.65, whose average basket 22.8953125 is a rounding tie: added up one by
# one in this order, floats give 732.6500000000001 (the average rounds up); shuffled, 732.65 (down).
AMOUNTS = [21.26, 41.81, 10.0, 15.12, 11.51, 13.09, 10.97, 29.46, 24.49, 10.42, 37.66, 17.12, 27.25]
AMOUNTS += [30.38, 13.51, 12.16, 9.01, 35.3, 12.08, 12.83, 18.09, 16.01, 12.05, 48.06, 26.1, 13.09]
AMOUNTS += [11.68, 101.46, 28.94, 10.73, 37.26, 13.75]
SHUFFLED = [13.75, 15.12, 18.09, 17.12, 21.26, 11.51, 13.09, 35.3, 12.83, 12.05, 13.51, 24.49]
SHUFFLED += [13.09, 10.0, 37.66, 30.38, 28.94, 29.46, 48.06, 41.81, 26.1, 27.25, 37.26, 12.16]
SHUFFLED += [12.08, 10.73, 10.42, 10.97, 16.01, 11.68, 9.01, 101.46]


@pytest.mark.parametrize("amounts", [AMOUNTS, SHUFFLED], ids=["in-order", "shuffled"])
def test_spend_is_summed_exactly_so_a_rounding_tie_does_not_depend_on_row_order(
    amounts: list[float],
) -> None:
    assert sorted(amounts) == sorted(AMOUNTS)
    first = dt.datetime(2024, 6, 1)
    rows = [("A", str(first + dt.timedelta(hours=hour)), a) for hour, a in enumerate(amounts)]
    tables = {"customers": customers("A"), "orders": orders(*rows)}

    a = by_customer(compute_features(tables, [CUTOFF], only("rfm"), CHURN))["A"]

    assert a["rfm_orders_365d"] == 32
    assert a["rfm_spend_365d"] == 732.65
    # 732.65 / 32 = 22.8953125 exactly; the sum is exact, so the average is the same double
    # (a hair below the tie) whatever order the orders are added in, and scaled by 10**6 for
    # rounding it lands on the tie, which rounds away from zero (features.expr.rounded)
    assert a["rfm_avg_basket_365d"] == 22.895313
