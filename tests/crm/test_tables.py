from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from crm.contract import LogicalType
from crm.tables import (
    TableFormat,
    TableReader,
    TableReadError,
    convert,
    find_table,
    read_table,
)
from tests.crm.raw_fixtures import orders_frame, write_csv, write_orders, write_valid_raw


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    return write_valid_raw(tmp_path / "raw")


def test_find_table_reports_the_form_and_files(raw_dir: Path) -> None:
    write_orders(raw_dir, "parts")
    (raw_dir / "orders" / "_SUCCESS").write_text("")
    (raw_dir / "orders" / ".part-00000.parquet.crc").write_text("")

    orders = find_table(raw_dir, "orders")
    customers = find_table(raw_dir, "customers")

    assert orders is not None and customers is not None
    assert orders.format is TableFormat.PARQUET_PARTS
    assert [path.name for path in orders.files] == ["part-00000.parquet", "part-00001.parquet"]
    assert (customers.format, customers.files) == (TableFormat.CSV, (raw_dir / "customers.csv",))
    assert find_table(raw_dir, "events") is None


def test_find_table_refuses_ambiguity_and_empty_folders(raw_dir: Path) -> None:
    (raw_dir / "customers.parquet").write_bytes(b"")
    (raw_dir / "events").mkdir()

    with pytest.raises(TableReadError, match=r"customers: ambiguous: .*customers\.parquet, .*"):
        find_table(raw_dir, "customers")
    with pytest.raises(TableReadError, match=r"events: folder .*events/ holds no \*\.parquet"):
        find_table(raw_dir, "events")


def test_csv_ids_keep_leading_zeros_and_columns_get_contract_types(raw_dir: Path) -> None:
    write_csv(raw_dir, "customers", "customer_id,signup_date,plan\n007,2023-01-01 13:45,gold\n")

    customers = read_table(raw_dir, "customers")

    assert customers is not None
    assert customers["customer_id"].tolist() == ["007"]
    assert customers["signup_date"].tolist() == [pd.Timestamp("2023-01-01")]
    assert customers["signup_date"].dtype == "datetime64[us]"
    assert customers["plan"].tolist() == ["gold"]


def test_parquet_values_are_converted_to_contract_types(raw_dir: Path) -> None:
    frame = orders_frame().assign(
        order_id=[1, 2, 3, 4],
        order_ts=orders_frame()["order_ts"].dt.tz_localize("Europe/Berlin"),
        amount=[10, 0, 99, 5],
        n_items=[1.0, np.nan, 3.0, 2.0],
    )
    write_orders(raw_dir, "parquet", frame)

    orders = read_table(raw_dir, "orders")

    assert orders is not None
    assert orders["order_id"].tolist() == ["1", "2", "3", "4"]
    assert orders["order_ts"].iloc[0] == pd.Timestamp("2023-01-05 09:00:00")
    assert orders["order_ts"].dtype == "datetime64[us]"
    assert orders["amount"].dtype == "float64"
    assert orders["n_items"].dtype == "Int64"
    assert orders["n_items"].isna().tolist() == [False, True, False, False]


def test_read_table_reads_only_the_asked_columns_across_parts(raw_dir: Path) -> None:
    write_orders(raw_dir, "parts")

    orders = read_table(raw_dir, "orders", columns=["order_id", "amount"])

    assert orders is not None
    assert list(orders.columns) == ["order_id", "amount"]
    assert orders["amount"].tolist() == [10.5, 0.0, 99.9, 5.0]


def test_absent_tables(raw_dir: Path) -> None:
    assert read_table(raw_dir, "events") is None
    (raw_dir / "customers.csv").unlink()
    with pytest.raises(TableReadError, match="customers: required table missing: expected"):
        read_table(raw_dir, "customers")


def test_read_table_refuses_unreadable_values_and_missing_columns(raw_dir: Path) -> None:
    write_csv(raw_dir, "orders", "order_id,customer_id,order_ts,amount\nO1,C1,2023-01-01,abc\n")

    with pytest.raises(TableReadError, match=r"orders\.amount: 1 value\(s\) are not a number"):
        read_table(raw_dir, "orders")
    with pytest.raises(TableReadError, match=r"orders: missing column\(s\) status; found order_id"):
        read_table(raw_dir, "orders", columns=["order_id", "status"])


