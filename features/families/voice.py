"""Voice of the customer: NPS survey answers (``survey_nps`` events, ``value`` = score 0-10).

Reads its own slice of the events table (``nps_answers``): taking a value by time is costly
over all events but cheap over the few survey rows. The change is latest minus earliest answer
within the history, so no window function is needed; with two answers it is the change between
them. Of several answers at the same instant, the highest score counts.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from features.expr import days_between
from features.families.base import Context, Family


def _aggregates(rows: ir.Table, context: Context) -> dict[str, ir.Value]:
    answered = rows.value.notnull()
    # Answers at the same instant (whole-day exports tie often): the highest score counts, so
    # the result never depends on row order.
    latest = ibis.struct({"ts": rows.ts, "score": rows.value})
    earliest = ibis.struct({"ts": rows.ts, "score": -rows.value})
    return {
        "_voice_last_nps": rows.value.argmax(latest, where=answered),
        "_voice_first_nps": rows.value.argmin(earliest, where=answered),
        "_voice_answers": rows.count(where=answered),
        "_voice_last_ts": rows.ts.max(),
    }


def _values(frame: ir.Table, context: Context) -> dict[str, ir.Value]:
    change = frame._voice_last_nps - frame._voice_first_nps
    return {
        "voice_last_nps": frame._voice_last_nps,
        "voice_nps_change": ibis.ifelse(frame._voice_answers >= 2, change, ibis.null(dt.float64)),
        "voice_days_since_last_nps": days_between(frame.cutoff_ts, frame._voice_last_ts),
    }


FAMILY = Family(name="voice", values=_values, window_aggregates={"nps_answers": _aggregates})
