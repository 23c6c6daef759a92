"""The same raw files through DuckDB and through PySpark ``local[2]`` give the same features.

A tiny synthetic world (the generator's Parquet parts) is extended with a subscriptions table so
both churn definitions can be built, and two tables are rewritten as CSV so both readers of
``features.sources`` (Parquet and text) are exercised on both engines. Every comparison is on
values with a tolerance of 1e-9, row for row after the build's own ordering.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

from core.config import (
    ChurnConfig,
    Config,
    CutoffConfig,
    DuckDBConfig,
    FeaturesConfig,
    GenerateConfig,
)
from features.build import (
    FLOAT_DECIMALS,
    build_features,
    compute_features,
    cutoff_grid,
    resolve_snapshot_date,
)
from features.build import _settled as settled
from features.engine import connect
from features.sources import load_raw_tables
from pipeline.features import run as run_features_stage
from synthetic.world import generate_world
from tests.features.test_expr import half_away_from_zero, tie_values

pytestmark = pytest.mark.spark

TOLERANCE = 1e-9
CUTOFFS = CutoffConfig(every_days=60, count=3)
DEFINITIONS = ("inactivity", "subscription")


def _subscriptions(customers: pd.DataFrame, seed: int) -> pd.DataFrame:
    """One or two subscription periods per customer: some ended, some renewed, some running."""
    rng = np.random.default_rng(seed)
    rows = []
    for index, (customer, signup) in enumerate(
        zip(customers.customer_id, pd.to_datetime(customers.signup_date), strict=True)
    ):
        start = signup + pd.Timedelta(days=int(rng.integers(0, 60)))
        length = pd.Timedelta(days=int(rng.integers(30, 500)))
        end = start + length if rng.random() < 0.7 else None
        rows.append((f"S{index}-1", customer, start, end, float(rng.integers(5, 50))))
        if end is not None and rng.random() < 0.4:
            renewal = end + pd.Timedelta(days=int(rng.integers(1, 30)))
            rows.append((f"S{index}-2", customer, renewal, None, float(rng.integers(5, 50))))
    frame = pd.DataFrame(
        rows, columns=["subscription_id", "customer_id", "start_date", "end_date", "mrr"]
    )
    for column in ("start_date", "end_date"):
        frame[column] = frame[column].dt.strftime("%Y-%m-%d")
    return frame


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-customer world: Parquet parts, plus subscriptions and support tickets as CSV."""
    root = tmp_path_factory.mktemp("parity")
    config = GenerateConfig(n_customers=300, chunk_customers=150, n_jobs=1)
    raw = root / "raw"
    generate_world(config, seed=11, raw_dir=raw, truth_dir=root / "truth")
    customers = pq.read_table(raw / "customers").to_pandas()
    _subscriptions(customers, seed=11).to_csv(raw / "subscriptions.csv", index=False)
    tickets = pq.read_table(raw / "support_tickets").to_pandas()
    for part in (raw / "support_tickets").iterdir():
        part.unlink()
    (raw / "support_tickets").rmdir()
    tickets.to_csv(raw / "support_tickets.csv", index=False)
    return raw


@pytest.fixture(scope="module")
def duckdb_tables(raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ir.Table]:
    spill = tmp_path_factory.mktemp("duckdb-spill")
    con = connect(FeaturesConfig(duckdb=DuckDBConfig(temp_directory=spill)))
    return load_raw_tables(con, raw_dir)


@pytest.fixture(scope="module")
def spark_tables(raw_dir: Path, spark_backend: ibis.BaseBackend) -> dict[str, ir.Table]:
    return load_raw_tables(spark_backend, raw_dir)


def assert_close(actual: pd.DataFrame, expected: pd.DataFrame, what: str) -> None:
    """Frames equal value for value within :data:`TOLERANCE` (names, order and dtypes exact)."""
    assert_frame_equal(
        actual, expected, check_exact=False, rtol=TOLERANCE, atol=TOLERANCE, obj=what
    )


