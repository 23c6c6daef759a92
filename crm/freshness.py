"""Does a validation report still describe the raw files beside it?

``dvc repro`` runs ``churn validate`` before ``churn features`` whenever a raw file changes, so
the features never read data the contract has not passed. Run by hand, nothing enforces that: an
export copied over the validated one (a duplicated customer, a negative amount) would be built
into features without a word. The report therefore records each file's size, and the features
stage compares the raw folder with it (:func:`report_differences`) before it builds.

Sizes, not digests: reading every byte of a large history to hash it would cost about as much
as validating it again. The price: an edit that keeps every file's size (one digit changed in a
CSV, say) goes unnoticed, as ``docs/data-contract.md`` says.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crm.contract import TABLES
from crm.tables import TableReadError, TableSource, find_table


class ReportError(ValueError):
    """A validation report that is not JSON of the shape ``churn validate`` writes."""


def read_report(path: Path) -> dict[str, Any]:
    """The validation report at ``path``, checked to have the shape :func:`report_differences`
    reads (a ``tables`` mapping of per-table mappings); ``ReportError`` when it has not.

    Kept apart from the comparison so that a report that cannot be read and a raw folder that
    cannot be listed are told apart: they need different fixes.
    """
    try:
        report = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"{path} is not JSON: {error}") from error
    if not isinstance(report, dict):
        raise ReportError(f"{path} holds a {type(report).__name__}, expected an object")
    tables = report.get("tables", {})
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise ReportError(f"{path}: 'tables' is not an object of one object per table")
    return report


def relative_name(path: Path, raw_dir: Path) -> str:
    """``path`` as the report names it: relative to ``raw_dir`` with forward slashes."""
    try:
        return path.relative_to(raw_dir).as_posix()
    except ValueError:
        return str(path)


def file_sizes(source: TableSource, raw_dir: Path) -> dict[str, int]:
    """Bytes of each file of ``source``, keyed as the report names files."""
    return {relative_name(path, raw_dir): path.stat().st_size for path in source.files}


def report_differences(report: Mapping[str, Any], raw_dir: Path) -> list[str]:
    """How the contract tables in ``raw_dir`` differ from what ``report`` validated; empty when
    they match. Each entry names the table and the file: tables that appeared or went, files
    added or removed, and files whose size changed (a report written before sizes were recorded
    is compared by file names only)."""
    validated: Mapping[str, Any] = report.get("tables", {})
    differences: list[str] = []
    for name in TABLES:
        try:
            source = find_table(raw_dir, name)
        except TableReadError as error:
            differences.append(f"{name}: {error.detail}")
            continue
        before = validated.get(name)
        if source is None:
            if before is not None:
                differences.append(f"{name}: validated, absent now")
            continue
        if before is None:
            differences.append(f"{name}: present now, absent when validated")
            continue
        differences += _file_differences(name, before, file_sizes(source, raw_dir))
    return differences


def _file_differences(name: str, before: Mapping[str, Any], now: dict[str, int]) -> list[str]:
    sizes: Mapping[str, int] | None = before.get("file_sizes")
    names = list(sizes) if sizes is not None else list(before.get("files", []))
    differences = [f"{name}: {file} is new" for file in now if file not in names]
    differences += [f"{name}: {file} is gone" for file in names if file not in now]
    if sizes is not None:
        differences += [
            f"{name}: {file} has {now[file]:,} bytes, {sizes[file]:,} when validated"
            for file in names
            if file in now and now[file] != sizes[file]
        ]
    return differences
