"""Subscriptions: what the customer pays each month, how that moved, and their subscription history.

Contractual businesses churn through their subscriptions, so the state of those subscriptions at
the cutoff is what a retention team looks at first: is one running, at what monthly fee, was it
downgraded, did earlier ones end. The labels (``features.labels``) read the same table.

Time semantics follow the labels': a subscription covers its days ``start_date`` to ``end_date``
inclusive, and is known from its first day (started before the cutoff). Its end is known only once
it came before the day before the cutoff, the day the subscription population is read on: an
export holds the end date of a cancellation that was perhaps notified after the cutoff, so an end
on or after that day reads as "still running". Every subscription started before the cutoff
counts, however long ago (``features.rows`` does not bound this source by
``features.history_days``): the one running may be years old.
"""

from __future__ import annotations

import ibis.expr.types as ir

from features.cutoffs import within
from features.expr import count, days_between, money, total
from features.families.base import Context, Family

MRR_CHANGE_DAYS = 90


def _aggregates(rows: ir.Table, context: Context) -> dict[str, ir.Value]:
    # Joined rows started before the cutoff; the day before it is the last day one can know of.
    days_since_end = days_between(rows.cutoff_ts, rows.end_ts)
    ended = (days_since_end > 1).fill_null(False)
    running = ~ended
    # Covering the day before the cutoff MRR_CHANGE_DAYS earlier: started by then, not ended.
    earlier = MRR_CHANGE_DAYS + 1
    ran_then = (days_between(rows.cutoff_ts, rows.start_ts) >= earlier) & ~(
        ended & (days_since_end > earlier)
    )
    return {
        "_subscription_running": rows.count(where=running),
        "_subscription_mrr": money(rows.mrr).sum(where=running),
        "_subscription_mrr_before": money(rows.mrr).sum(where=ran_then),
        "_subscription_started_365d": rows.count(where=within(rows, rows.start_ts, 365)),
        "_subscription_ended_365d": rows.count(where=ended & within(rows, rows.end_ts, 365)),
        "_subscription_first_start": rows.start_ts.min(),
        "_subscription_current_start": rows.start_ts.max(where=running),
        "_subscription_last_end": rows.end_ts.max(where=ended),
    }


def _values(frame: ir.Table, context: Context) -> dict[str, ir.Value]:
    mrr = total(frame._subscription_mrr)
    return {
        "subscription_running": count(frame._subscription_running),
        "subscription_mrr": mrr,
        "subscription_mrr_change_90d": mrr - total(frame._subscription_mrr_before),
        "subscription_started_365d": count(frame._subscription_started_365d),
        "subscription_ended_365d": count(frame._subscription_ended_365d),
        "subscription_days_since_first_start": days_between(
            frame.cutoff_ts, frame._subscription_first_start
        ),
        "subscription_days_since_current_start": days_between(
            frame.cutoff_ts, frame._subscription_current_start
        ),
        "subscription_days_since_last_end": days_between(
            frame.cutoff_ts, frame._subscription_last_end
        ),
    }


FAMILY = Family(
    name="subscription", values=_values, window_aggregates={"subscriptions": _aggregates}
)
