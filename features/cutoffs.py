"""Cutoffs: the points in time features are computed at, and the windows around them.

Time semantics, used by every feature and label:

* a cutoff date ``c`` means 00:00 UTC of that day;
* features use rows with timestamps strictly before it; an ``N``-day window is
  ``[c - N days, c)``; nothing older than ``features.history_days`` is read at all;
* labels use rows in the horizon ``[c, c + horizon_days)``.

The cutoffs become a small table (one row per cutoff) that every source table is joined to once;
window bounds are precomputed columns of it, so feature expressions compare timestamps with
columns instead of doing date arithmetic that backends disagree on.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from core.config import CutoffConfig

KEYS: tuple[str, str] = ("customer_id", "cutoff_date")
"""Every feature row is one customer at one cutoff."""

ROW_ORDER: tuple[str, str] = ("cutoff_date", "customer_id")
"""How feature tables are sorted when executed or written (stable, reproducible files)."""

ROW_KEY = "_row"
"""An integer standing for one population row (customer, cutoff) inside a build.

Every per-(customer, cutoff) aggregate is grouped and joined on it instead of on
:data:`KEYS`: one integer is cheaper to hash, compare and carry through the large joins and
group-bys than a text id plus a date. It never leaves the build.
"""

CUTOFF_NUMBER = "_cutoff_number"
"""Cutoff-table column: the cutoff's position in the table (0 for the oldest)."""

STANDARD_BOUNDS: tuple[int, ...] = (30, 60, 90, 180, 365)
"""Window starts every feature family may use (windows and the periods trends compare with)."""


class CutoffError(ValueError):
    """No usable cutoff: an empty list, or a grid that leaves no room for the label horizon."""


def cutoff_grid(snapshot_date: dt.date, cutoffs: CutoffConfig, horizon_days: int) -> list[dt.date]:
    """The labelled training cutoffs, oldest first.

    The grid is anchored at ``snapshot_date`` and steps back ``cutoffs.every_days``; only cutoffs
    whose whole label horizon lies before the snapshot (``cutoff + horizon_days <=
    snapshot_date``) can be labelled, and the ``cutoffs.count`` most recent of those are returned.
    """
    first_step = math.ceil(horizon_days / cutoffs.every_days)
    steps = range(first_step, first_step + cutoffs.count)
    return sorted(snapshot_date - dt.timedelta(days=step * cutoffs.every_days) for step in steps)


def start_column(days: int) -> str:
    """Name of the cutoff-table column holding ``cutoff - days`` (a timestamp)."""
    return f"_start_{days}d"


def cutoff_table(
    cutoffs: Iterable[dt.date], bound_days: Iterable[int], horizon_days: int
) -> ir.Table:
    """One row per distinct cutoff, with its timestamp, window starts and horizon end.

    Columns: ``cutoff_date`` (date), ``cutoff_ts`` (its 00:00), :data:`CUTOFF_NUMBER` (its
    position, from 0, oldest first), ``_start_{N}d`` for every ``N`` in
    ``bound_days`` plus :data:`STANDARD_BOUNDS`, ``_last_day`` (the day before the cutoff),
    ``_horizon_end_ts`` and ``_horizon_end_date`` (``cutoff + horizon_days``).
    """
    dates = sorted(set(cutoffs))
    if not dates:
        raise CutoffError("no cutoff dates given; expected at least one")
    midnights = [dt.datetime.combine(day, dt.time()) for day in dates]
    columns: dict[str, pa.Array] = {
        "cutoff_date": pa.array(dates, pa.date32()),
        "cutoff_ts": pa.array(midnights, pa.timestamp("us")),
        CUTOFF_NUMBER: pa.array(range(len(dates)), pa.int64()),
    }
    for days in sorted({*STANDARD_BOUNDS, *bound_days}):
        starts = [midnight - dt.timedelta(days=days) for midnight in midnights]
        columns[start_column(days)] = pa.array(starts, pa.timestamp("us"))
    horizon = dt.timedelta(days=horizon_days)
    columns["_last_day"] = pa.array([day - dt.timedelta(days=1) for day in dates], pa.date32())
    columns["_horizon_end_ts"] = pa.array([m + horizon for m in midnights], pa.timestamp("us"))
    columns["_horizon_end_date"] = pa.array([day + horizon for day in dates], pa.date32())
    return ibis.memtable(pa.table(columns))


def within(rows: ir.Table, ts: ir.TimestampValue, days: int) -> ir.BooleanValue:
    """``ts`` lies in the ``days``-day window before the row's cutoff (joined rows only).

    Rows joined to a cutoff are already strictly before it, so only the lower bound is checked.
    """
    return ts >= rows[start_column(days)]


def between(
    rows: ir.Table, ts: ir.TimestampValue, older_days: int, newer_days: int
) -> ir.BooleanValue:
    """``ts`` lies in ``[cutoff - older_days, cutoff - newer_days)``: the period before a window."""
    return (ts >= rows[start_column(older_days)]) & (ts < rows[start_column(newer_days)])


def as_dates(cutoffs: Sequence[dt.date]) -> list[dt.date]:
    """Sorted distinct cutoff dates; ``datetime`` values (a ``date`` subclass) lose their time."""
    return sorted({c.date() if isinstance(c, dt.datetime) else c for c in cutoffs})
