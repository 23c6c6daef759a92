"""Sources: the rows each family aggregates, prepared once before they are joined to the cutoffs.

A source is a raw table (or a slice of one) narrowed to the columns its families read, plus
derived per-row columns that do not depend on the cutoff, so they are computed once per row
rather than once per row and cutoff: whether an order counts as a purchase, the customer's
previous purchase, a ticket's first-response time. ``Source.time_column`` places each row in time:
it decides which cutoffs (strictly after it) and windows the row belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from features.expr import microseconds_between

COMPLETED = "completed"
NPS_EVENT = "survey_nps"


@dataclass(frozen=True)
class Source:
    """Rows of raw table ``table`` as ``prepare`` shapes them, timed by ``time_column``."""

    table: str
    time_column: str
    prepare: Callable[[ir.Table], ir.Table]
    history_bounded: bool = True
    """Whether rows older than ``features.history_days`` are left out of the join; a
    subscription started long ago may still be the one running, so subscriptions are not."""


def is_completed(orders: ir.Table) -> ir.BooleanValue:
    """An order counts as a purchase when completed; without a ``status`` column, every order."""
    return orders.status.fill_null(COMPLETED) == COMPLETED


def _orders(orders: ir.Table) -> ir.Table:
    """Orders with ``completed``/``returned`` flags, the customer's previous and first purchase.

    ``prev_order_ts`` and ``first_order_ts`` are taken among orders of the same kind (completed
    or not), so for a completed order they are the previous and the first completed order; for
    other orders they are not used. ``gap_us`` is the gap to the previous purchase in
    microseconds (whole numbers, so their mean is exact: :func:`features.expr.mean_duration`).
    """
    narrowed = orders.select(
        "customer_id",
        "order_ts",
        "amount",
        "discount_amount",
        completed=is_completed(orders),
        returned=orders.status == "returned",
    )
    same_kind = ibis.window(
        group_by=[narrowed.customer_id, narrowed.completed], order_by=narrowed.order_ts
    )
    with_history = narrowed.mutate(
        prev_order_ts=narrowed.order_ts.lag().over(same_kind),
        first_order_ts=narrowed.order_ts.min().over(same_kind),
    )
    return with_history.mutate(
        gap_us=microseconds_between(with_history.order_ts, with_history.prev_order_ts)
    )


def _events(events: ir.Table) -> ir.Table:
    return events.select("customer_id", "ts", "event_type", "value")


def _nps_answers(events: ir.Table) -> ir.Table:
    """NPS survey events: a small slice, so taking values by time (argmax) stays cheap."""
    answers = events.filter(events.event_type == NPS_EVENT)
    return answers.select("customer_id", "ts", "value")


def _support_tickets(tickets: ir.Table) -> ir.Table:
    """Tickets with ``response_us``, the wait for the first response in microseconds (null while
    unanswered; only valid once answered)."""
    return tickets.select(
        "customer_id",
        "opened_ts",
        "first_response_ts",
        "resolved_ts",
        "csat",
        response_us=microseconds_between(tickets.first_response_ts, tickets.opened_ts),
    )


def _offers(offers: ir.Table) -> ir.Table:
    """Offers actually sent: control-group rows received nothing, so they are dropped."""
    sent = offers.filter(offers.group == "treatment")
    return sent.select("customer_id", "sent_ts", "redeemed_ts")


def _subscriptions(subscriptions: ir.Table) -> ir.Table:
    """Subscriptions with their first and last day as 00:00 timestamps (comparable with cutoffs).

    A subscription is known from the day it starts; its end is known only once that day is past
    (``features.families.subscription``), since an export writes the end date of a cancellation
    that may have been notified long after the cutoff.
    """
    return subscriptions.select(
        "customer_id",
        "mrr",
        start_ts=subscriptions.start_date.cast(dt.timestamp),
        end_ts=subscriptions.end_date.cast(dt.timestamp),
    )


SOURCES: dict[str, Source] = {
    "orders": Source("orders", "order_ts", _orders),
    "events": Source("events", "ts", _events),
    "nps_answers": Source("events", "ts", _nps_answers),
    "support_tickets": Source("support_tickets", "opened_ts", _support_tickets),
    "offers": Source("offers", "sent_ts", _offers),
    "subscriptions": Source("subscriptions", "start_ts", _subscriptions, history_bounded=False),
}
"""Every source families may aggregate, by name (``Family.window_aggregates`` keys)."""
