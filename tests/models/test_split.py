from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.split import (
    CutoffSplit,
    SplitError,
    check_both_classes,
    plan_split,
    rolling_origins,
    rows_at,
    split_frame,
)
from tests.models.frames import CUTOFFS, feature_table

MONTHLY = [dt.date(2024, 1, 1) + dt.timedelta(days=30 * i) for i in range(12)]


def test_embargo_keeps_a_horizon_between_train_validation_and_test() -> None:
    split = plan_split(MONTHLY, horizon_days=90)

    assert split.test == MONTHLY[11]
    assert split.validation == MONTHLY[8]  # + 90 days = the test cutoff
    assert split.train == tuple(MONTHLY[:6])  # the last one + 90 days = the validation cutoff


def test_a_test_offset_past_the_grid_is_a_split_error() -> None:
    with pytest.raises(SplitError):
        plan_split(MONTHLY, horizon_days=90, test_offset=len(MONTHLY))


def test_without_embargo_the_previous_cutoffs_are_used() -> None:
    split = plan_split(MONTHLY, horizon_days=90, embargo=False)

    assert (split.validation, split.train) == (MONTHLY[10], tuple(MONTHLY[:10]))


def test_a_grid_too_short_names_the_fix() -> None:
    with pytest.raises(SplitError, match=r"features\.cutoffs\.count"):
        plan_split(MONTHLY[:4], horizon_days=90)


def test_rolling_origins_step_back_and_stop_at_the_minimum_training_window() -> None:
    origins = rolling_origins(MONTHLY, 90, True, n_origins=10, min_train_cutoffs=2)

    assert [o.test for o in origins] == [
        MONTHLY[11],
        MONTHLY[10],
        MONTHLY[9],
        MONTHLY[8],
        MONTHLY[7],
    ]
    assert [len(o.train) for o in origins] == [6, 5, 4, 3, 2]


@settings(max_examples=60, deadline=None)
@given(
    n_cutoffs=st.integers(3, 20),
    every_days=st.integers(7, 60),
    horizon_days=st.integers(1, 120),
    embargo=st.booleans(),
    offset=st.integers(0, 5),
)
def test_no_training_or_tuning_label_reaches_into_the_test_period(
    n_cutoffs: int, every_days: int, horizon_days: int, embargo: bool, offset: int
) -> None:
    cutoffs = [dt.date(2024, 1, 1) + dt.timedelta(days=every_days * i) for i in range(n_cutoffs)]
    try:
        split = plan_split(cutoffs, horizon_days, embargo, test_offset=offset)
    except SplitError:
        return
    horizon = dt.timedelta(days=horizon_days if embargo else 0)

    assert split.test not in split.train and split.validation not in split.train
    assert split.validation < split.test
    assert max(split.train) + horizon <= split.validation
    assert split.validation + horizon <= split.test


def test_split_frame_never_puts_a_test_row_in_training_or_validation() -> None:
    table = feature_table(customers=20)
    split = plan_split(CUTOFFS, horizon_days=60)

    frames = split_frame(table, split)

    def keys(frame: pd.DataFrame) -> set[tuple[str, dt.date]]:
        return set(zip(frame["customer_id"], frame["cutoff_date"], strict=True))

    assert keys(frames.test) and keys(frames.validation) and keys(frames.train)
    assert not keys(frames.test) & (keys(frames.train) | keys(frames.validation))
    assert not keys(frames.validation) & keys(frames.train)
    assert set(frames.test["cutoff_date"]) == {CUTOFFS[-1]}
    assert len(frames.train) == 20 * len(split.train)


def test_a_part_with_one_class_is_refused_naming_its_cutoff() -> None:
    table = feature_table()
    split = plan_split(CUTOFFS, horizon_days=60)
    frames = split_frame(table, split)
    check_both_classes(frames, split)  # the usual table has both classes everywhere
    validation_all_stayed = table["cutoff_date"] == split.validation
    table.loc[validation_all_stayed, "churned"] = 0

    with pytest.raises(SplitError, match=rf"validation cutoff\(s\) {split.validation} hold"):
        check_both_classes(split_frame(table, split), split)


def test_a_recorded_split_reads_back_as_the_split_train_recorded() -> None:
    """Evaluate, explain and offers read train's split from registered.json (JSON text)."""
    split = plan_split(MONTHLY, horizon_days=90)

    assert CutoffSplit.from_dict(json.loads(json.dumps(split.as_dict()))) == split


def test_split_parts_keep_the_tables_columns_and_number_their_rows_afresh() -> None:
    """No stray ``index`` column (the row's position in the whole table) reaches a model."""
    table = feature_table(customers=20)
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))

    for part in (frames.train, frames.validation, frames.test):
        assert list(part.columns) == list(table.columns)
        assert part.index.equals(pd.RangeIndex(len(part)))


def test_a_table_without_cutoff_dates_is_a_split_error() -> None:
    table = feature_table(customers=5).drop(columns="cutoff_date")

    with pytest.raises(SplitError, match="no cutoff_date column"):
        split_frame(table, plan_split(CUTOFFS, horizon_days=60))


@pytest.mark.parametrize("shuffled", [False, True])
def test_a_shared_split_holds_the_rows_a_copied_one_does(shuffled: bool) -> None:
    """Sorted by cutoff, each part is a slice sharing the table's memory; shuffled, a copy. The
    rows, their order and index are the same as the copied split's either way."""
    table = feature_table(customers=20)
    if shuffled:
        table = table.sample(frac=1.0, random_state=0).reset_index(drop=True)
    split = plan_split(CUTOFFS, horizon_days=60)

    copied = split_frame(table, split)
    shared = split_frame(table, split, share=True)

    for name in ("train", "validation", "test"):
        pd.testing.assert_frame_equal(
            getattr(shared, name), getattr(copied, name), check_exact=True
        )
    spend = table["rfm_spend_365d"].to_numpy()
    assert np.shares_memory(shared.train["rfm_spend_365d"].to_numpy(), spend) is not shuffled
    assert not np.shares_memory(copied.train["rfm_spend_365d"].to_numpy(), spend)


def test_rows_at_one_cutoff_are_that_part_of_the_split() -> None:
    table = feature_table(customers=20)
    split = plan_split(CUTOFFS, horizon_days=60)

    pd.testing.assert_frame_equal(
        rows_at(table, split.test), split_frame(table, split).test, check_exact=True
    )
    with pytest.raises(SplitError, match="no cutoff_date column"):
        rows_at(table.drop(columns="cutoff_date"), split.test)
