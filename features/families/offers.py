"""Past offers: retention offers received (treatment rows only) and redeemed before the cutoff."""

from __future__ import annotations

import ibis.expr.types as ir

from features.cutoffs import within
from features.expr import count, days_between
from features.families.base import Context, Family


def _aggregates(rows: ir.Table, context: Context) -> dict[str, ir.Value]:
    in_year = within(rows, rows.sent_ts, 365)
    return {
        "_offers_received_365d": rows.count(where=in_year),
        "_offers_redeemed_365d": rows.count(where=in_year & (rows.redeemed_ts < rows.cutoff_ts)),
        "_offers_last_ts": rows.sent_ts.max(),
    }


def _values(frame: ir.Table, context: Context) -> dict[str, ir.Value]:
    return {
        "offers_received_365d": count(frame._offers_received_365d),
        "offers_redeemed_365d": count(frame._offers_redeemed_365d),
        "offers_days_since_last_offer": days_between(frame.cutoff_ts, frame._offers_last_ts),
    }


FAMILY = Family(name="offers", values=_values, window_aggregates={"offers": _aggregates})
