from __future__ import annotations

import datetime as dt
import math

import pytest

from features.build import compute_features
from tests.features.raw_tables import CHURN, by_customer, customers, only, orders, table

CUTOFF = dt.date(2024, 7, 1)


def ticket(ticket_id: str, opened: str, response: str | None, resolved: str | None, csat):
    return {
        "ticket_id": ticket_id,
        "customer_id": "A",
        "opened_ts": opened,
        "first_response_ts": response,
        "resolved_ts": resolved,
        "channel": "email",
        "csat": csat,
    }


@pytest.fixture(scope="module")
def support() -> dict[str, dict]:
    tables = {
        "customers": customers("A", "B"),
        "orders": orders(("A", "2024-06-01", 1.0), ("B", "2024-06-01", 1.0)),
        "support_tickets": table(
            "support_tickets",
            [
                # answered in 10 h, resolved and rated before the cutoff
                ticket("T1", "2024-06-21 00:00", "2024-06-21 10:00", "2024-06-22 00:00", 4),
                # opened 12 h before the cutoff; answered, resolved and rated only after it
                ticket("T2", "2024-06-30 12:00", "2024-07-01 06:00", "2024-07-02 00:00", 1),
                # 122 days before; answered in 24 h, rated 2
                ticket("T3", "2024-03-01 00:00", "2024-03-02 00:00", "2024-03-05 00:00", 2),
                # 547 days before: outside every window, never answered nor resolved
                ticket("T4", "2023-01-01 00:00", None, None, None),
                # exactly 30 days before; answered in 1 h; resolved at the cutoff itself: still open
                ticket("T6", "2024-06-01 00:00", "2024-06-01 01:00", "2024-07-01 00:00", 5),
                # opened after the cutoff
                ticket("T5", "2024-07-01 00:00", "2024-07-01 01:00", "2024-07-01 02:00", 5),
            ],
        ),
    }
    return by_customer(compute_features(tables, [CUTOFF], only("support"), CHURN))


def test_tickets_in_windows(support: dict[str, dict]) -> None:
    a = support["A"]

    assert (a["support_tickets_30d"], a["support_tickets_90d"]) == (3, 3)
    assert a["support_tickets_365d"] == 4


def test_first_response_hours_count_only_responses_before_the_cutoff(
    support: dict[str, dict],
) -> None:
    a = support["A"]

    assert a["support_first_response_hours_mean_365d"] == pytest.approx((10 + 24 + 1) / 3)
    # T2 has waited 12 h so far; T3's 24 h is the slowest
    assert a["support_first_response_hours_max_365d"] == pytest.approx(24.0)


def test_unresolved_tickets_last_csat_and_recency(support: dict[str, dict]) -> None:
    a = support["A"]

    assert a["support_unresolved_tickets"] == 3  # T2 and T6 (resolved later) and T4
    assert a["support_last_csat"] == 4  # T1: the scores of T2 and T6 are not known yet
    assert a["support_days_since_last_ticket"] == 0.5


def test_a_customer_without_tickets_has_zero_counts_and_null_measures(
    support: dict[str, dict],
) -> None:
    b = support["B"]

    assert (b["support_tickets_365d"], b["support_unresolved_tickets"]) == (0, 0)
    assert math.isnan(b["support_first_response_hours_mean_365d"])
    assert math.isnan(b["support_first_response_hours_max_365d"])
    assert math.isnan(b["support_last_csat"])
    assert math.isnan(b["support_days_since_last_ticket"])


def test_tickets_resolved_at_the_same_instant_give_the_higher_score() -> None:
    tables = {
        "customers": customers("A"),
        "orders": orders(("A", "2024-06-01", 1.0)),
        "support_tickets": table(
            "support_tickets",
            [
                ticket("T1", "2024-06-01 00:00", None, "2024-06-10 00:00", 5),
                ticket("T2", "2024-06-02 00:00", None, "2024-06-10 00:00", 2),
            ],
        ),
    }

    a = by_customer(compute_features(tables, [CUTOFF], only("support"), CHURN))["A"]

    assert a["support_last_csat"] == 5.0


def test_a_ticket_waiting_longest_is_the_worst_response() -> None:
    tables = {
        "customers": customers("A"),
        "orders": orders(("A", "2024-06-01", 1.0)),
        "support_tickets": table(
            "support_tickets",
            [ticket("T1", "2024-06-28 00:00", None, None, None)],
        ),
    }

    a = by_customer(compute_features(tables, [CUTOFF], only("support"), CHURN))["A"]

    assert a["support_first_response_hours_max_365d"] == 72.0
    assert math.isnan(a["support_first_response_hours_mean_365d"])
