"""What ``churn train`` left for the later stages: the training rows it read and its record.

Evaluate, explain and offers read them through here, not through ``pipeline.train``, so those
stages depend on this small reader (``dvc.yaml``), not on the training stage's code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from core.layout import REGISTERED_FILE, TRAINING_FILE
from models.split import CutoffSplit, rows_at
from pipeline.errors import fail, read_json_output, read_output


def read_registered(models_dir: Path) -> dict[str, Any]:
    """What ``churn train`` recorded (``registered.json``), or exit 1 saying which stage to run."""
    return read_json_output(models_dir / REGISTERED_FILE, "train")


LEAN_READ = {"self_destruct": True, "split_blocks": True}
"""Arrow conversion options that free each Arrow column as soon as it is converted and keep it
as a block of its own, instead of holding the whole Arrow table until one block per dtype has
been copied out of it. Same values and dtypes; only pandas' block layout differs."""


def load_training(features_dir: Path) -> pd.DataFrame:
    """The labelled feature rows, or exit 1 saying which stage to run.

    The largest table the model stages hold, so it is read lean (:data:`LEAN_READ`) and what
    Arrow's allocator kept from reading it goes back to the OS. Read plainly, it stayed resident
    at about twice its size (100k customers: 1,155 MiB of RSS for a 549 MiB frame; lean, 600).
    """
    frame = read_output(features_dir / TRAINING_FILE, "features", to_pandas=LEAN_READ)
    release_arrow_memory()
    return frame


def release_arrow_memory() -> None:
    """Hand the memory Arrow's allocator holds but no longer uses back to the OS.

    Its default allocator (mimalloc) keeps freed buffers for later Arrow allocations, which the
    model stages never make: a table read through Arrow and then dropped (``churn train`` drops
    the whole feature table once it has split it) otherwise stays resident through every fit.
    """
    pa.default_memory_pool().release_unused()


def recorded_test_rows(frame: pd.DataFrame, registered: dict[str, Any], stage: str) -> pd.DataFrame:
    """The rows of ``frame`` (the features) at the test cutoff ``churn train`` recorded; exit 1
    when there are none: the features were rebuilt since (another export or grid), and the
    models no longer describe them."""
    split = CutoffSplit.from_dict(registered["split"])
    test = rows_at(frame, split.test)
    if test.empty:
        built = sorted({str(pd.Timestamp(c).date()) for c in frame["cutoff_date"].unique()})
        span = f"{built[0]} to {built[-1]}" if built else "none"
        fail(
            f"the features hold no rows at the test cutoff {split.test} that `churn train` "
            f"recorded (their cutoffs: {span}): they were rebuilt after training; run `churn "
            f"train` before `churn {stage}` (dvc repro runs the stages in order)"
        )
    return test
