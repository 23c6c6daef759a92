"""Support: tickets by the day they were opened, response times, open tickets, satisfaction.

A response, resolution or CSAT score counts only once it happened before the cutoff: a ticket
opened before the cutoff but answered after it is "unanswered so far" at that cutoff. CSAT has no
timestamp of its own; it is taken to be known once the ticket is resolved.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from features.cutoffs import within
from features.definitions import FEATURE_WINDOWS
from features.expr import (
    MICROSECONDS_PER_HOUR,
    count,
    days_between,
    hours_between,
    mean_duration,
)
from features.families.base import Context, Family


def _aggregates(rows: ir.Table, context: Context) -> dict[str, ir.Value]:
    answered = rows.first_response_ts < rows.cutoff_ts
    resolved = rows.resolved_ts < rows.cutoff_ts
    in_year = within(rows, rows.opened_ts, 365)
    waited_hours = ibis.ifelse(
        answered,
        rows.response_us / MICROSECONDS_PER_HOUR,
        hours_between(rows.cutoff_ts, rows.opened_ts),
    )
    aggregates: dict[str, ir.Value] = {
        f"_support_tickets_{days}d": rows.count(where=within(rows, rows.opened_ts, days))
        for days in FEATURE_WINDOWS
    }
    return aggregates | {
        "_support_response_mean_365d": mean_duration(
            rows.response_us, in_year & answered, MICROSECONDS_PER_HOUR
        ),
        "_support_response_max_365d": waited_hours.max(where=in_year),
        "_support_unresolved": rows.count(where=~resolved.fill_null(False)),
        # Tickets resolved at the same instant: the higher score counts (never the row order).
        "_support_last_csat": rows.csat.argmax(
            ibis.struct({"resolved_ts": rows.resolved_ts, "csat": rows.csat}),
            where=resolved & rows.csat.notnull(),
        ),
        "_support_last_ticket_ts": rows.opened_ts.max(),
    }


def _values(frame: ir.Table, context: Context) -> dict[str, ir.Value]:
    values: dict[str, ir.Value] = {
        f"support_tickets_{d}d": count(frame[f"_support_tickets_{d}d"]) for d in FEATURE_WINDOWS
    }
    return values | {
        "support_first_response_hours_mean_365d": frame._support_response_mean_365d,
        "support_first_response_hours_max_365d": frame._support_response_max_365d,
        "support_unresolved_tickets": count(frame._support_unresolved),
        # float: a nullable integer column would change dtype with the rows it holds
        "support_last_csat": frame._support_last_csat.cast(dt.float64),
        "support_days_since_last_ticket": days_between(
            frame.cutoff_ts, frame._support_last_ticket_ts
        ),
    }


FAMILY = Family(name="support", values=_values, window_aggregates={"support_tickets": _aggregates})
