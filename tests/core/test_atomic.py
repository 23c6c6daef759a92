from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.atomic import atomic_dir, rounded, write_json, write_parquet


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
