"""Benchmark model training: fit time and peak memory per candidate for 100k and 1M feature rows.

Prints one JSON object. Rows are drawn with replacement from ``data/features/training.parquet``
(run ``dvc repro features`` first), so the feature mix is the real one; 80% of the rows train
and 20%, drawn from other customers, serve as the validation cutoff (early stopping,
calibration). Each candidate fits once
with its params from ``params.yaml`` — no search, so the figure is the cost of one trial — in a
fresh process per (size, candidate), so peak memory is that fit's alone.

    python benchmarks/bench_train.py [--sizes 100000 1000000] [--candidates logistic xgboost]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from pathlib import Path
from typing import Any

import pandas as pd
from peak_memory import PeakTreeMemory

from core.config import Config

_GIB = 1024**3


def _fit_once(params_path: str, name: str, rows: int, queue: Any) -> None:
    from models.calibration import calibrate
    from models.candidates import feature_columns, fit_candidate, model_inputs

    config = Config.load(params_path)
    candidate = next(c for c in config.train.candidates if c.name == name)
    source = pd.read_parquet(config.paths.features_dir / "training.parquet")
    columns = feature_columns(source)
    # disjoint customers in the two parts: duplicated rows on both sides would hide overfitting
    # from early stopping and make XGBoost run to its full tree count
    in_validation = pd.util.hash_pandas_object(source["customer_id"], index=False) % 5 == 0
    train = source[~in_validation].sample(n=int(rows * 0.8), replace=True, random_state=config.seed)
    validation = source[in_validation].sample(
        n=rows - len(train), replace=True, random_state=config.seed
    )
    with PeakTreeMemory() as memory:
        started = time.perf_counter()
        model = fit_candidate(
            candidate.kind,
            candidate.params,
            columns,
            train,
            validation,
            seed=config.seed,
            n_jobs=config.train.n_jobs,
            class_weight=config.train.class_weight,
        )
        fit_seconds = time.perf_counter() - started
        calibrate(
            model,
            model_inputs(validation, columns),
            validation["churned"],
            config.train.calibration,
        )
        total_seconds = time.perf_counter() - started
    queue.put(
        {
            "candidate": name,
            "kind": candidate.kind,
            "rows": rows,
            "fit_seconds": round(fit_seconds, 2),
            "fit_and_calibrate_seconds": round(total_seconds, 2),
            "peak_rss_gib": round(memory.peak_bytes / _GIB, 3),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--candidates", nargs="+", default=None)
    args = parser.parse_args()
    config = Config.load(args.params)
    names = args.candidates or [c.name for c in config.train.candidates]
    context = multiprocessing.get_context("spawn")
    results = []
    for rows in args.sizes:
        for name in names:
            queue = context.Queue()
            worker = context.Process(target=_fit_once, args=(args.params, name, rows, queue))
            worker.start()
            results.append(queue.get())
            worker.join()
    print(
        json.dumps(
            {
                "benchmark": "train",
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "n_jobs": config.train.n_jobs,
                },
                "features": str(Path(config.paths.features_dir) / "training.parquet"),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
