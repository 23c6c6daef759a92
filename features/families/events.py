"""Touchpoint events: counts in windows and recency for every ``event_type`` in the data.

The event types come from the build's context (found in the events table before the latest
cutoff), so a new touchpoint in the export becomes features without code. Feature names use the
type's slug (``features.definitions.feature_slug``); values come from the per-event-type
statistics of ``features.event_stats``.
"""

from __future__ import annotations

import ibis.expr.types as ir

from features.definitions import FEATURE_WINDOWS
from features.event_stats import stat
from features.expr import count, days_between
from features.families.base import Context, Family


def _values(frame: ir.Table, context: Context) -> dict[str, ir.Value]:
    values: dict[str, ir.Value] = {}
    for slug, event_type in context.event_types.items():
        for days in FEATURE_WINDOWS:
            values[f"events_count_{days}d_{slug}"] = count(
                stat(frame, event_type, f"count_{days}d")
            )
    for slug, event_type in context.event_types.items():
        values[f"events_days_since_{slug}"] = days_between(
            frame.cutoff_ts, stat(frame, event_type, "last_ts")
        )
    return values


FAMILY = Family(name="events", values=_values, reads_event_types=True)
