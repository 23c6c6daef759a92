"""Engagement: marketing e-mail, web and cart behaviour from the events table.

Reads the contract's stable event types by name (``EVENT_TYPES``); an export that names them
differently gets zero counts and null rates here, and still gets generic counts and recency for
its own names in the ``events`` family. Values come from the per-event-type statistics of
``features.event_stats``.
"""

from __future__ import annotations

import ibis.expr.types as ir

from features.event_stats import stat
from features.expr import count, ratio
from features.families.base import Context, Family

SENT, OPEN, CLICK = "email_sent", "email_open", "email_click"
UNSUBSCRIBE, WEB, CART_ADD, CART_ABANDON = (
    "email_unsubscribe",
    "web_session",
    "cart_add",
    "cart_abandon",
)


def _values(frame: ir.Table, context: Context) -> dict[str, ir.Value]:
    def counted(event_type: str, days: int) -> ir.IntegerValue:
        return count(stat(frame, event_type, f"count_{days}d"))

    return {
        "engagement_email_open_rate_30d": ratio(counted(OPEN, 30), counted(SENT, 30)),
        "engagement_email_open_rate_90d": ratio(counted(OPEN, 90), counted(SENT, 90)),
        "engagement_email_click_rate_90d": ratio(counted(CLICK, 90), counted(SENT, 90)),
        "engagement_email_unsubscribes_365d": counted(UNSUBSCRIBE, 365),
        "engagement_web_sessions_30d": counted(WEB, 30),
        "engagement_web_sessions_90d": counted(WEB, 90),
        "engagement_cart_abandon_rate_90d": ratio(counted(CART_ABANDON, 90), counted(CART_ADD, 90)),
    }


FAMILY = Family(
    name="engagement",
    values=_values,
    event_types=(SENT, OPEN, CLICK, UNSUBSCRIBE, WEB, CART_ADD, CART_ABANDON),
)
