"""A tiny feature table with a known churn signal, for tests that need to fit a model."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from models.calibration import calibrate
from models.candidates import FeatureColumns, feature_columns, fit_candidate, model_inputs
from models.split import LABEL, SplitFrames

CUTOFFS = [dt.date(2024, 1, 1) + dt.timedelta(days=30 * i) for i in range(8)]


def feature_table(customers: int = 120, seed: int = 0) -> pd.DataFrame:
    """``customers`` rows per cutoff: churn rises with days since the last order, falls with
    spend; plan and channel shift it a little; some values are null, as in the real table."""
    rng = np.random.default_rng(seed)
    parts = []
    for cutoff in CUTOFFS:
        recency = rng.exponential(40.0, customers)
        spend = rng.gamma(2.0, 50.0, customers)
        plan = rng.choice(["basic", "plus"], customers, p=[0.7, 0.3])
        channel = rng.choice(["organic", "paid_search", "social"], customers)
        logit = -1.0 + 0.03 * recency - 0.01 * spend - 0.5 * (plan == "plus")
        churned = (rng.random(customers) < 1 / (1 + np.exp(-logit))).astype(int)
        recency[rng.random(customers) < 0.05] = np.nan
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": [f"C{i:05d}" for i in range(customers)],
                    "cutoff_date": cutoff,
                    "rfm_days_since_last_order": recency,
                    "rfm_spend_365d": spend,
                    "lifecycle_days_since_signup": rng.integers(30, 900, customers),
                    "static_plan": pd.array(plan, dtype="str"),
                    "static_acquisition_channel": pd.array(channel, dtype="str"),
                    "static_loyalty_member": rng.random(customers) < 0.3,
                    "churned": churned,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def calibrated_xgboost(
    frames: SplitFrames, calibration: str, params: dict[str, Any], seed: int
) -> tuple[Any, FeatureColumns]:
    """An XGBoost candidate fitted on ``frames.train`` and calibrated on the validation cutoff,
    with its feature columns: the shape the service's fast paths are built for."""
    columns = feature_columns(frames.train)
    fitted = fit_candidate("xgboost", params, columns, frames.train, frames.validation, seed=seed)
    valid = frames.validation
    model = calibrate(fitted, model_inputs(valid, columns), valid[LABEL], calibration)  # type: ignore[arg-type]
    return model, columns


def awkward_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``rows`` with a null and an unseen category, and nulls in a numeric feature."""
    rows = rows.copy()
    rows.loc[rows.index[:3], "static_plan"] = None
    rows.loc[rows.index[3:6], "static_acquisition_channel"] = "carrier_pigeon"  # never seen
    rows.loc[rows.index[6:9], "rfm_spend_365d"] = np.nan
    return rows
