"""Per-event-type statistics: the one pass over joined events the events families read.

The events table is the largest source, and the families reading it (engagement, loyalty,
events) need the same few statistics per event type: counts in windows, the latest timestamp and
sums of ``value``. They are computed once per (customer, cutoff, event type) — a handful of
aggregates over the joined rows — and each event type's rows are then joined onto the population
as columns ``_event_<slug>_<statistic>``. Measured on a 200k-customer history, that is several
times cheaper than one wide group-by with a conditional aggregate per (type, window, statistic):
the wide group-by's state (a hundred aggregates per customer and cutoff) spills to disk.

The statistics follow the shared time semantics: joined rows are strictly before the cutoff and
within ``features.history_days``; ``N``-day windows are ``[cutoff - N days, cutoff)``.
"""

from __future__ import annotations

import ibis.expr.types as ir

from features.cutoffs import KEYS, within
from features.definitions import feature_slug

COUNT_WINDOWS = (30, 90, 365)
VALUE_WINDOWS = (90, 365)
STATISTICS = (
    *(f"count_{days}d" for days in COUNT_WINDOWS),
    "count",
    "last_ts",
    *(f"value_sum_{days}d" for days in VALUE_WINDOWS),
)
"""Per event type: counts in windows and over the whole history, latest time, value sums."""


def event_type_stats(joined: ir.Table) -> ir.Table:
    """One row per (customer, cutoff, event type) present, with the :data:`STATISTICS`."""
    stats: dict[str, ir.Value] = {
        f"count_{days}d": joined.count(where=within(joined, joined.ts, days))
        for days in COUNT_WINDOWS
    }
    stats |= {"count": joined.count(), "last_ts": joined.ts.max()}
    stats |= {
        f"value_sum_{days}d": joined.value.sum(where=within(joined, joined.ts, days))
        for days in VALUE_WINDOWS
    }
    return joined.group_by(*KEYS, "event_type").aggregate(**stats)


def stats_of(stats: ir.Table, event_type: str) -> ir.Table:
    """``event_type``'s statistics per (customer, cutoff) as ``_event_<slug>_<statistic>``."""
    rows = stats.filter(stats.event_type == event_type)
    return rows.select(*KEYS, **{column_name(event_type, name): rows[name] for name in STATISTICS})


def column_name(event_type: str, statistic: str) -> str:
    return f"_event_{feature_slug(event_type)}_{statistic}"


def stat(frame: ir.Table, event_type: str, statistic: str) -> ir.Value:
    """Statistic of ``event_type`` in the population frame; null where the type had no rows."""
    return frame[column_name(event_type, statistic)]
