from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.config import ValidateConfig
from crm.tables import TableReadError, read_table
from crm.validation import validate_raw_tables
from features.sources import load_raw_tables

CUSTOMERS_CSV = (
    "\ufeffcustomer_id,signup_date,country,age\n007,2023-01-01,DE,31\n8,2023-01-02 10:00,,\n"
)
ORDERS_CSV = """\
order_id,customer_id,order_ts,amount,discount_amount,status
1,007,2023-01-05T10:00:00+02:00,10.5,,completed
2,8,2023-01-05 10:00,"",0,returned
3,8,2023-01-06T01:00:00Z,NaN,1.5,cancelled
"""


@pytest.fixture
def con() -> ibis.BaseBackend:
    return ibis.duckdb.connect()


def write_csv_export(raw_dir: Path) -> Path:
    raw_dir.mkdir()
    (raw_dir / "customers.csv").write_text(CUSTOMERS_CSV, encoding="utf-8")
    (raw_dir / "orders.csv").write_text(ORDERS_CSV, encoding="utf-8")
    return raw_dir


def test_csv_tables_are_read_in_contract_types(con, tmp_path: Path) -> None:
    tables = load_raw_tables(con, write_csv_export(tmp_path / "raw"))

    assert sorted(tables) == ["customers", "orders"]
    customers = tables["customers"].to_pyarrow().to_pydict()
    assert customers == {
        "customer_id": ["007", "8"],  # leading zeros survive
        "signup_date": [dt.date(2023, 1, 1), dt.date(2023, 1, 2)],  # time of day dropped
        "country": ["DE", None],
        "age": [31, None],
    }
    orders = tables["orders"].order_by("order_id").execute()
    assert orders["order_ts"].tolist() == [
        pd.Timestamp("2023-01-05 08:00:00"),  # +02:00 converted to UTC
        pd.Timestamp("2023-01-05 10:00:00"),
        pd.Timestamp("2023-01-06 01:00:00"),
    ]
    assert orders["amount"].tolist()[0] == 10.5
    assert all(math.isnan(value) for value in orders["amount"].tolist()[1:])  # "" and NaN
    assert orders["discount_amount"].tolist()[1:] == [0.0, 1.5]
    assert orders["n_items"].isna().all()  # optional column absent: null
    assert dict(tables["orders"].schema()) == {
        "order_id": ibis.dtype("string"),
        "customer_id": ibis.dtype("string"),
        "order_ts": ibis.dtype("timestamp"),
        "amount": ibis.dtype("float64"),
        "n_items": ibis.dtype("int64"),
        "discount_amount": ibis.dtype("float64"),
        "channel": ibis.dtype("string"),
        "status": ibis.dtype("string"),
    }


def test_parquet_parts_with_other_physical_types_read_the_same(con, tmp_path: Path) -> None:
    raw_dir = tmp_path / "raw"
    (raw_dir / "orders").mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "customer_id": ["C1"],
                "signup_date": pa.array([dt.datetime(2023, 1, 1, 15, 0)], pa.timestamp("ms")),
                "plan": ["plus"],
            }
        ),
        raw_dir / "customers.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "order_id": pa.array([1], pa.int64()),
                "customer_id": ["C1"],
                "order_ts": pa.array(
                    [dt.datetime(2023, 1, 5, 10, tzinfo=dt.UTC)], pa.timestamp("us", "UTC")
                ),
                "amount": pa.array([3], pa.int32()),
            }
        ),
        raw_dir / "orders" / "part-00000.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "order_id": ["O2"],
                "customer_id": ["C1"],
                "order_ts": pa.array([dt.datetime(2023, 1, 6)], pa.timestamp("ms")),
                "amount": [float("nan")],
            }
        ),
        raw_dir / "orders" / "part-00001.parquet",
    )
    (raw_dir / "orders" / "_SUCCESS").write_text("")

    tables = load_raw_tables(con, raw_dir)

    customers = tables["customers"].to_pyarrow().to_pydict()
    assert customers == {
        "customer_id": ["C1"],
        "signup_date": [dt.date(2023, 1, 1)],  # time of day dropped
        "plan": ["plus"],
    }
    orders = tables["orders"].order_by("order_ts").execute()
    assert orders["order_id"].tolist() == ["1", "O2"]
    assert orders["order_ts"].tolist() == [
        pd.Timestamp("2023-01-05 10:00"),
        pd.Timestamp("2023-01-06 00:00"),
    ]
    assert orders["amount"].tolist()[0] == 3.0
    assert math.isnan(orders["amount"].tolist()[1])


def test_absent_optional_tables_are_missing_and_customers_is_required(con, tmp_path: Path) -> None:
    raw_dir = write_csv_export(tmp_path / "raw")

    assert "events" not in load_raw_tables(con, raw_dir)

    (raw_dir / "customers.csv").unlink()
    with pytest.raises(TableReadError, match="customers: required table missing"):
        load_raw_tables(con, raw_dir)


def test_a_present_table_without_a_required_column_is_refused(con, tmp_path: Path) -> None:
    raw_dir = write_csv_export(tmp_path / "raw")
    (raw_dir / "orders.csv").write_text("order_id,customer_id,amount\n1,007,2\n")

    with pytest.raises(TableReadError, match=r"orders\.order_ts: required column missing"):
        load_raw_tables(con, raw_dir)


