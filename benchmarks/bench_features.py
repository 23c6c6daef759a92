"""Benchmark the ``features`` stage: wall time and peak memory for 100k and 1M customers.

Prints one JSON object. For each size a synthetic world is generated into a temporary folder (its
time is reported but not part of the figures), then, on the same files:

* the stage itself (``pipeline.features.run``: ``features.cutoffs.count`` labelled cutoffs plus
  the scoring snapshot, built over ``customer_slices`` customer ranges sized from the DuckDB
  memory limit and streamed to Parquet), timed, with the peak summed RSS of the process tree
  (``peak_memory.PeakTreeMemory``);
* a reference: one DuckDB ``GROUP BY customer_id`` scan of orders and events computing count, sum
  and max for one cutoff, written to Parquet, with the same DuckDB settings (threads, memory
  limit). It is run before and after the stage; the faster run is the reference.

For a build of several slices, ``stage_breakdown`` splits the stage's wall time, from its own log
events, into the engine's queries, spilling slices to disk, merging them into the final files and
the rest.

Targets (at the largest size): stage time <= 3 x reference x number of cutoffs, peak memory <= 8
GiB, and near-linear growth from the smallest to the largest size (time ratio / size ratio,
reported with the growth exponent: 1.0 is linear).

On a shared machine wall times swing with the load; the reference, measured in the same run, swings
with them. CPU seconds (user + system of this process, which runs DuckDB's threads) are reported
next to wall seconds, with the 1-minute load average before and after, so contention shows.

    python benchmarks/bench_features.py [--sizes 100000 1000000] [--cutoffs 12]
        [--worlds-dir DIR]    # keep generated worlds in DIR/<size>/ and reuse them next time
        [--memory-limit 6GB]  # DuckDB's memory limit instead of the default
        [--profile-dir DIR]   # also write DuckDB's JSON profile of the training query there
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pyarrow.parquet as pq
from peak_memory import PeakTreeMemory
from structlog.testing import capture_logs

from core.config import Config, DuckDBConfig, FeaturesConfig, PathsConfig
from core.logging import configure_logging
from features.build import build_features, cutoff_grid, resolve_snapshot_date
from features.engine import connect
from features.partitions import plan_slices
from features.sources import load_raw_tables
from pipeline.features import run as run_features_stage
from synthetic.world import generate_world

_GIB = 1024**3
_TARGET_REFERENCE_FACTOR = 3.0
_TARGET_PEAK_GIB = 8.0
_PROFILE_DETAILS = ("Join Type", "Conditions", "Groups", "Aggregates", "Table", "CTE Name")

REFERENCE_SQL = """
COPY (
    SELECT customer_id, count(*) AS n_rows, sum(value) AS total, max(ts) AS latest
    FROM (
        SELECT customer_id, order_ts AS ts, amount AS value FROM read_parquet('{orders}')
        UNION ALL
        SELECT customer_id, ts, value FROM read_parquet('{events}')
    )
    WHERE ts < TIMESTAMP '{cutoff}'
    GROUP BY customer_id
) TO '{output}' (FORMAT parquet, COMPRESSION zstd)
"""


def stage_config(root: Path, n_cutoffs: int, memory_limit: str | None = None) -> Config:
    """The defaults, with the world's folders under ``root`` and ``n_cutoffs`` cutoffs.

    ``memory_limit`` overrides DuckDB's (``features.duckdb.memory_limit``) when given.
    """
    defaults = Config()
    duckdb_update: dict[str, Any] = {"temp_directory": root / "duckdb_tmp"}
    if memory_limit is not None:
        duckdb_update["memory_limit"] = memory_limit
    features = defaults.features.model_copy(
        update={
            "cutoffs": defaults.features.cutoffs.model_copy(update={"count": n_cutoffs}),
            "duckdb": defaults.features.duckdb.model_copy(update=duckdb_update),
        }
    )
    paths = PathsConfig(raw_dir=root / "raw", truth_dir=root / "truth", features_dir=root / "out")
    return defaults.model_copy(update={"paths": paths, "features": features})


def raw_rows(raw_dir: Path, table: str) -> int:
    parts = (raw_dir / table).glob("*.parquet")
    return sum(pq.ParquetFile(part).metadata.num_rows for part in parts)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (DuckDB runs in its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reference_seconds(
    raw_dir: Path, cutoff: Any, settings: DuckDBConfig, output: Path
) -> tuple[float, float]:
    """One GROUP BY scan over orders + events for ``cutoff``: (wall, CPU) seconds.

    Run with the stage's DuckDB settings (threads, memory limit, temp directory).
    """
    con = duckdb.connect()
    con.execute(f"SET threads = {settings.threads}")
    con.execute(f"SET memory_limit = '{settings.memory_limit}'")
    con.execute(f"SET temp_directory = '{settings.temp_directory}'")
    sql = REFERENCE_SQL.format(
        orders=raw_dir / "orders" / "*.parquet",
        events=raw_dir / "events" / "*.parquet",
        cutoff=f"{cutoff} 00:00:00",
        output=output,
    )
    started, cpu_started = time.perf_counter(), cpu_seconds()
    con.execute(sql)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    con.close()
    return seconds, cpu


def profile_training_query(config: Config, profile_path: Path, output: Path) -> dict[str, Any]:
    """Run the training expression again with DuckDB's JSON profiler on; summarise the profile.

    For diagnosis only (it doubles the stage's work): the full profile stays at
    ``profile_path``; the summary has the query's CPU time, memory and spill figures and the ten
    operators that took longest.
    """
    con = connect(config.features)
    tables = load_raw_tables(con, config.paths.raw_dir)
    snapshot_date = resolve_snapshot_date(tables, config.features)
    cutoffs = cutoff_grid(snapshot_date, config.features.cutoffs, config.churn.horizon_days)
    training = build_features(tables, cutoffs, config.features, config.churn)
    con.raw_sql("PRAGMA enable_profiling = 'json'")
    con.raw_sql(f"PRAGMA profiling_output = '{profile_path}'")
    started = time.perf_counter()
    con.to_parquet(training, output)
    seconds = time.perf_counter() - started
    con.raw_sql("PRAGMA disable_profiling")
    return summarise_profile(json.loads(profile_path.read_text()), seconds)


def summarise_profile(profile: dict[str, Any], seconds: float) -> dict[str, Any]:
    operators: list[dict[str, Any]] = []
    pending = list(profile.get("operator", []))
    while pending:
        node = pending.pop()
        pending += node.get("children", [])
        extra = node.get("extra_info", {})
        operators.append(
            {
                "operator": node.get("name"),
                "seconds": round(node.get("timing", 0.0), 3),
                "rows_out": node.get("intermediate_rows"),
                "detail": {
                    key: str(value)[:160] for key, value in extra.items() if key in _PROFILE_DETAILS
                },
            }
        )
    system = profile.get("system", {})
    return {
        "wall_seconds": round(seconds, 2),
        "cpu_seconds": round(profile.get("query", {}).get("cpu_time", 0.0), 2),
        "peak_buffer_memory_gib": round(system.get("peak_buffer_memory", 0) / _GIB, 3),
        "spilled_gib": round(system.get("total_bytes_spilled", 0) / _GIB, 3),
        "top_operators": sorted(operators, key=lambda op: -op["seconds"])[:10],
    }


@contextmanager
def world_root(n_customers: int, worlds_dir: Path | None) -> Iterator[tuple[Path, float | None]]:
    """A folder holding a generated world of ``n_customers`` and the seconds generating took.

    With ``worlds_dir``, the world lives in ``worlds_dir/<n_customers>/`` and is generated only
    if absent (the seconds are then None); otherwise in a temporary folder removed afterwards.
    """
    if worlds_dir is None:
        with tempfile.TemporaryDirectory(prefix="bench-features-") as folder:
            yield Path(folder), generate(n_customers, Path(folder))
        return
    root = worlds_dir / str(n_customers)
    generated = None if (root / "raw").is_dir() else generate(n_customers, root)
    yield root, generated


def generate(n_customers: int, root: Path) -> float:
    config = Config().generate.model_copy(update={"n_customers": n_customers})
    started = time.perf_counter()
    generate_world(config, seed=42, raw_dir=root / "raw", truth_dir=root / "truth")
    return time.perf_counter() - started


def bench_one(
    n_customers: int,
    n_cutoffs: int,
    profile_dir: Path | None,
    worlds_dir: Path | None,
    memory_limit: str | None,
) -> dict[str, Any]:
    """Measure the stage and the reference on a world of ``n_customers``."""
    with world_root(n_customers, worlds_dir) as (root, generate_seconds):
        config = stage_config(root, n_cutoffs, memory_limit)
        raw_dir = config.paths.raw_dir
        settings = config.features.duckdb
        settings.temp_directory.mkdir(parents=True, exist_ok=True)
        tables = load_raw_tables(connect(FeaturesConfig(duckdb=settings)), raw_dir)
        snapshot = resolve_snapshot_date(tables, config.features)
        customer_slices = len(plan_slices(tables, config.features))
        cutoffs = cutoff_grid(snapshot, config.features.cutoffs, config.churn.horizon_days)
        reference_output = root / "reference.parquet"
        load_before = os.getloadavg()[0]
        references = [reference_seconds(raw_dir, cutoffs[-1], settings, reference_output)]

        started, cpu_started = time.perf_counter(), cpu_seconds()
        configure_logging("INFO")
        with PeakTreeMemory() as memory, capture_logs() as events:
            manifest = run_features_stage(config)
        configure_logging()
        stage_seconds = time.perf_counter() - started
        stage_cpu = cpu_seconds() - cpu_started
        references.append(reference_seconds(raw_dir, cutoffs[-1], settings, reference_output))
        load_after = os.getloadavg()[0]

        output_bytes = sum(p.stat().st_size for p in config.paths.features_dir.glob("*"))
        profile = None
        if profile_dir is not None:
            profile_dir.mkdir(parents=True, exist_ok=True)
            profile_path = profile_dir / f"training-{n_customers}.json"
            profile = profile_training_query(config, profile_path, root / "profiled.parquet")
        reference, reference_cpu = min(references)
        budget = _TARGET_REFERENCE_FACTOR * reference * n_cutoffs
        cpu_budget = _TARGET_REFERENCE_FACTOR * reference_cpu * n_cutoffs
        return {
            "n_customers": n_customers,
            "orders": raw_rows(raw_dir, "orders"),
            "events": raw_rows(raw_dir, "events"),
            "cutoffs": n_cutoffs,
            "duckdb_memory_limit": settings.memory_limit,
            "customer_slices": customer_slices,
            "generate_seconds": None if generate_seconds is None else round(generate_seconds, 1),
            "stage_seconds": round(stage_seconds, 2),
            "stage_cpu_seconds": round(stage_cpu, 2),
            "stage_breakdown": stage_breakdown(events, stage_seconds),
            "stage_peak_memory_gib": round(memory.peak_bytes / _GIB, 3),
            "training_rows": manifest["rows"]["training"]["total"],
            "snapshot_rows": manifest["rows"]["snapshot"]["total"],
            "features": len(manifest["features"]),
            "output_mib": round(output_bytes / 1024**2, 1),
            "reference_seconds_runs": [round(wall, 3) for wall, _ in references],
            "reference_cpu_seconds_runs": [round(cpu, 3) for _, cpu in references],
            "reference_seconds": round(reference, 3),
            "budget_seconds": round(budget, 2),
            "stage_over_budget": round(stage_seconds / budget, 3),
            "stage_cpu_over_cpu_budget": round(stage_cpu / cpu_budget, 3),
            "load_average_1m": [round(load_before, 2), round(load_after, 2)],
            "training_query_profile": profile,
        }


def stage_breakdown(events: list[dict[str, Any]], stage_seconds: float) -> dict[str, Any] | None:
    """Where a sliced build's wall time went, from the stage's own log events: each slice's
    query (the engine's time) and spill to disk, the merge into the final files (Parquet
    encoding), and the rest (reading the export's metadata, planning, counts, manifest).
    None for a build of one slice, which streams straight into the files and logs no parts."""
    built = [event for event in events if event.get("event") == "slice built"]
    merged = [event for event in events if event.get("event") == "slices merged"]
    if not built:
        return None
    slice_seconds = sum(event["seconds"] for event in built)
    spill_seconds = sum(event["spill_seconds"] for event in built)
    merge_seconds = sum(event["seconds"] for event in merged)
    return {
        "slices": len(built),
        "query_seconds": round(slice_seconds - spill_seconds, 1),
        "spill_seconds": round(spill_seconds, 1),
        "merge_seconds": round(merge_seconds, 1),
        "rest_seconds": round(stage_seconds - slice_seconds - merge_seconds, 1),
    }


def growth(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Time growth from the smallest to the largest run, per unit of input rows."""
    small, large = runs[0], runs[-1]
    size_ratio = (large["orders"] + large["events"]) / (small["orders"] + small["events"])
    time_ratio = large["stage_seconds"] / small["stage_seconds"]
    cpu_ratio = large["stage_cpu_seconds"] / small["stage_cpu_seconds"]
    return {
        "from_customers": small["n_customers"],
        "to_customers": large["n_customers"],
        "input_rows_ratio": round(size_ratio, 2),
        "time_ratio": round(time_ratio, 2),
        "time_ratio_per_input_ratio": round(time_ratio / size_ratio, 3),
        "exponent": round(math.log(time_ratio) / math.log(size_ratio), 3),
        "cpu_ratio": round(cpu_ratio, 2),
        "cpu_exponent": round(math.log(cpu_ratio) / math.log(size_ratio), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--cutoffs", type=int, default=12)
    parser.add_argument("--profile-dir", type=Path, default=None)
    parser.add_argument("--worlds-dir", type=Path, default=None)
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 6GB")
    args = parser.parse_args()
    runs = [
        bench_one(size, args.cutoffs, args.profile_dir, args.worlds_dir, args.memory_limit)
        for size in sorted(args.sizes)
    ]
    largest = runs[-1]
    report: dict[str, Any] = {
        "benchmark": "features",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "memory_gib": round(psutil.virtual_memory().total / _GIB, 1),
        },
        "runs": runs,
        "growth": growth(runs) if len(runs) > 1 else None,
        "target": {
            "n_customers": largest["n_customers"],
            "max_stage_over_budget": 1.0,
            "max_peak_memory_gib": _TARGET_PEAK_GIB,
            "met_time": largest["stage_over_budget"] <= 1.0,
            "met_time_in_cpu_seconds": largest["stage_cpu_over_cpu_budget"] <= 1.0,
            "met_memory": largest["stage_peak_memory_gib"] <= _TARGET_PEAK_GIB,
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
