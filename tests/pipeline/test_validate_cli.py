from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()

CUSTOMERS = "customer_id,signup_date\nC1,2023-01-01\nC2,2023-02-01\n"
ORDERS = (
    "order_id,customer_id,order_ts,amount\nO1,C1,2023-01-05 10:00:00,10.5\nO2,C2,2023-02-03,7\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A params file pointing at ``raw/`` and ``out/report.json`` next to it; raw data is valid."""
    (tmp_path / "params.yaml").write_text(
        "paths:\n  raw_dir: raw\n  validation_report: out/report.json\n", encoding="utf-8"
    )
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (tmp_path / "raw" / "orders.csv").write_text(ORDERS, encoding="utf-8")
    return tmp_path


def validate(project: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", "--params", str(project / "params.yaml")])
    return result.exit_code, result.output


def test_good_data_exits_0_and_writes_the_report(project: Path) -> None:
    exit_code, _ = validate(project)

    assert exit_code == 0
    report = json.loads((project / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["tables"]["customers"]["n_rows"] == 2
    assert report["tables"]["orders"]["n_rows"] == 2
    assert report["tables"]["orders"]["columns"]["order_ts"]["min"] == "2023-01-05 10:00:00"
    assert report["tables"]["orders"]["columns"]["order_ts"]["max"] == "2023-02-03 00:00:00"
    assert "events" in report["absent_tables"]


def test_broken_data_exits_1_naming_every_problem_and_removes_the_old_report(
    project: Path,
) -> None:
    assert validate(project)[0] == 0
    report = project / "out" / "report.json"
    assert report.exists()
    (project / "raw" / "orders.csv").write_text(
        ORDERS.replace("O2,C2", "O2,C9").replace("10.5", "-1"), encoding="utf-8"
    )

    exit_code, output = validate(project)

    assert exit_code == 1
    assert not report.exists()
    assert (
        "orders.customer_id: 1 of 2 rows reference a customer_id missing from customers; "
        "examples (row: values): 1: {order_id: 'O2', customer_id: 'C9'}"
    ) in output
    assert (
        'orders.amount: 1 of 2 rows fail "non-negative (>= 0)"; '
        "examples (row: values): 0: {order_id: 'O1', amount: -1.0}"
    ) in output


def test_missing_raw_folder_exits_1_without_a_report(project: Path) -> None:
    for path in (project / "raw").iterdir():
        path.unlink()
    (project / "raw").rmdir()

    exit_code, output = validate(project)

    assert exit_code == 1
    assert "customers: required table missing" in output
    assert "does not exist" in output
    assert not (project / "out" / "report.json").exists()


def test_a_crash_during_the_check_also_removes_the_old_report(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert validate(project)[0] == 0

    def disk_fails(*_: object) -> None:
        raise OSError("input/output error")

    monkeypatch.setattr("pipeline.validate.validate_raw_tables", disk_fails)
    exit_code, _ = validate(project)

    assert exit_code != 0
    assert not (project / "out" / "report.json").exists()


def test_a_table_under_another_name_is_warned_about_not_only_reported(project: Path) -> None:
    """``event.csv`` is never read; it was only listed in report.json, so the events families
    went missing without a word at the console."""
    (project / "raw" / "event.csv").write_text("customer_id,ts,event_type\nC1,2023-01-05,x\n")

    exit_code, output = validate(project)

    assert exit_code == 0
    [warning] = [line for line in output.splitlines() if "are not read" in line]
    assert "event.csv" in warning and "events" in warning
