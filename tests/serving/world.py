"""A tiny synthetic world run through the real pipeline stages, for the service tests.

generate → validate → features → train → explain → offers, in-process, in a scratch folder with
its own MLflow SQLite store: the service then serves exactly what the batch pipeline made, which
is what the replay parity test compares against. A few hundred customers and one small XGBoost
candidate keep it to well under a minute on two cores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from core.config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
N_CUSTOMERS = 400


def world_params(root: Path) -> dict[str, Any]:
    """The project's params with a small world, one quick candidate and a store under ``root``."""
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["generate"].update(n_customers=N_CUSTOMERS, chunk_customers=200, n_jobs=1)
    params["train"]["tuning"]["n_trials"] = 1
    params["train"]["candidates"] = [
        {
            "name": "xgboost",
            "kind": "xgboost",
            "params": {"n_estimators": 60, "max_depth": 3, "early_stopping_rounds": 10},
        }
    ]
    params["mlflow"].update(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}", artifact_location=str(root / "mlruns")
    )
    if "xgboost" in params.get("offers", {}):
        params["offers"]["xgboost"]["n_estimators"] = 40
    params["serve"]["reload_poll_seconds"] = 0.5
    params["serve"]["max_batch_size"] = 500
    return params


def build_world(root: Path) -> Config:
    """Run every batch stage on a tiny world under ``root``; return its config."""
    from pipeline import features, generate, offers, train, validate

    (root / "params.yaml").write_text(yaml.safe_dump(world_params(root)), encoding="utf-8")
    config = Config.load(root / "params.yaml")
    previous = os.getcwd()
    os.chdir(root)  # git/DVC provenance look-ups and relative artefacts resolve in the scratch
    try:
        generate.run(config)
        validate.run(config)
        features.run(config)
        train.run(config)
        explain_stage(config)
        offers.run(config)
    finally:
        os.chdir(previous)
    return config


def explain_stage(config: Config) -> None:
    from pipeline import explain

    explain.run(config)