def test_a_customer_attribute_turning_to_text_late_in_a_large_csv_is_read_as_text(
    con, tmp_path: Path
) -> None:
    """Numbers in the first 25,000 rows, then a text value: DuckDB's sniffer sampled the start
    and the build stopped on a conversion error that `churn validate` had not seen."""
    raw_dir = write_csv_export(tmp_path / "raw")
    rows = [f"C{i},2023-01-01,{100 + i % 7}" for i in range(25_000)] + ["C25000,2023-01-01,ONLINE"]
    (raw_dir / "customers.csv").write_text("customer_id,signup_date,home_store\n" + "\n".join(rows))

    customers = load_raw_tables(con, raw_dir)["customers"].to_pandas()

    assert customers["home_store"].iloc[-1] == "ONLINE"
    assert customers["home_store"].iloc[0] == "100"


def test_a_contract_column_spelt_in_other_case_is_refused_not_read_as_absent(
    con, tmp_path: Path
) -> None:
    raw_dir = write_csv_export(tmp_path / "raw")
    (raw_dir / "orders.csv").write_text(
        "order_id,customer_id,order_ts,amount,Status\n1,007,2024-01-01 10:00,2,cancelled\n"
    )

    with pytest.raises(TableReadError, match=r"^orders: .*'Status' for 'status'"):
        load_raw_tables(con, raw_dir)


@pytest.mark.parametrize("column", ["amount", "discount_amount"])  # required, optional
def test_a_part_lacking_a_column_the_other_parts_hold_is_refused(
    con, tmp_path: Path, column: str
) -> None:
    """The engine would fill it with nulls: a part without ``amount`` would read as 0 spend."""
    raw_dir = write_csv_export(tmp_path / "raw")
    orders = pd.DataFrame(
        {
            "order_id": ["1", "2"],
            "customer_id": ["007", "8"],
            "order_ts": pd.to_datetime(["2023-01-05", "2023-01-06"]),
            "amount": [10.5, 3.0],
            "discount_amount": [0.0, 1.0],
            "status": ["completed", "completed"],
        }
    )
    (raw_dir / "orders.csv").unlink()
    (raw_dir / "orders").mkdir()
    orders.head(1).to_parquet(raw_dir / "orders" / "part-00000.parquet")
    orders.tail(1).drop(columns=column).to_parquet(raw_dir / "orders" / "part-00001.parquet")

    with pytest.raises(TableReadError, match=f"orders.{column}: column missing from 1 of 2") as e:
        load_raw_tables(con, raw_dir)

    assert "part-00001.parquet" in str(e.value)
    orders.tail(1).to_parquet(raw_dir / "orders" / "part-00001.parquet")
    assert load_raw_tables(con, raw_dir)["orders"].count().execute() == 2


def test_the_same_export_as_csv_and_as_parquet_gives_the_same_tables(con, tmp_path: Path) -> None:
    csv_tables = load_raw_tables(con, write_csv_export(tmp_path / "csv"))
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    for name, expression in csv_tables.items():
        pq.write_table(expression.to_pyarrow(), parquet_dir / f"{name}.parquet")

    parquet_tables = load_raw_tables(con, parquet_dir)

    for name in csv_tables:
        pd.testing.assert_frame_equal(
            csv_tables[name].execute(), parquet_tables[name].execute(), check_dtype=False
        )


def test_csv_text_the_validator_accepts_is_read_with_the_same_values(con, tmp_path: Path) -> None:
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    (raw_dir / "customers.csv").write_text(
        "customer_id,signup_date\nC1, 2023-01-01 \n", encoding="utf-8"
    )
    (raw_dir / "orders.csv").write_text(
        "order_id,customer_id,order_ts,amount,discount_amount,n_items\n"
        "O1,C1, 2023-01-05 10:00:00Z ,1,  ,nan\n"
        "O2,C1,2023-01-06 10:00:00.1234567, 7.5 ,0, 3 \n",
        encoding="utf-8",
    )
    (raw_dir / "support_tickets.csv").write_text(
        "ticket_id,customer_id,opened_ts,first_response_ts,resolved_ts,channel,csat\n"
        "T1,C1,2023-01-07 09:00,, ,email,nan\n",
        encoding="utf-8",
    )
    validate_raw_tables(raw_dir, ValidateConfig())

    tables = load_raw_tables(con, raw_dir)

    for name in ("customers", "orders", "support_tickets"):
        expected = read_table(raw_dir, name)
        engine = tables[name].select(*expected.columns).order_by(expected.columns[0]).to_pandas()
        for column in expected.columns:
            assert engine[column].isna().tolist() == expected[column].isna().tolist(), column
            present = expected[column].notna()
            assert _comparable(engine[column][present]) == _comparable(expected[column][present])


def _comparable(values: pd.Series) -> list[object]:
    """Values as Python objects that compare across engines (3 == 3.0; a date is its midnight)."""
    return [pd.Timestamp(value) if isinstance(value, dt.date) else value for value in values]
