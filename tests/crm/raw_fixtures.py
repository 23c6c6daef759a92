"""A tiny valid raw folder written out by hand, and helpers to put tables in each accepted form."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd

CUSTOMERS_CSV = """\
customer_id,signup_date,country
C1,2023-01-01,DE
C2,2023-02-15,
C3,2023-03-31,FR
"""

ORDERS_CSV = """\
order_id,customer_id,order_ts,amount,status
O1,C1,2023-01-05 10:00:00,10.5,completed
O2,C1,2023-02-01 12:30:00,0,returned
O3,C2,2023-03-01 08:00:00,99.9,completed
O4,C3,2023-04-02 23:59:59,5,cancelled
"""

TICKETS_CSV = """\
ticket_id,customer_id,opened_ts,first_response_ts,resolved_ts,channel,csat
T1,C1,2023-01-10 09:00:00,2023-01-10 10:00:00,2023-01-11 09:00:00,email,5
T2,C2,2023-03-02 09:00:00,,,phone,
"""


def write_csv(raw_dir: Path, name: str, text: str) -> Path:
    raw_dir.mkdir(parents=True, exist_ok=True)
    path = raw_dir / f"{name}.csv"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def write_valid_raw(raw_dir: Path) -> Path:
    """customers + orders + support_tickets as CSV; every other table absent."""
    write_csv(raw_dir, "customers", CUSTOMERS_CSV)
    write_csv(raw_dir, "orders", ORDERS_CSV)
    write_csv(raw_dir, "support_tickets", TICKETS_CSV)
    return raw_dir


def orders_frame() -> pd.DataFrame:
    """The orders of :data:`ORDERS_CSV` with native Parquet types."""
    return pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "O4"],
            "customer_id": ["C1", "C1", "C2", "C3"],
            "order_ts": pd.to_datetime(
                [
                    "2023-01-05 10:00:00",
                    "2023-02-01 12:30:00",
                    "2023-03-01 08:00:00",
                    "2023-04-02 23:59:59",
                ]
            ),
            "amount": [10.5, 0.0, 99.9, 5.0],
            "status": ["completed", "returned", "completed", "cancelled"],
        }
    )


def write_orders(raw_dir: Path, form: str, frame: pd.DataFrame | None = None) -> None:
    """Write orders as ``csv``, one ``parquet`` file, or ``parts`` (two part files)."""
    frame = orders_frame() if frame is None else frame
    (raw_dir / "orders.csv").unlink(missing_ok=True)
    if form == "csv":
        frame.to_csv(raw_dir / "orders.csv", index=False)
    elif form == "parquet":
        frame.to_parquet(raw_dir / "orders.parquet", index=False)
    elif form == "parts":
        (raw_dir / "orders").mkdir()
        frame.iloc[:2].to_parquet(raw_dir / "orders" / "part-00000.parquet", index=False)
        frame.iloc[2:].to_parquet(raw_dir / "orders" / "part-00001.parquet", index=False)
    else:
        raise ValueError(f"unknown form {form!r}; expected csv, parquet or parts")