def test_row_labels_name_the_part_file(raw_dir: Path) -> None:
    write_orders(raw_dir, "parts")
    source = find_table(raw_dir, "orders")
    assert source is not None

    reader = TableReader(source)

    assert reader.n_rows == 4
    assert [reader.row_label(position) for position in (0, 1, 2, 3)] == [
        "part-00000.parquet:0",
        "part-00000.parquet:1",
        "part-00001.parquet:0",
        "part-00001.parquet:1",
    ]


def test_text_timestamps_with_offsets_become_naive_utc() -> None:
    text = pa.chunked_array(
        [["2023-01-01T10:00:00+02:00", "2023-01-01 10:00", " 2023-01-02 ", None]]
    )

    values, unparsable = convert(text, LogicalType.TIMESTAMP)

    assert values.to_pylist() == [
        pd.Timestamp("2023-01-01 08:00").to_pydatetime(),
        pd.Timestamp("2023-01-01 10:00").to_pydatetime(),
        pd.Timestamp("2023-01-02").to_pydatetime(),
        None,
    ]
    assert unparsable.tolist() == [False, False, False, False]


def test_numbers_from_text() -> None:
    text = pa.chunked_array([["1.5", "NaN", "", "1,5", None]])

    floats, float_failures = convert(text, LogicalType.FLOAT)
    whole, whole_failures = convert(text, LogicalType.INTEGER)

    assert floats.to_pylist() == [1.5, None, None, None, None]
    assert float_failures.tolist() == [False, False, False, True, False]
    assert whole.to_pylist() == [None, None, None, None, None]
    assert whole_failures.tolist() == [True, False, False, True, False]


def test_timestamp_text_is_read_exactly_as_the_features_engine_casts_it() -> None:
    text = pa.chunked_array(
        [
            [
                "2023-01-01 10:00:00Z",
                "2023-01-01 10:00:00.1234567",  # more digits than microseconds: cut, as DuckDB
                "2023-01-01T10",  # hour only: ISO 8601, but DuckDB refuses it
                "20230101",  # basic ISO form: refused by DuckDB
                "2023-01-01 10:00:00 +02:00",  # a space before the offset: refused by DuckDB
            ]
        ]
    )

    values, unparsable = convert(text, LogicalType.TIMESTAMP)

    assert values.to_pylist()[:2] == [
        pd.Timestamp("2023-01-01 10:00").to_pydatetime(),
        pd.Timestamp("2023-01-01 10:00:00.123456").to_pydatetime(),
    ]
    assert unparsable.tolist() == [False, False, True, True, True]


def test_integers_beyond_64_bits_are_unreadable_values_not_a_crash() -> None:
    text = pa.chunked_array([["1e20", "9223372036854775808", "-9223372036854775808", "7"]])
    unsigned = pa.chunked_array([pa.array([2**63, 5], pa.uint64())])

    from_text, text_failures = convert(text, LogicalType.INTEGER)
    from_unsigned, unsigned_failures = convert(unsigned, LogicalType.INTEGER)

    assert from_text.to_pylist() == [None, None, -(2**63), 7]
    assert text_failures.tolist() == [True, True, False, False]
    assert from_unsigned.to_pylist() == [None, 5]
    assert unsigned_failures.tolist() == [True, False]


def test_an_attribute_added_in_later_parts_reads_as_null_in_earlier_ones(tmp_path: Path) -> None:
    parts = tmp_path / "raw" / "customers"
    parts.mkdir(parents=True)
    signup = pd.to_datetime(["2023-01-01"])
    pd.DataFrame({"customer_id": ["C1"], "signup_date": signup}).to_parquet(
        parts / "part-00000.parquet"
    )
    pd.DataFrame({"customer_id": ["C2"], "signup_date": signup, "country": ["DE"]}).to_parquet(
        parts / "part-00001.parquet"
    )

    customers = read_table(tmp_path / "raw", "customers")

    assert customers["country"].isna().tolist() == [True, False]
    assert customers["country"].iloc[1] == "DE"
