"""The expression helpers' values on DuckDB (Spark's: ``test_spark_parity.py``)."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from features.expr import MICROSECONDS_PER_DAY, mean_duration, rounded

DECIMALS = 6


def half_away_from_zero(values: np.ndarray, decimals: int) -> np.ndarray:
    """The rounding :func:`rounded` promises, in numpy's IEEE arithmetic."""
    scale = 10.0**decimals
    scaled = values * scale
    truncated = np.trunc(scaled)
    # scaled - truncated is exact; adding 0.5 instead would round odd whole numbers past 2**52
    whole = np.where(np.abs(scaled - truncated) >= 0.5, truncated + np.sign(scaled), truncated)
    return np.where(np.abs(values) < 2.0**53 / scale, whole / scale, values)


def tie_values() -> list[float]:
    """Values on or next to a rounding tie, huge ones, and non-finite ones."""
    rng = np.random.default_rng(7)
    ties = (rng.integers(0, 10**9, 500) + 0.5) / 10**DECIMALS
    return [
        366.325 / 16,  # an average basket: 22.8953125
        0.5e-6,
        -0.5e-6,
        2.5e-6,
        -2.5e-6,
        1 / 3,
        9.0e9 + 0.5e-6,
        5e9 + 1e-6,  # scaled, an odd whole number past 2**52
        1e300,
        float("inf"),
        float("-inf"),
        float("nan"),
        *ties,
        *(-ties),
        *rng.normal(0, 100, 500),
    ]


def test_rounding_is_half_away_from_zero_and_leaves_huge_and_infinite_values() -> None:
    values = np.array(tie_values())
    table = ibis.memtable(pd.DataFrame({"i": range(len(values)), "x": values}))

    got = ibis.duckdb.connect().execute(
        table.select("i", y=rounded(table.x, DECIMALS)).order_by("i")
    )

    np.testing.assert_array_equal(got["y"].to_numpy(), half_away_from_zero(values, DECIMALS))
    # 366.325 / 16 is a hair below 22.8953125, but scaled by 10**6 it rounds to the tie itself
    assert got["y"].iloc[:5].tolist() == [22.895313, 1e-6, -1e-6, 3e-6, -3e-6]


def test_a_null_stays_null() -> None:
    table = ibis.memtable(pd.DataFrame({"x": pd.array([1.5e-6, None], dtype="Float64")}))

    got = ibis.duckdb.connect().execute(table.select(y=rounded(table.x, DECIMALS)))

    assert got["y"].iloc[0] == 2e-6
    assert pd.isna(got["y"].iloc[1])


def test_a_mean_duration_is_the_exact_mean_of_whole_microseconds_in_any_row_order() -> None:
    rng = np.random.default_rng(3)
    gaps = rng.integers(1, 400 * MICROSECONDS_PER_DAY, 999)
    kept = rng.random(999) < 0.7
    frame = pd.DataFrame({"gap": pd.array(gaps, dtype="Int64"), "kept": kept})
    frame.loc[::10, "gap"] = None  # a customer's first order has no gap
    expected = frame.gap[kept].dropna().sum() / frame.gap[kept].count() / MICROSECONDS_PER_DAY

    means = []
    for order in (frame.index, frame.index[::-1], rng.permutation(frame.index)):
        table = ibis.memtable(frame.loc[order])
        query = table.aggregate(m=mean_duration(table.gap, table.kept, MICROSECONDS_PER_DAY))
        means.append(ibis.duckdb.connect().execute(query)["m"].iloc[0])

    assert means == [expected] * 3


def test_a_mean_duration_of_no_rows_is_null() -> None:
    table = ibis.memtable(pd.DataFrame({"gap": [5, 7], "kept": [False, False]}))
    query = table.aggregate(m=mean_duration(table.gap, table.kept, MICROSECONDS_PER_DAY))

    assert pd.isna(ibis.duckdb.connect().execute(query)["m"].iloc[0])
