from __future__ import annotations

import datetime as dt

import pytest

from core.config import CutoffConfig
from features.cutoffs import CutoffError, cutoff_grid, cutoff_table


def test_grid_steps_back_from_the_snapshot_leaving_room_for_the_horizon() -> None:
    grid = cutoff_grid(dt.date(2025, 1, 1), CutoffConfig(every_days=30, count=3), horizon_days=90)

    assert grid == [dt.date(2024, 8, 4), dt.date(2024, 9, 3), dt.date(2024, 10, 3)]


def test_a_horizon_between_grid_steps_rounds_back_to_the_next_step() -> None:
    grid = cutoff_grid(dt.date(2025, 1, 1), CutoffConfig(every_days=30, count=2), horizon_days=45)

    # 2024-12-02 + 45 days is after the snapshot: the latest labelled cutoff is 60 days back
    assert grid == [dt.date(2024, 10, 3), dt.date(2024, 11, 2)]


def test_cutoff_table_holds_midnights_window_starts_and_horizon_end() -> None:
    rows = (
        cutoff_table([dt.date(2024, 3, 1), dt.date(2024, 3, 1)], [400], horizon_days=10)
        .to_pyarrow()
        .to_pylist()
    )

    assert len(rows) == 1
    [row] = rows
    assert row["cutoff_date"] == dt.date(2024, 3, 1)
    assert row["cutoff_ts"] == dt.datetime(2024, 3, 1)
    assert row["_start_30d"] == dt.datetime(2024, 1, 31)
    assert row["_start_365d"] == dt.datetime(2023, 3, 2)
    assert row["_start_400d"] == dt.datetime(2023, 1, 26)
    assert row["_last_day"] == dt.date(2024, 2, 29)
    assert row["_horizon_end_ts"] == dt.datetime(2024, 3, 11)
    assert row["_horizon_end_date"] == dt.date(2024, 3, 11)


def test_no_cutoffs_is_an_error() -> None:
    with pytest.raises(CutoffError, match="at least one"):
        cutoff_table([], [], horizon_days=10)


def test_cutoffs_are_numbered_from_the_oldest_whatever_the_order_given() -> None:
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=30 * i) for i in range(6)]

    rows = cutoff_table(days[::-1], [], horizon_days=10).to_pyarrow().to_pylist()

    assert [row["cutoff_date"] for row in rows] == days
    assert [row["_cutoff_number"] for row in rows] == list(range(6))
