"""The by-id store: the batch pipeline's decision for every customer of the scoring snapshot.

By-id answers are what the pipeline decided, not a recomputation: the churn probability and the
offer, group and expected gain come from the offers stage's ``targets.parquet`` (the budgeted
campaign, control group included), the reasons from the explain stage's
``snapshot_reasons.parquet``. Each customer's answer is serialised to JSON once, when the store
is built, so a by-id request is a dictionary look-up and a byte join.

The store is rebuilt (and swapped whole) when any of its files changes: see
:func:`fingerprint`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.explain.analysis import risk_tiers
from models.reasons import SAME_MODEL_TOLERANCE
from serving.settings import ServiceSettings

SNAPSHOT_SOURCE = "snapshot"
CHECK_ROWS = 64  # snapshot rows a newly loaded model must score before it may serve
TARGET_COLUMNS = (
    "customer_id",
    "offer_id",
    "group",
    "decision",
    "expected_gain",
    "churn_probability",
    "uplift",
    "value",
    "cost",
)
REASON_COLUMNS = ("customer_id", "churn_probability", "reasons")


class StoreLoadError(RuntimeError):
    """A snapshot file is missing or does not match the others; the old store keeps serving."""


@dataclass(frozen=True)
class SnapshotStore:
    """Precomputed answers by customer id, and what they were computed from."""

    snapshot_date: str
    feature_definitions_hash: str
    answers: dict[str, bytes]
    probabilities: dict[str, float]
    batch_probabilities: np.ndarray
    check_rows: pd.DataFrame
    snapshot_rows: int
    fingerprint: tuple[tuple[str, int, int], ...]

    def lookup(self, customer_ids: Sequence[str]) -> tuple[list[bytes], list[str]]:
        """The answers for ``customer_ids`` in order, and the ids the snapshot does not hold."""
        answers = self.answers
        found = [answers[c] for c in customer_ids if c in answers]
        if len(found) == len(customer_ids):
            return found, []
        return found, [c for c in customer_ids if c not in answers]


def risk_tier(probability: float, cut_points: tuple[float, ...]) -> str:
    """The tier name of ``probability`` under ``explain.risk_tiers``: the explain stage's own
    function, so the service and the analysts' report never disagree on a customer's tier."""
    return str(risk_tiers(np.asarray([probability]), cut_points)[0])


def fingerprint(settings: ServiceSettings) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime ns, size) of every file the store and the offer policy are built from.

    A missing file reads as (path, 0, -1), so its arrival counts as a change too.
    """
    paths = [settings.manifest_path, settings.snapshot_path, settings.reasons_path]
    paths.append(settings.targets_path)
    if settings.policy_dir.is_dir():
        paths += sorted(p for p in settings.policy_dir.rglob("*") if p.is_file())
    entries = []
    for path in paths:
        try:
            stat = path.stat()
            entries.append((str(path), stat.st_mtime_ns, stat.st_size))
        except OSError:
            entries.append((str(path), 0, -1))
    return tuple(entries)


