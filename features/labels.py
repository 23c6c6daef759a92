"""Who is scored at a cutoff (the population) and whether they churned (the label).

``churn.definition`` picks one of two rules (``core.config.ChurnConfig``):

``inactivity`` (retail, the default)
    Population at cutoff ``c``: customers with at least one completed order in
    ``[c - lookback_days, c)``. Churned: no completed order in the horizon
    ``[c, c + horizon_days)``.

``subscription`` (contractual)
    A subscription covers the days ``start_date`` … ``end_date`` (inclusive; no end date = still
    running). Population at ``c``: customers with a subscription covering the day before the
    cutoff (started before it and not ended before that day). Churned: no subscription of theirs
    covers day ``c + horizon_days``, the first day after the horizon: the subscription ended
    within the horizon and was not renewed (a renewal starting on that day counts).

Under both rules, customers who sign up on or after the cutoff date are not in its population.
Both are expressed as joins of the raw tables to the cutoff table (no loop over cutoffs), so
they run on any Ibis backend; the scoring snapshot uses the same population rule, without labels.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from core.config import ChurnConfig
from features.cutoffs import ROW_KEY, start_column
from features.rows import is_completed

POPULATION_SOURCE = {"inactivity": "orders", "subscription": "subscriptions"}
"""The raw table each churn definition needs."""


class MissingSourceError(LookupError):
    """The raw table the churn definition needs is absent from the export."""


def require_source(tables: Mapping[str, ir.Table], churn: ChurnConfig) -> None:
    """Raise :class:`MissingSourceError` unless the definition's table is present."""
    needed = POPULATION_SOURCE[churn.definition]
    if needed not in tables:
        raise MissingSourceError(
            f"churn.definition is {churn.definition!r}, which needs the {needed} table, but the "
            f"raw folder has no {needed} table; add it to the export or set churn.definition to "
            f"{'subscription' if needed == 'orders' else 'inactivity'!r}"
        )


def population(
    customers: ir.Table, cutoffs: ir.Table, source: ir.Table, churn: ChurnConfig
) -> ir.Table:
    """Every (customer, cutoff) in the population, with all customer and cutoff-table columns.

    ``customers`` needs ``customer_id`` and ``signup_date``; ``cutoffs`` is
    ``features.cutoffs.cutoff_table(...)`` (it must include the ``lookback_days`` bound);
    ``source`` is the definition's table (orders or subscriptions) in contract types.
    """
    signed_up = customers.cross_join(cutoffs)
    signed_up = signed_up.filter(signed_up.signup_date < signed_up.cutoff_date)
    if churn.definition == "inactivity":
        orders = source.filter(is_completed(source))
        return signed_up.semi_join(
            orders,
            [
                signed_up.customer_id == orders.customer_id,
                orders.order_ts >= signed_up[start_column(churn.lookback_days)],
                orders.order_ts < signed_up.cutoff_ts,
            ],
        )
    return signed_up.semi_join(
        source,
        [signed_up.customer_id == source.customer_id, *_covers(source, signed_up._last_day)],
    )


def churn_labels(population_rows: ir.Table, source: ir.Table, churn: ChurnConfig) -> ir.Table:
    """The population's row key (``features.cutoffs.ROW_KEY``) and ``churned`` (0/1).

    ``population_rows`` is :func:`population` with the row key added; ``source`` is the
    definition's table, as for :func:`population`. Only rows in (or, for subscriptions, covering
    the end of) the horizon after each cutoff are read.
    """
    keys = population_rows.select(
        ROW_KEY, "customer_id", "cutoff_ts", "_horizon_end_ts", "_horizon_end_date"
    )
    if churn.definition == "inactivity":
        orders = source.filter(is_completed(source))
        staying = orders.join(
            keys,
            [
                orders.customer_id == keys.customer_id,
                orders.order_ts >= keys.cutoff_ts,
                orders.order_ts < keys._horizon_end_ts,
            ],
        )
    else:
        staying = source.join(
            keys,
            [source.customer_id == keys.customer_id, *_covers(source, keys._horizon_end_date)],
        )
    evidence = staying.group_by(staying[ROW_KEY]).aggregate(_stays=staying.count())
    labelled = keys.left_join(evidence, ROW_KEY)
    return labelled.select(labelled[ROW_KEY], churned=labelled._stays.isnull().cast(dt.int64))


def _covers(subscriptions: ir.Table, day: ir.DateValue) -> list[ir.BooleanValue]:
    """Join conditions: a subscription covers ``day`` (started on or before it, not ended)."""
    return [
        subscriptions.start_date <= day,
        subscriptions.end_date.isnull() | (subscriptions.end_date >= day),
    ]
