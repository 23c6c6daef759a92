"""Time-based splits of the labelled cutoff grid: train on the past, tune, test on the latest.

A training row at cutoff ``c`` carries a label observed over ``[c, c + horizon)``. If that window
reaches past the validation or test cutoff, the label already knows what happens in the period
the model is judged on, so the split keeps an *embargo*: every training cutoff ends its label
horizon on or before the validation cutoff, and the validation cutoff ends its horizon on or
before the test cutoff. That is exactly what a team standing at the test cutoff could have known.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

KEYS = ("customer_id", "cutoff_date")
LABEL = "churned"


class SplitError(ValueError):
    """The cutoff grid is too short for the split that was asked for."""


@dataclass(frozen=True)
class CutoffSplit:
    """Which cutoffs train, tune (validation, also calibration) and test a model."""

    train: tuple[dt.date, ...]
    validation: dt.date
    test: dt.date

    def as_dict(self) -> dict[str, object]:
        return {
            "train": [cutoff.isoformat() for cutoff in self.train],
            "validation": self.validation.isoformat(),
            "test": self.test.isoformat(),
        }

    @classmethod
    def from_dict(cls, recorded: dict[str, Any]) -> CutoffSplit:
        """The split :meth:`as_dict` recorded (train writes it into ``registered.json``)."""
        return cls(
            train=tuple(pd.Timestamp(c).date() for c in recorded["train"]),
            validation=pd.Timestamp(recorded["validation"]).date(),
            test=pd.Timestamp(recorded["test"]).date(),
        )


@dataclass(frozen=True)
class SplitFrames:
    """The rows of one :class:`CutoffSplit`."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def plan_split(
    cutoffs: Iterable[dt.date], horizon_days: int, embargo: bool = True, test_offset: int = 0
) -> CutoffSplit:
    """Choose train, validation and test cutoffs from the labelled grid.

    The test cutoff is the latest one (``test_offset`` steps back from it, for backtests). With
    ``embargo`` the validation cutoff is the latest whose label horizon ends by the test cutoff,
    and training cutoffs end theirs by the validation cutoff; without it they are simply the
    earlier cutoffs (labels then overlap the next period: only for grids too short otherwise).
    """
    ordered = sorted(set(cutoffs))
    if test_offset >= len(ordered):
        raise SplitError(
            f"test_offset {test_offset} needs more than {len(ordered)} labelled cutoffs"
        )
    test = ordered[len(ordered) - 1 - test_offset]
    gap = dt.timedelta(days=horizon_days if embargo else 0)
    validation_pool = [c for c in ordered if c < test and c + gap <= test]
    if not validation_pool:
        raise SplitError(_too_short(ordered, test, horizon_days, embargo, "validation"))
    validation = validation_pool[-1]
    train = tuple(c for c in ordered if c < validation and c + gap <= validation)
    if not train:
        raise SplitError(_too_short(ordered, test, horizon_days, embargo, "training"))
    return CutoffSplit(train=train, validation=validation, test=test)


def rolling_origins(
    cutoffs: Sequence[dt.date],
    horizon_days: int,
    embargo: bool,
    n_origins: int,
    min_train_cutoffs: int,
) -> list[CutoffSplit]:
    """Up to ``n_origins`` splits whose test cutoff steps back one cutoff at a time.

    Origins whose training window would hold fewer than ``min_train_cutoffs`` cutoffs are
    skipped: a model trained on one month says little about stability. Latest origin first.
    """
    splits = []
    for offset in range(n_origins):
        try:
            split = plan_split(cutoffs, horizon_days, embargo, test_offset=offset)
        except SplitError:
            break
        if len(split.train) < min_train_cutoffs:
            break
        splits.append(split)
    return splits


def split_frame(frame: pd.DataFrame, split: CutoffSplit, share: bool = False) -> SplitFrames:
    """The rows of ``frame`` at each part's cutoffs; rows at other cutoffs are left out.

    Each part is a copy, unless ``share``: then a part whose rows lie together in ``frame`` (the
    features stage writes them cutoff by cutoff) is a slice sharing ``frame``'s memory. For a
    caller that keeps ``frame`` anyway, such as the backtest refitting at every origin: the
    copies are as large as a fit's working set. Same rows, order and index either way.
    """
    cutoff = _cutoff_dates(frame)
    return SplitFrames(
        train=_rows(frame, cutoff.isin(split.train), share),
        validation=_rows(frame, cutoff == split.validation, share),
        test=_rows(frame, cutoff == split.test, share),
    )


def rows_at(frame: pd.DataFrame, cutoff: dt.date) -> pd.DataFrame:
    """The rows of ``frame`` at ``cutoff``, numbered from 0: one part of :func:`split_frame`
    without copying the other parts' rows (the training rows are most of the table)."""
    return _rows(frame, _cutoff_dates(frame) == cutoff, share=False)


def _cutoff_dates(frame: pd.DataFrame) -> pd.Series:
    if "cutoff_date" not in frame.columns:
        raise SplitError("the feature table has no cutoff_date column; expected one per row")
    return pd.to_datetime(frame["cutoff_date"]).dt.date


def _rows(frame: pd.DataFrame, mask: pd.Series, share: bool) -> pd.DataFrame:
    """``frame``'s rows where ``mask`` holds, numbered from 0; a slice when ``share`` and the rows
    are contiguous."""
    if share:
        positions = np.flatnonzero(mask.to_numpy())
        if len(positions) and positions[-1] - positions[0] + 1 == len(positions):
            return frame.iloc[positions[0] : positions[-1] + 1].reset_index(drop=True)
    return frame.loc[mask].reset_index(drop=True)


def check_both_classes(frames: SplitFrames, split: CutoffSplit) -> None:
    """Refuse a part whose rows hold one class only (or none): nothing can be fitted, calibrated
    or ranked on it, and the error would otherwise surface deep inside scikit-learn."""
    parts = (
        ("training", ", ".join(str(day) for day in split.train), frames.train),
        ("validation", str(split.validation), frames.validation),
        ("test", str(split.test), frames.test),
    )
    for part, days, rows in parts:
        churned = int(rows[LABEL].sum()) if len(rows) else 0
        if len(rows) == 0 or churned in (0, len(rows)):
            raise SplitError(
                f"the {part} cutoff(s) {days} hold {len(rows):,} labelled rows with {churned:,} "
                f"churned: both classes are needed to fit, calibrate and score a classifier "
                f"(check churn.definition and horizon_days, or use more cutoffs)"
            )


def _too_short(
    ordered: list[dt.date], test: dt.date, horizon_days: int, embargo: bool, part: str
) -> str:
    return (
        f"no {part} cutoff left: test cutoff {test.isoformat()}, {len(ordered)} labelled cutoffs "
        f"({ordered[0].isoformat()} … {ordered[-1].isoformat()}), horizon {horizon_days} days, "
        f"embargo {'on' if embargo else 'off'}; build more cutoffs (features.cutoffs.count) "
        "or switch train.split.embargo off"
    )