def build_store(settings: ServiceSettings) -> SnapshotStore:
    """Read the manifest, snapshot, reasons and targets; check they describe the same customers;
    serialise every answer. Raises :class:`StoreLoadError` naming the file and the problem."""
    stamp = fingerprint(settings)
    manifest = _read_manifest(settings.manifest_path)
    snapshot = _read_parquet(settings.snapshot_path, ("customer_id",), "churn features")
    reasons = _read_parquet(settings.reasons_path, REASON_COLUMNS, "churn explain")
    targets = _read_parquet(settings.targets_path, TARGET_COLUMNS, "churn offers")
    ids = snapshot["customer_id"].astype(str)
    for name, frame in (("reasons", reasons), ("targets", targets)):
        path = settings.reasons_path if name == "reasons" else settings.targets_path
        other = frame["customer_id"].astype(str)
        if other.duplicated().any():
            dupes = other[other.duplicated()].head(5).tolist()
            raise StoreLoadError(f"{path}: duplicate customer_id values, e.g. {dupes}")
        if set(other) != set(ids):
            extra = sorted(set(other) - set(ids))[:5]
            absent = sorted(set(ids) - set(other))[:5]
            raise StoreLoadError(
                f"{path}: {len(other)} customers but the snapshot {settings.snapshot_path} has "
                f"{len(ids)}; not in the snapshot e.g. {extra}, missing e.g. {absent}: "
                "re-run the pipeline so every output comes from the same snapshot"
            )
    merged = targets.assign(customer_id=targets["customer_id"].astype(str)).merge(
        reasons.assign(customer_id=reasons["customer_id"].astype(str))[
            ["customer_id", "reasons", "churn_probability"]
        ].rename(columns={"churn_probability": "explained_probability"}),
        on="customer_id",
        how="left",
    )
    merged = merged.set_index("customer_id").loc[ids.tolist()]
    _require_one_model(merged, settings)
    answers, probabilities = {}, {}
    for customer_id, row in zip(merged.index, merged.itertuples(index=False), strict=True):
        probability = float(row.churn_probability)
        answers[customer_id] = _answer_json(customer_id, row, settings.risk_tiers)
        probabilities[customer_id] = probability
    return SnapshotStore(
        snapshot_date=str(manifest["snapshot_date"]),
        feature_definitions_hash=str(manifest["feature_definitions_hash"]),
        answers=answers,
        probabilities=probabilities,
        batch_probabilities=merged["churn_probability"].to_numpy(dtype=float),
        check_rows=snapshot.head(CHECK_ROWS).reset_index(drop=True),
        snapshot_rows=len(snapshot),
        fingerprint=stamp,
    )


def _require_one_model(merged: pd.DataFrame, settings: ServiceSettings) -> None:
    """Refuse reasons and targets scored by different models (e.g. read while ``dvc repro`` had
    rewritten the reasons but not yet the targets): by-id would pair one run's probability with
    another run's reasons."""
    gap = (merged["churn_probability"] - merged["explained_probability"]).abs()
    differing = gap.isna() | (gap > SAME_MODEL_TOLERANCE)
    if differing.any():
        examples = merged.index[differing.to_numpy()][:5].tolist()
        raise StoreLoadError(
            f"{settings.reasons_path} and {settings.targets_path} give {int(differing.sum())} "
            f"customers different churn probabilities (e.g. {examples}): they come from "
            "different models or runs; re-run explain and offers so both come from the same one"
        )


def snapshot_frame(settings: ServiceSettings) -> pd.DataFrame:
    """The whole scoring snapshot (features), to check which model made the batch decision."""
    return _read_parquet(settings.snapshot_path, ("customer_id",), "churn features")


def _answer_json(customer_id: str, row: Any, tiers: tuple[float, ...]) -> bytes:
    probability = float(row.churn_probability)
    reasons = json.loads(row.reasons) if isinstance(row.reasons, str) and row.reasons else []
    offer_id = row.offer_id if isinstance(row.offer_id, str) and row.offer_id else None
    answer = {
        "customer_id": customer_id,
        "churn_probability": probability,
        "risk_tier": risk_tier(probability, tiers),
        "reasons": reasons,
        "offer": {
            "offer_id": offer_id,
            "expected_gain": _number(row.expected_gain),
            "uplift": _number(row.uplift),
            "value": _number(row.value),
            "cost": _number(row.cost),
            "group": str(row.group),
            "decision": str(row.decision),
        },
        "source": SNAPSHOT_SOURCE,
        "warnings": [],
    }
    return json.dumps(answer, separators=(",", ":"), allow_nan=False).encode()


def _number(value: Any) -> float | None:
    number = float(value) if value is not None else math.nan
    return number if math.isfinite(number) else None


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreLoadError(f"{path} not found: run `churn features` (dvc repro)") from None
    except (OSError, json.JSONDecodeError) as error:
        raise StoreLoadError(f"{path}: unreadable manifest: {error}") from None
    absent = [key for key in ("snapshot_date", "feature_definitions_hash") if key not in manifest]
    if absent:
        raise StoreLoadError(f"{path}: manifest lacks {absent}")
    return manifest


def _read_parquet(path: Path, columns: Sequence[str], stage: str) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise StoreLoadError(f"{path} not found: run `{stage}` (dvc repro)") from None
    except Exception as error:  # pyarrow raises many types for a damaged file
        raise StoreLoadError(f"{path}: unreadable Parquet: {error}") from None
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise StoreLoadError(
            f"{path}: missing column(s) {absent}; expected at least {list(columns)} "
            f"({len(frame)} rows read)"
        )
    return frame
