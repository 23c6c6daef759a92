"""The feature table the model stages read: lean (column by column), and the same frame."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from core.layout import TRAINING_FILE
from pipeline.recorded import load_training


def test_the_lean_read_gives_the_frame_a_plain_read_gives(tmp_path: Path) -> None:
    rows = 1_000
    rng = np.random.default_rng(0)
    spend = rng.normal(size=rows)
    spend[::7] = np.nan
    plan = rng.choice(["basic", "plus"], size=rows).astype(object)
    plan[::11] = None
    member = rng.choice([True, False], size=rows).astype(object)
    member[::13] = None  # a boolean with nulls reads as objects
    pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(rows)],
            "cutoff_date": [
                dt.date(2024, 1, 1) + dt.timedelta(days=30 * (i % 4)) for i in range(rows)
            ],
            "rfm_orders_365d": rng.integers(0, 20, size=rows),
            "rfm_spend_365d": spend,
            "static_plan": plan,
            "static_loyalty_member": member,
            "static_newsletter": rng.choice([True, False], size=rows),
            "churned": rng.integers(0, 2, size=rows),
        }
    ).to_parquet(tmp_path / TRAINING_FILE, row_group_size=300)

    lean = load_training(tmp_path)

    plain = pd.read_parquet(tmp_path / TRAINING_FILE)
    pd.testing.assert_frame_equal(lean, plain, check_exact=True)
    assert list(lean.dtypes) == list(plain.dtypes)