def _types(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    """Column names and types; nullability flags differ between engines' writers."""
    return [(field.name, field.type) for field in schema]


def _plan(tables: Mapping[str, ir.Table], churn: ChurnConfig) -> tuple[dt.date, list[dt.date]]:
    snapshot = resolve_snapshot_date(tables, FeaturesConfig())
    return snapshot, cutoff_grid(snapshot, CUTOFFS, churn.horizon_days)


def test_both_engines_read_the_same_csv_tables(
    duckdb_tables: dict[str, ir.Table], spark_tables: dict[str, ir.Table]
) -> None:
    """Text is where readers differ (types, empty fields, timestamps); Parquet carries types."""
    assert sorted(spark_tables) == sorted(duckdb_tables)
    for name, sometimes_empty in (("subscriptions", "end_date"), ("support_tickets", "csat")):
        every_column = list(duckdb_tables[name].columns)
        expected = duckdb_tables[name].order_by(every_column).to_pyarrow()
        actual = spark_tables[name].order_by(every_column).to_pyarrow()
        assert actual.schema == expected.schema, name
        assert expected.num_rows > 0, name
        assert expected.column(sometimes_empty).null_count > 0, name
        assert_close(actual.to_pandas(), expected.to_pandas(), name)


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_training_features_are_identical_on_spark(
    definition: str, duckdb_tables: dict[str, ir.Table], spark_tables: dict[str, ir.Table]
) -> None:
    churn = ChurnConfig(definition=definition)
    snapshot, cutoffs = _plan(duckdb_tables, churn)
    assert _plan(spark_tables, churn) == (snapshot, cutoffs)
    features = FeaturesConfig()

    expected = compute_features(duckdb_tables, cutoffs, features, churn)
    actual = compute_features(spark_tables, cutoffs, features, churn)

    assert expected.cutoff_date.nunique() == len(cutoffs)
    assert 0 < expected.churned.mean() < 1
    assert_close(actual, expected, "training features")


def unpartitioned_windows(tables: Mapping[str, ir.Table]) -> list[str]:
    """The build's window functions that have no ``PARTITION BY`` (by function name)."""
    _, cutoffs = _plan(tables, ChurnConfig())
    expression = build_features(tables, cutoffs, FeaturesConfig(), ChurnConfig())
    windows = expression.op().find(ops.WindowFunction)
    assert windows, "the build has windows (previous orders, customer numbers)"
    return [type(window.func).__name__ for window in windows if not window.group_by]


def test_every_window_of_a_spark_build_is_partitioned(
    duckdb_tables: dict[str, ir.Table], spark_tables: dict[str, ir.Table]
) -> None:
    """Spark runs a window without ``PARTITION BY`` on one partition: with every customer in it,
    a cluster's build would wait on one machine for that step. DuckDB keeps one window over the
    customers (faster there); the training test above shows both give the same features."""
    assert unpartitioned_windows(spark_tables) == []
    assert unpartitioned_windows(duckdb_tables) == ["RowNumber"]


def test_the_stage_writes_the_same_files_on_spark(
    raw_dir: Path, spark_backend: ibis.BaseBackend, tmp_path: Path
) -> None:
    """The stage's own path (``pipeline.features.run``): one build of the labelled cutoffs and
    the snapshot, routed into two files, on each engine (Spark reuses the running session)."""
    written: dict[str, dict[str, pa.Table]] = {}
    manifests: dict[str, dict[str, object]] = {}
    for engine in ("duckdb", "spark"):
        defaults = Config()
        config = defaults.model_copy(
            update={
                "paths": defaults.paths.model_copy(
                    update={"raw_dir": raw_dir, "features_dir": tmp_path / engine}
                ),
                "features": FeaturesConfig(
                    engine=engine,
                    cutoffs=CUTOFFS,
                    duckdb=DuckDBConfig(temp_directory=tmp_path / "spill"),
                ),
            }
        )
        manifests[engine] = run_features_stage(config)
        written[engine] = {
            name: pq.read_table(tmp_path / engine / f"{name}.parquet")
            for name in ("training", "snapshot")
        }

    assert manifests["spark"] == manifests["duckdb"]
    for name in ("training", "snapshot"):
        expected, actual = written["duckdb"][name], written["spark"][name]
        assert _types(actual.schema) == _types(expected.schema), name
        assert expected.num_rows > 0
        assert_close(actual.to_pandas(), expected.to_pandas(), name)
    assert "churned" not in written["duckdb"]["snapshot"].column_names


def test_the_build_rounds_ties_alike_on_both_engines(spark_backend: ibis.BaseBackend) -> None:
    """SQL's ROUND differs at ties (DuckDB 22.895312, Spark 22.895313 for 366.325 / 16, one of
    27 such features on the default world); the build's own rounding must not."""
    values = np.array(tie_values())
    table = ibis.memtable(pd.DataFrame({"i": range(len(values)), "x": values}))
    query = table.select("i", y=settled(table.x, "rfm")).order_by("i")

    on_duckdb = ibis.duckdb.connect().execute(query)["y"].to_numpy()
    on_spark = spark_backend.execute(query)["y"].to_numpy()

    np.testing.assert_array_equal(on_spark, on_duckdb)
    np.testing.assert_array_equal(on_duckdb, half_away_from_zero(values, FLOAT_DECIMALS))
