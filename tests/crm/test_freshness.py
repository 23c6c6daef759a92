"""Whether a validation report still describes the raw folder it was written for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.config import ValidateConfig
from crm.freshness import ReportError, read_report, report_differences
from crm.validation import validate_raw_tables
from tests.crm.raw_fixtures import ORDERS_CSV, write_csv, write_orders, write_valid_raw

EVENTS_CSV = """\
customer_id,ts,event_type,value
C1,2023-01-06 10:00:00,email_open,
"""


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    return write_valid_raw(tmp_path / "raw")


def validated(raw_dir: Path) -> dict[str, Any]:
    return validate_raw_tables(raw_dir, ValidateConfig())


def test_the_report_records_each_file_size_and_matches_its_own_folder(raw_dir: Path) -> None:
    report = validated(raw_dir)

    sizes = report["tables"]["orders"]["file_sizes"]
    assert sizes == {"orders.csv": (raw_dir / "orders.csv").stat().st_size}
    assert report_differences(report, raw_dir) == []


def test_an_edited_file_is_named_with_both_sizes(raw_dir: Path) -> None:
    report = validated(raw_dir)
    before = (raw_dir / "orders.csv").stat().st_size
    write_csv(raw_dir, "orders", ORDERS_CSV + "O5,C3,2023-05-01 10:00:00,-5,completed\n")
    after = (raw_dir / "orders.csv").stat().st_size

    assert report_differences(report, raw_dir) == [
        f"orders: orders.csv has {after:,} bytes, {before:,} when validated"
    ]


def test_tables_that_appeared_or_went_are_named(raw_dir: Path) -> None:
    report = validated(raw_dir)
    write_csv(raw_dir, "events", EVENTS_CSV)
    (raw_dir / "support_tickets.csv").unlink()

    assert sorted(report_differences(report, raw_dir)) == [
        "events: present now, absent when validated",
        "support_tickets: validated, absent now",
    ]


def test_part_files_added_or_removed_are_named(raw_dir: Path) -> None:
    write_orders(raw_dir, "parts")
    report = validated(raw_dir)
    (raw_dir / "orders" / "part-00001.parquet").rename(raw_dir / "orders" / "part-00002.parquet")

    assert report_differences(report, raw_dir) == [
        "orders: orders/part-00002.parquet is new",
        "orders: orders/part-00001.parquet is gone",
    ]


def test_a_table_in_two_forms_is_named(raw_dir: Path) -> None:
    report = validated(raw_dir)
    write_orders(raw_dir, "parquet")
    write_csv(raw_dir, "orders", ORDERS_CSV)

    [difference] = report_differences(report, raw_dir)
    assert difference.startswith("orders: ambiguous")


def test_a_report_from_before_sizes_were_recorded_compares_file_names(raw_dir: Path) -> None:
    report = validated(raw_dir)
    for table in report["tables"].values():
        del table["file_sizes"]
    write_csv(raw_dir, "orders", ORDERS_CSV + "O5,C3,2023-05-01 10:00:00,5,completed\n")
    assert report_differences(report, raw_dir) == []

    (raw_dir / "orders.csv").rename(raw_dir / "orders.parquet")
    assert report_differences(report, raw_dir) == [
        "orders: orders.parquet is new",
        "orders: orders.csv is gone",
    ]


def test_a_report_churn_validate_wrote_reads_back_as_written(raw_dir: Path, tmp_path: Path) -> None:
    report = validated(raw_dir)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report), encoding="utf-8")

    assert read_report(path) == json.loads(json.dumps(report))


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"{not json", "is not JSON"),
        (b"\xff\xfe{}", "is not JSON"),
        (b"[1, 2]", "holds a list, expected an object"),
        (b'{"tables": [1]}', "'tables' is not an object"),
        (b'{"tables": {"orders": ["orders.csv"]}}', "'tables' is not an object"),
    ],
)
def test_a_report_of_another_shape_is_refused_naming_the_file(
    tmp_path: Path, content: bytes, said: str
) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(content)

    with pytest.raises(ReportError, match=said) as raised:
        read_report(path)

    assert str(path) in str(raised.value)
