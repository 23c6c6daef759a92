"""Tenure and lifecycle: how long the customer has been here and how their first months went.

These look at the whole history, not just ``features.history_days``: the first completed order
comes from a per-customer aggregate over all orders, used only through comparisons with the
cutoff (an order on or after the cutoff is treated as not having happened yet).
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from features.expr import count, days_between
from features.families.base import Context, Family

FIRST_DAYS = 90


def _per_customer(rows: ir.Table, context: Context) -> dict[str, ir.Value]:
    purchase = rows.completed
    early = days_between(rows.order_ts, rows.first_order_ts) < FIRST_DAYS
    return {
        "_lifecycle_first_order_ts": rows.order_ts.min(where=purchase),
        "_lifecycle_orders_first_90d": rows.count(where=purchase & early),
    }


def _per_cutoff(rows: ir.Table, context: Context) -> dict[str, ir.Value]:
    return {"_lifecycle_orders_before": rows.count(where=rows.completed)}


def _values(frame: ir.Table, context: Context) -> dict[str, ir.Value]:
    values: dict[str, ir.Value] = {
        "lifecycle_days_since_signup": frame.cutoff_date.delta(frame.signup_date, unit="day")
    }
    if "orders" not in context.present:
        return values
    first = frame._lifecycle_first_order_ts
    ordered_before = first < frame.cutoff_ts
    since_first = days_between(frame.cutoff_ts, first)
    values["lifecycle_days_since_first_order"] = ibis.ifelse(
        ordered_before, since_first, ibis.null(dt.float64)
    )
    # Until the first 90 days are over, every purchase so far lies in them (and in the history
    # window, which is longer than 90 days); afterwards the per-customer total is final.
    values["lifecycle_orders_first_90d"] = ibis.cases(
        (~ordered_before.fill_null(False), 0),
        (since_first >= FIRST_DAYS, count(frame._lifecycle_orders_first_90d)),
        else_=count(frame._lifecycle_orders_before),
    ).cast(dt.int64)
    return values


FAMILY = Family(
    name="lifecycle",
    values=_values,
    window_aggregates={"orders": _per_cutoff},
    customer_aggregates={"orders": _per_customer},
)
