"""Atomic file and folder writes.

A stage that dies half-way must never leave a half-written artefact where a later stage (or DVC)
would take it for a finished one, so every output is written to a temporary sibling and moved into
place with ``os.replace``, which is atomic on one filesystem.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_if_created_plainly(path: Path, mode: int) -> None:
    """mkstemp/mkdtemp create owner-only (0600/0700) entries; outputs people open (reports, CRM
    files) should get the permissions a plain ``open``/``mkdir`` would give under the umask."""
    path.chmod(mode & ~_current_umask())


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file path next to ``target``; move it onto ``target`` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    _as_if_created_plainly(tmp, 0o666)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``target``; swap it in only on success.

    An existing ``target`` is kept until the new folder is complete, then removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    _as_if_created_plainly(tmp, 0o777)
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], payload: Any) -> None:
    """Write strict JSON with sorted keys so identical content gives identical bytes.

    A NaN or an infinity (an undefined lift, "target nobody" as an infinite threshold) is
    written as ``null``: Python would write the tokens ``NaN``/``Infinity``, which are not JSON,
    and strict parsers (JavaScript, Go, most metric dashboards) reject the whole file.
    """
    write_text(path, json_text(payload))


def json_text(payload: Any) -> str:
    """:func:`write_json`'s text, for a file written inside an :func:`atomic_path` of its own."""
    text = json.dumps(_finite(payload), indent=2, sort_keys=True, default=str, allow_nan=False)
    return text + "\n"


def rounded(payload: Any, places: int = 6) -> Any:
    """``payload`` with every float, however deeply nested, rounded to ``places`` decimal places
    (not significant digits: 1.2e-8 becomes 0.0). Metrics files are compared by bytes (DVC) and
    read in diffs: identical runs must give identical bytes, and seventeen digits hide the
    change that matters."""
    if isinstance(payload, float | np.floating):
        return round(float(payload), places)
    if isinstance(payload, dict):
        return {key: rounded(value, places) for key, value in payload.items()}
    if isinstance(payload, list | tuple):
        return [rounded(value, places) for value in payload]
    return payload


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float, however deeply nested, replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write_parquet(path: str | os.PathLike[str], table: pa.Table | pd.DataFrame) -> None:
    """Write a Parquet file atomically; ``pandas`` frames are written without their index."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
