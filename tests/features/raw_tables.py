"""Hand-built raw tables for feature tests: a few rows written out, typed by the contract.

``table("orders", [{...}, ...])`` gives an ``ibis.memtable`` in contract types (through
``features.sources.conform``, as ``load_raw_tables`` would): dates and timestamps may be written
as ISO text, optional contract columns may be left out, extra ``customers`` columns are kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from core.config import ChurnConfig, FeatureFamiliesConfig, FeaturesConfig
from crm.contract import LogicalType, table_spec
from features.sources import conform

ARROW = {
    LogicalType.ID: pa.string(),
    LogicalType.STRING: pa.string(),
    LogicalType.FLOAT: pa.float64(),
    LogicalType.INTEGER: pa.int64(),
    LogicalType.DATE: pa.date32(),
    LogicalType.TIMESTAMP: pa.timestamp("us"),
}

CHURN = ChurnConfig()
"""Defaults: inactivity, 90-day horizon, 365-day look-back."""


def _value(value: Any, logical: LogicalType | None) -> Any:
    if isinstance(value, str) and logical is LogicalType.DATE:
        return dt.date.fromisoformat(value)
    if isinstance(value, str) and logical is LogicalType.TIMESTAMP:
        return dt.datetime.fromisoformat(value)
    return value


def table(name: str, rows: Sequence[Mapping[str, Any]]) -> ir.Table:
    """Table ``name`` from ``rows``; columns are the union of the rows' keys."""
    spec = table_spec(name)
    names = list(dict.fromkeys(key for row in rows for key in row))
    arrays = {}
    for column in names:
        logical = spec.column(column).type if column in spec.names else None
        values = [_value(row.get(column), logical) for row in rows]
        arrays[column] = pa.array(values, ARROW[logical] if logical else None)
    return conform(name, ibis.memtable(pa.table(arrays)))


def customers(*ids: str, signup_date: str = "2023-01-01") -> ir.Table:
    """Customers ``ids``, all signed up on ``signup_date``."""
    return table("customers", [{"customer_id": i, "signup_date": signup_date} for i in ids])


def orders(*rows: tuple[str, str, float] | tuple[str, str, float, str]) -> ir.Table:
    """Orders from ``(customer_id, order_ts, amount[, status])``; status defaults to completed."""
    return table(
        "orders",
        [
            {
                "order_id": f"O{index}",
                "customer_id": row[0],
                "order_ts": row[1],
                "amount": row[2],
                "status": row[3] if len(row) > 3 else "completed",
            }
            for index, row in enumerate(rows)
        ],
    )


def events(*rows: tuple[str, str, str] | tuple[str, str, str, float]) -> ir.Table:
    """Events from ``(customer_id, ts, event_type[, value])``."""
    return table(
        "events",
        [
            {
                "customer_id": row[0],
                "ts": row[1],
                "event_type": row[2],
                "value": row[3] if len(row) > 3 else None,
            }
            for row in rows
        ],
    )


def only(*families: str, **settings: Any) -> FeaturesConfig:
    """Features config with only ``families`` switched on (plus any other ``settings``)."""
    switches = {name: name in families for name in FeatureFamiliesConfig.model_fields}
    return FeaturesConfig(families=FeatureFamiliesConfig(**switches), **settings)


def by_customer(frame: Any, cutoff: str | None = None) -> dict[str, dict[str, Any]]:
    """Rows of a computed feature frame keyed by customer (at one ``cutoff`` if given)."""
    if cutoff is not None:
        frame = frame[frame.cutoff_date == dt.datetime.fromisoformat(cutoff)]
    return {row["customer_id"]: row for row in frame.to_dict("records")}
