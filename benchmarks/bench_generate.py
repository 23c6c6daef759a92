"""Benchmark ``churn generate``: throughput and peak memory for 100k and 1M customers.

Prints one JSON object. Peak memory is the highest *summed* resident set size of this process and
all its worker processes, polled every 50 ms with psutil (shared pages are counted once per
process, so the figure errs high). Target: 1M customers with full history in at most 2 minutes
and 4 GiB on 2 cores.

    python benchmarks/bench_generate.py [--sizes 100000 1000000] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from peak_memory import PeakTreeMemory

from core.config import Config
from synthetic.world import generate_world

_GIB = 1024**3
_TARGET_SECONDS_1M = 120.0
_TARGET_PEAK_GIB = 4.0


def bench_one(n_customers: int, n_jobs: int, chunk_customers: int | None) -> dict[str, Any]:
    """Generate a world of ``n_customers`` into a temporary folder and measure it."""
    base = Config().generate
    update: dict[str, Any] = {"n_customers": n_customers, "n_jobs": n_jobs}
    if chunk_customers is not None:
        update["chunk_customers"] = chunk_customers
    config = base.model_copy(update=update)
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as folder:
        started = time.perf_counter()
        with PeakTreeMemory() as memory:
            summary = generate_world(
                config, seed=42, raw_dir=Path(folder) / "raw", truth_dir=Path(folder) / "truth"
            )
        seconds = time.perf_counter() - started
        disk_bytes = sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())
    raw_rows = sum(summary["rows"].values())
    truth_rows = sum(summary["truth_rows"].values())
    return {
        "n_customers": n_customers,
        "n_jobs": n_jobs,
        "chunk_customers": config.chunk_customers,
        "seconds": round(seconds, 2),
        "customers_per_s": round(n_customers / seconds),
        "raw_rows": raw_rows,
        "truth_rows": truth_rows,
        "rows_per_s": round((raw_rows + truth_rows) / seconds),
        "raw_rows_per_customer": round(raw_rows / n_customers, 1),
        "peak_memory_gib": round(memory.peak_bytes / _GIB, 3),
        "disk_mib": round(disk_bytes / 1024**2, 1),
        "churn_base_rate": summary["churn_base_rate"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--chunk-customers", type=int, default=None)
    args = parser.parse_args()
    runs = [bench_one(size, args.n_jobs, args.chunk_customers) for size in args.sizes]
    largest = max(runs, key=lambda run: run["n_customers"])
    report = {
        "benchmark": "generate",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "memory_gib": round(psutil.virtual_memory().total / _GIB, 1),
        },
        "runs": runs,
        "target": {
            "n_customers": 1_000_000,
            "max_seconds": _TARGET_SECONDS_1M,
            "max_peak_memory_gib": _TARGET_PEAK_GIB,
            "met": largest["n_customers"] >= 1_000_000
            and largest["seconds"] <= _TARGET_SECONDS_1M
            and largest["peak_memory_gib"] <= _TARGET_PEAK_GIB,
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
