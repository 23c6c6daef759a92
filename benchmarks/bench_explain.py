"""Benchmark SHAP for the champion: rows/s per TreeSHAP path for 10k and 100k rows, and the
whole ``explain`` stage.

Prints one JSON object. Rows are the first N of ``data/features/training.parquet`` (100k rows
span several cutoffs; run ``dvc repro train`` first), explained under the champion in
``data/models/champion`` with ``explain.n_jobs`` threads. Paths, each exact TreeSHAP:

* ``xgboost_native``: XGBoost's ``pred_contribs`` on the preprocessed rows;
* ``shap_tree_explainer``: ``shap.TreeExplainer(classifier).shap_values`` (shap hands XGBoost
  models to the same XGBoost routine);
* ``shap_cext``: shap's own C++ TreeSHAP on the trees shap parsed from the booster
  (single-threaded);
* ``kept``: what the project runs, ``ChurnExplainer.explain`` end to end: preprocessing,
  XGBoost contributions, one-hot regrouping, additivity check and the served probabilities.

``kept_vs_native`` is kept rows/s over native rows/s at each size (target: >= 0.9). With
``--stage`` it also times ``churn explain`` in-process (it rewrites the same outputs and logs the
report to the champion's run, as ``dvc repro -s explain`` does).

    python benchmarks/bench_explain.py [--rows 10000 100000] [--paths ...] [--stage]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost

from core.config import Config
from models import tracking
from models.candidates import model_inputs
from models.explain import ChurnExplainer

PATHS = ("xgboost_native", "shap_tree_explainer", "shap_cext", "kept")


def path_runners(model: Any, n_jobs: int) -> dict[str, Callable[[pd.DataFrame], Any]]:
    """One callable per path, taking raw feature rows; set-up (parsing trees) is not timed."""
    import shap

    explainer = ChurnExplainer.from_model(model, n_jobs=n_jobs)
    parts = explainer.parts
    classifier = parts.classifier
    rounds = (0, int(classifier.best_iteration) + 1)
    booster = classifier.get_booster().copy()
    booster.set_param({"nthread": n_jobs})
    tree_explainer = shap.TreeExplainer(classifier)
    cext = shap.TreeExplainer(classifier)
    cext.model.model_type = "internal"  # skip the hand-over to XGBoost: shap's C++ algorithm

    def inputs(rows: pd.DataFrame) -> np.ndarray:
        return parts.preprocessor.transform(model_inputs(rows, parts.columns))

    def native(rows: pd.DataFrame) -> Any:
        matrix = xgboost.DMatrix(inputs(rows), nthread=n_jobs)
        return booster.predict(matrix, pred_contribs=True, iteration_range=rounds)

    return {
        "xgboost_native": native,
        "shap_tree_explainer": lambda rows: tree_explainer.shap_values(
            inputs(rows), check_additivity=False
        ),
        "shap_cext": lambda rows: cext.shap_values(inputs(rows), check_additivity=False),
        "kept": lambda rows: explainer.explain(rows, model),
    }


def measure(run: Callable[[pd.DataFrame], Any], rows: pd.DataFrame) -> dict[str, float]:
    """Wall-clock rows/s, and rows per CPU-second (all threads): the machine is shared, so the
    second tells per-thread efficiency apart from waiting for a core."""
    started, cpu_started = time.perf_counter(), time.process_time()
    run(rows)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    return {
        "seconds": round(seconds, 2),
        "rows_per_second": round(len(rows) / seconds, 1),
        "rows_per_cpu_second": round(len(rows) / cpu_seconds, 1),
    }


def agreement(model: Any, rows: pd.DataFrame, n_jobs: int) -> float:
    """Largest difference between shap's C++ path and the kept path on a few rows (exactness)."""
    runners = path_runners(model, n_jobs)
    cext = np.asarray(runners["shap_cext"](rows))
    native = np.asarray(runners["xgboost_native"](rows))[:, :-1]
    return float(np.max(np.abs(cext - native)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--stage", action="store_true", help="also time the whole stage")
    args = parser.parse_args()
    config = Config.load(args.params)
    model = tracking.load_saved_model(config.paths.models_dir / "champion")
    source = pd.read_parquet(config.paths.features_dir / "training.parquet")
    runners = path_runners(model, config.explain.n_jobs)
    results: dict[str, dict[str, Any]] = {}
    for size in args.rows:
        if size > len(source):
            raise SystemExit(f"--rows {size}: the feature table has only {len(source)} rows")
        rows = source.head(size)
        results[str(size)] = {name: measure(runners[name], rows) for name in args.paths}
        if {"kept", "xgboost_native"} <= set(args.paths):
            kept = results[str(size)]["kept"]["rows_per_second"]
            native = results[str(size)]["xgboost_native"]["rows_per_second"]
            results[str(size)]["kept_vs_native"] = round(kept / native, 3)
    report: dict[str, Any] = {
        "benchmark": "explain",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "n_jobs": config.explain.n_jobs,
            "xgboost": xgboost.__version__,
            "shap": __import__("shap").__version__,
        },
        "model": type(ChurnExplainer.from_model(model).parts.classifier).__name__,
        "features": str(Path(config.paths.features_dir) / "training.parquet"),
        "max_abs_difference_shap_cext_vs_native": agreement(model, source.head(200), 1),
        "rows_per_second": results,
    }
    if args.stage:
        from pipeline import explain

        started = time.perf_counter()
        explain.run(config)
        report["stage_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
