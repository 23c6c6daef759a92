"""RFM: recency, frequency and monetary value of completed orders, and how they are changing.

Windows are ``[cutoff - N days, cutoff)``; trends compare the last ``N`` days with the ``N``
days before them. Inter-purchase gaps come from each order's previous completed order (computed
once per order in ``features.rows``); a gap counts when its later order lies in the window.
"""

from __future__ import annotations

import ibis.expr.types as ir

from features.cutoffs import between, within
from features.definitions import FEATURE_WINDOWS
from features.expr import (
    MICROSECONDS_PER_DAY,
    count,
    days_between,
    mean_duration,
    money,
    ratio,
    relative_change,
    total,
)
from features.families.base import Context, Family

TREND_WINDOWS = (30, 90)
"""Windows whose trend is reported; each must be one of ``FEATURE_WINDOWS``."""


def _aggregates(rows: ir.Table, context: Context) -> dict[str, ir.Value]:
    purchase = rows.completed
    ts = rows.order_ts
    # exact sums: averages and trends of cent amounts often land on a rounding tie
    amount, discount = money(rows.amount), money(rows.discount_amount)
    aggregates: dict[str, ir.Value] = {"_rfm_last_order_ts": ts.max(where=purchase)}
    for days in FEATURE_WINDOWS:
        in_window = purchase & within(rows, ts, days)
        aggregates[f"_rfm_orders_{days}d"] = rows.count(where=in_window)
        aggregates[f"_rfm_spend_{days}d"] = amount.sum(where=in_window)
    for days in TREND_WINDOWS:
        in_previous = purchase & between(rows, ts, 2 * days, days)
        aggregates[f"_rfm_orders_prev_{days}d"] = rows.count(where=in_previous)
        aggregates[f"_rfm_spend_prev_{days}d"] = amount.sum(where=in_previous)
    in_year = within(rows, ts, 365)
    aggregates |= {
        "_rfm_gap_mean_365d": mean_duration(rows.gap_us, purchase & in_year, MICROSECONDS_PER_DAY),
        "_rfm_gap_std_365d": (rows.gap_us / MICROSECONDS_PER_DAY).std(
            where=purchase & in_year, how="sample"
        ),
        "_rfm_returned_365d": rows.count(where=rows.returned & in_year),
        "_rfm_discount_365d": discount.sum(where=purchase & in_year),
        "_rfm_gross_365d": (amount + discount.fill_null(0)).sum(where=purchase & in_year),
    }
    return aggregates


def _values(frame: ir.Table, context: Context) -> dict[str, ir.Value]:
    days_since_last = days_between(frame.cutoff_ts, frame._rfm_last_order_ts)
    values: dict[str, ir.Value] = {"rfm_days_since_last_order": days_since_last}
    values |= {f"rfm_orders_{d}d": count(frame[f"_rfm_orders_{d}d"]) for d in FEATURE_WINDOWS}
    values |= {f"rfm_spend_{d}d": total(frame[f"_rfm_spend_{d}d"]) for d in FEATURE_WINDOWS}
    values["rfm_avg_basket_365d"] = ratio(values["rfm_spend_365d"], values["rfm_orders_365d"])
    for days in TREND_WINDOWS:
        for what, kind in (("spend", total), ("orders", count)):
            values[f"rfm_{what}_trend_{days}d"] = relative_change(
                values[f"rfm_{what}_{days}d"], kind(frame[f"_rfm_{what}_prev_{days}d"])
            )
    values |= {
        "rfm_gap_mean_days_365d": frame._rfm_gap_mean_365d,
        "rfm_gap_std_days_365d": frame._rfm_gap_std_365d,
        "rfm_gap_ratio": ratio(days_since_last, frame._rfm_gap_mean_365d),
        "rfm_return_share_365d": ratio(
            count(frame._rfm_returned_365d),
            count(frame._rfm_returned_365d) + values["rfm_orders_365d"],
        ),
        "rfm_discount_share_365d": ratio(frame._rfm_discount_365d, frame._rfm_gross_365d),
    }
    return values


FAMILY = Family(name="rfm", values=_values, window_aggregates={"orders": _aggregates})
