"""Loyalty and referrals: points earned and redeemed (``value`` = points) and friends referred.

Values come from the per-event-type statistics of ``features.event_stats``.
"""

from __future__ import annotations

import ibis.expr.types as ir

from features.event_stats import stat
from features.expr import count, days_between, flag, total
from features.families.base import Context, Family

EARN, REDEEM, REFERRAL = "loyalty_earn", "loyalty_redeem", "referral"


def _values(frame: ir.Table, context: Context) -> dict[str, ir.Value]:
    activity = count(stat(frame, EARN, "count")) + count(stat(frame, REDEEM, "count"))
    return {
        "loyalty_member": flag(activity > 0),
        "loyalty_points_earned_90d": total(stat(frame, EARN, "value_sum_90d")),
        "loyalty_points_earned_365d": total(stat(frame, EARN, "value_sum_365d")),
        "loyalty_points_redeemed_365d": total(stat(frame, REDEEM, "value_sum_365d")),
        "loyalty_days_since_last_redeem": days_between(
            frame.cutoff_ts, stat(frame, REDEEM, "last_ts")
        ),
        "loyalty_referrals_365d": count(stat(frame, REFERRAL, "count_365d")),
    }


FAMILY = Family(
    name="loyalty",
    values=_values,
    event_types=(EARN, REDEEM, REFERRAL),
    value_event_types=(EARN, REDEEM),
)
