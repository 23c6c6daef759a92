"""The benchmarks still run and print their JSON: at toy sizes, so the figures mean nothing, but a
benchmark that rotted (an API it calls changed) fails here instead of on the next measuring day.

bench_train, bench_explain and bench_serving need a built project (``make run``); they are run
by hand, as the README says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def bench(script: str, *args: str, cwd: Path) -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_bench_generate_prints_rates_and_growth(tmp_path: Path) -> None:
    result = bench("bench_generate.py", "--sizes", "1000", "2000", cwd=tmp_path)

    assert result["benchmark"] == "generate"
    assert [run["n_customers"] for run in result["runs"]] == [1000, 2000]
    assert all(run["customers_per_s"] > 0 and run["raw_rows"] > 0 for run in result["runs"])


def test_bench_features_prints_the_stage_against_its_reference(tmp_path: Path) -> None:
    result = bench(
        "bench_features.py",
        *("--sizes", "1000", "2000", "--cutoffs", "3", "--worlds-dir", str(tmp_path / "worlds")),
        cwd=tmp_path,
    )

    assert result["benchmark"] == "features"
    first, second = result["runs"]
    assert (first["n_customers"], second["n_customers"]) == (1000, 2000)
    assert first["training_rows"] > 0 and first["reference_seconds"] > 0
    assert first["stage_over_budget"] > 0 and first["stage_peak_memory_gib"] > 0
    assert {"met_time", "met_memory"} <= set(result["target"])
    assert result["growth"]["from_customers"] == 1000
