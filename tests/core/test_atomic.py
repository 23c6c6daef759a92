from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from core.atomic import atomic_dir, atomic_path, rounded, write_json, write_parquet


def test_failed_write_leaves_the_previous_file_untouched_and_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.json"
    write_json(target, {"rows": 1})

    with pytest.raises(TypeError):
        write_json(target, {"rows": object.__new__(_Unserialisable)})

    assert target.read_text() == '{\n  "rows": 1\n}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]


class _Unserialisable:
    def __str__(self) -> str:
        raise TypeError("cannot serialise")


def test_parquet_round_trip_without_index(tmp_path: Path) -> None:
    target = tmp_path / "table.parquet"
    frame = pd.DataFrame({"customer_id": ["a", "b"], "amount": [1.5, 2.0]}, index=[7, 9])

    write_parquet(target, frame)

    assert pd.read_parquet(target).to_dict("list") == {
        "customer_id": ["a", "b"],
        "amount": [1.5, 2.0],
    }


def test_atomic_dir_replaces_whole_folder_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "raw"
    with atomic_dir(target) as staging:
        (staging / "old.txt").write_text("old")

    with pytest.raises(RuntimeError), atomic_dir(target) as staging:
        (staging / "new.txt").write_text("half")
        raise RuntimeError("stage died")

    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]

    with atomic_dir(target) as staging:
        (staging / "new.txt").write_text("new")

    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]


def test_outputs_get_the_permissions_of_a_plain_write_under_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_json(tmp_path / "report.json", {"a": 1})
        with atomic_dir(tmp_path / "plots") as folder:
            (folder / "x.csv").write_text("x\n")
    finally:
        os.umask(previous)

    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "plots").stat().st_mode) == 0o755


def test_json_is_strict_undefined_numbers_become_null(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"

    write_json(
        path, {"threshold": float("inf"), "lift": [1.5, float("nan")], "nested": {"x": -math.inf}}
    )

    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"lift": [1.5, None], "nested": {"x": None}, "threshold": None}


def test_rounded_reaches_every_float_however_nested_and_typed() -> None:
    """The offers stage's copy skipped float32 and tuples, which then kept all their digits."""
    payload = {"a": [np.float32(0.1234567891), (1.23456789, {"b": np.float64(2.0000004)})], "n": 3}

    assert rounded(payload) == {"a": [0.123457, [1.234568, {"b": 2.0}]], "n": 3}
    assert rounded(1.2e-8) == 0.0  # decimal places, not significant digits


def test_a_stricter_umask_is_honoured_and_left_as_it_was(tmp_path: Path) -> None:
    """Reading the umask sets it for a moment; it must be put back, or every later output (and
    every file the process writes) gets the wider mask: private data world-readable."""
    previous = os.umask(0o027)
    try:
        write_json(tmp_path / "report.json", {"a": 1})
        with atomic_dir(tmp_path / "plots") as folder:
            (folder / "x.csv").write_text("x\n")
        current = os.umask(0o027)
    finally:
        os.umask(previous)

    assert current == 0o027
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "plots").stat().st_mode) == 0o750


def test_missing_parent_folders_are_created(tmp_path: Path) -> None:
    write_json(tmp_path / "a" / "b" / "report.json", {"a": 1})
    with atomic_dir(tmp_path / "c" / "d" / "plots") as folder:
        (folder / "x.csv").write_text("x\n")

    assert json.loads((tmp_path / "a" / "b" / "report.json").read_text()) == {"a": 1}
    assert [p.name for p in (tmp_path / "c" / "d" / "plots").iterdir()] == ["x.csv"]


def test_writes_leave_no_file_descriptor_open(tmp_path: Path) -> None:
    """Each write opens a temporary file; one left open per write adds up in a process that
    writes many files and ends in "Too many open files" half-way through a run."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc/self/fd (Linux)")
    before = len(list(fds.iterdir()))

    for i in range(50):
        write_json(tmp_path / f"{i}.json", {"i": i})

    assert len(list(fds.iterdir())) <= before


def test_a_writer_dying_mid_file_leaves_the_previous_file_and_no_temp_file(
    tmp_path: Path,
) -> None:
    """The failure comes after the temporary file exists (``write_json`` fails before it does)."""
    target = tmp_path / "out" / "scores.csv"
    write_json(target, {"rows": 1})

    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("customer_id,score\nC1,0.")
        raise RuntimeError("stage died")

    assert target.read_text() == '{\n  "rows": 1\n}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["scores.csv"]


def test_json_keys_are_sorted_so_equal_content_gives_equal_bytes(tmp_path: Path) -> None:
    """DVC compares metrics files by bytes: the insertion order of a dict must not show."""
    write_json(tmp_path / "one.json", {"b": 1, "a": {"d": 2, "c": 3}})
    write_json(tmp_path / "two.json", {"a": {"c": 3, "d": 2}, "b": 1})

    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()
    assert (tmp_path / "one.json").read_text() == (
        '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'
    )


def test_parquet_files_hold_no_index_column(tmp_path: Path) -> None:
    """pandas reads an index column back as the index, so the round trip above cannot see one;
    the CRM, Spark and DuckDB read the file as it is and would get an extra column."""
    target = tmp_path / "table.parquet"
    write_parquet(target, pd.DataFrame({"customer_id": ["a", "b"]}, index=[7, 9]))

    assert pq.read_table(target).column_names == ["customer_id"]
