"""How a stage stops on what it cannot use: one ``error:`` line on stderr and an exit status.

DVC, CI and the CRM's schedulers read the status; a person reads the line, so it names the file,
column or stage to fix, and no traceback buries it. Exit 1 is bad or missing input, exit 2 a
usage error (params, keys), as click uses 2 for a bad option.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
import pyarrow as pa
import typer


def fail(message: str, code: int = 1) -> NoReturn:
    """Stop the command with ``message``; ``from None`` keeps the caught error's traceback out."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code) from None


def require(path: Path, stage: str) -> Path:
    """``path``, or exit 1 naming the stage whose output it is, so the reader knows what to run."""
    if not path.exists():
        fail(f"{path} not found; run `churn {stage}` (dvc repro {stage}) first")
    return path


def read_output(path: Path, stage: str, to_pandas: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The Parquet file ``path`` that ``churn <stage>`` writes, or exit 1 naming the stage to
    rerun when it is missing or unreadable (truncated, overwritten by hand, not Parquet).

    ``to_pandas``: options of Arrow's conversion (``pyarrow.Table.to_pandas``)."""
    require(path, stage)
    try:
        return pd.read_parquet(path, to_pandas_kwargs=dict(to_pandas or {}))
    except (pa.ArrowInvalid, OSError) as error:
        fail(f"{path}: not a readable Parquet file ({error}); run `churn {stage}` again")


def read_json_output(path: Path, stage: str) -> dict[str, Any]:
    """The JSON object ``path`` that ``churn <stage>`` writes, or exit 1 naming the stage to
    rerun when it is missing or not such an object (truncated, edited by hand)."""
    require(path, stage)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        fail(f"{path}: not readable JSON ({error}); run `churn {stage}` again")
    if not isinstance(content, dict):
        kind = type(content).__name__
        fail(f"{path}: holds a {kind}, not a JSON object; run `churn {stage}` again")
    return content
