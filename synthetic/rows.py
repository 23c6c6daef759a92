"""Row buffers: the raw tables of one chunk, appended week by week as plain numpy columns.

Customers are referred to by their index inside the chunk and timestamps are int64 microseconds;
``synthetic.tables`` turns the finished columns into Arrow tables with string ids and real types.
Nullable timestamps use ``NULL_US``; nullable floats use NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NULL_US = -1
EVENT_TYPES = (
    "email_sent",
    "email_open",
    "email_click",
    "email_unsubscribe",
    "web_session",
    "cart_add",
    "cart_abandon",
    "survey_nps",
    "loyalty_earn",
    "loyalty_redeem",
    "referral",
    "app_login",
)
EVENT_CODE = {name: code for code, name in enumerate(EVENT_TYPES)}
ORDER_STATUSES = ("completed", "returned", "cancelled")
ORDER_CHANNELS = ("web", "app")
TICKET_CHANNELS = ("email", "chat", "phone")


class RowBuffer:
    """Columns of one table, appended in pieces and joined once by ``finish``."""

    def __init__(self, dtypes: dict[str, np.dtype | type]) -> None:
        self._dtypes = {name: np.dtype(dtype) for name, dtype in dtypes.items()}
        self._pieces: dict[str, list[np.ndarray]] = {name: [] for name in dtypes}
        self._n_rows = 0

    def __len__(self) -> int:
        return self._n_rows

    def append(self, **columns: np.ndarray) -> None:
        """Add rows; every column of the table must be given, all of the same length."""
        if columns.keys() != self._dtypes.keys():
            raise ValueError(f"expected columns {sorted(self._dtypes)}, got {sorted(columns)}")
        lengths = {len(values) for values in columns.values()}
        if len(lengths) != 1:
            raise ValueError(f"columns differ in length: {lengths}")
        for name, values in columns.items():
            self._pieces[name].append(np.asarray(values, dtype=self._dtypes[name]))
        self._n_rows += lengths.pop()

    def finish(self) -> dict[str, np.ndarray]:
        """All rows appended so far, one array per column."""
        return {
            name: np.concatenate(pieces) if pieces else np.empty(0, dtype=self._dtypes[name])
            for name, pieces in self._pieces.items()
        }


def _orders() -> RowBuffer:
    return RowBuffer(
        {
            "customer": np.int32,
            "ts": np.int64,
            "amount": np.float64,
            "n_items": np.int32,
            "discount": np.float64,
            "channel": np.int8,
            "status": np.int8,
        }
    )


def _events() -> RowBuffer:
    return RowBuffer({"customer": np.int32, "ts": np.int64, "event": np.int8, "value": np.float64})


def _tickets() -> RowBuffer:
    return RowBuffer(
        {
            "customer": np.int32,
            "opened": np.int64,
            "first_response": np.int64,
            "resolved": np.int64,
            "channel": np.int8,
            "csat": np.float64,
        }
    )


def _offers() -> RowBuffer:
    return RowBuffer(
        {
            "customer": np.int32,
            "campaign": np.int16,
            "offer": np.int8,
            "sent": np.int64,
            "treatment": np.bool_,
        }
    )


def _redemptions() -> RowBuffer:
    return RowBuffer({"offer_row": np.int64, "redeemed": np.int64})


@dataclass
class RawRows:
    """Everything one chunk writes to the raw tables (customers aside, which come from traits).

    ``redemptions`` maps a row of ``offers`` (by position) to the time it was redeemed.
    """

    orders: RowBuffer = field(default_factory=_orders)
    events: RowBuffer = field(default_factory=_events)
    tickets: RowBuffer = field(default_factory=_tickets)
    offers: RowBuffer = field(default_factory=_offers)
    redemptions: RowBuffer = field(default_factory=_redemptions)
