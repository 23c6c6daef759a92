from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from pathlib import Path

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

from core.config import DuckDBConfig, FeaturesConfig, GenerateConfig
from features import partitions
from features.build import build_context, build_features, cutoff_grid, resolve_snapshot_date
from features.cutoffs import ROW_ORDER
from features.engine import (
    Output,
    Slice,
    SliceOrderError,
    connect,
    memory_limit_bytes,
    write_outputs,
)
from features.partitions import (
    SAMPLED_IDS_PER_SLICE,
    CustomerRange,
    customer_ranges,
    id_sample,
    partition_count,
    plan_slices,
    slice_runs,
)
from features.sources import load_raw_tables
from synthetic.world import generate_world
from tests.features.raw_tables import CHURN, customers, events, orders

CUTOFFS = FeaturesConfig().cutoffs.model_copy(update={"count": 4})
ENGINES = ("duckdb", "spark")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ir.Table]:
    """A small generated world's raw tables, read by DuckDB from their Parquet parts."""
    root = tmp_path_factory.mktemp("world")
    config = GenerateConfig(n_customers=240, chunk_customers=80, n_jobs=1)
    generate_world(config, seed=11, raw_dir=root / "raw", truth_dir=root / "truth")
    return load_raw_tables(connect(FeaturesConfig()), root / "raw")


def _written(slices: list[Slice], path: Path) -> pd.DataFrame:
    write_outputs(slices, ROW_ORDER[0], [Output(path)])
    return pq.read_table(path).to_pandas()


def _sliced(
    tables: dict[str, ir.Table], ranges: list[CustomerRange], cutoffs: list[dt.date], **kwargs
) -> list[Slice]:
    """The stage's way: one expression, run with each range's bounds."""
    context = build_context(tables, cutoffs, FeaturesConfig().families)

    def build(narrowed: Mapping[str, ir.Table]) -> ir.Table:
        config = FeaturesConfig()
        features = build_features(narrowed, cutoffs, config, CHURN, context=context, **kwargs)
        return features.order_by(list(ROW_ORDER))

    return slice_runs(tables, ranges, build)


@pytest.mark.parametrize("labelled", [True, False])
def test_a_build_over_customer_slices_equals_the_whole_build_exactly(
    generated: dict[str, ir.Table], tmp_path: Path, labelled: bool
) -> None:
    snapshot = resolve_snapshot_date(generated, FeaturesConfig())
    cutoffs = cutoff_grid(snapshot, CUTOFFS, CHURN.horizon_days) if labelled else [snapshot]
    ranges = customer_ranges(generated["customers"], 5)
    assert len(ranges) == 5

    whole = _written(
        _sliced(generated, [CustomerRange()], cutoffs, labelled=labelled), tmp_path / "a"
    )
    sliced = _written(_sliced(generated, ranges, cutoffs, labelled=labelled), tmp_path / "b")

    assert len(whole) > 100
    assert whole.cutoff_date.nunique() == len(cutoffs)
    assert_frame_equal(sliced, whole, check_exact=True)
    # same rows in the same row groups: the file does not show how it was sliced
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_a_build_of_some_customers_at_some_cutoffs_equals_their_rows_of_the_whole_build(
    generated: dict[str, ir.Table],
) -> None:
    """The offers stage builds only the (customer, send date) pairs its campaigns reached: at
    100k customers the whole build was 594,404 rows of which it kept 106,213."""
    snapshot = resolve_snapshot_date(generated, FeaturesConfig())
    cutoffs = cutoff_grid(snapshot, CUTOFFS, CHURN.horizon_days)
    whole = build_features(generated, cutoffs, FeaturesConfig(), CHURN).execute()
    wanted = whole.sample(40, random_state=3)[["customer_id", "cutoff_date"]]
    outside = pd.DataFrame({"customer_id": ["NOBODY"], "cutoff_date": [cutoffs[0]]})
    pairs = pd.concat([wanted, outside], ignore_index=True)

    some = build_features(
        generated,
        cutoffs,
        FeaturesConfig(),
        CHURN,
        only=ibis.memtable(pairs, schema={"customer_id": "string", "cutoff_date": "date"}),
    ).execute()

    expected = whole.merge(wanted, on=["customer_id", "cutoff_date"])
    assert len(some) == len(wanted) == 40
    assert_frame_equal(
        some.sort_values(list(ROW_ORDER)).reset_index(drop=True),
        expected.sort_values(list(ROW_ORDER)).reset_index(drop=True),
        check_exact=True,
    )


def test_every_slice_has_the_whole_exports_event_type_columns(tmp_path: Path) -> None:
    """Customer B alone has a `referral` event: A's slice still gets its (zero) columns."""
    tables = {
        "customers": customers("A", "B"),
        "orders": orders(("A", "2024-06-01 00:00", 10.0), ("B", "2024-06-02 00:00", 20.0)),
        "events": events(
            ("A", "2024-06-10 00:00", "web_session"), ("B", "2024-06-11 00:00", "referral")
        ),
    }
    cutoffs = [dt.date(2024, 7, 1)]
    ranges = [CustomerRange(upper="B"), CustomerRange(lower="B")]

    whole = _written(_sliced(tables, [CustomerRange()], cutoffs), tmp_path / "a.parquet")
    sliced = _written(_sliced(tables, ranges, cutoffs), tmp_path / "b.parquet")

    assert "events_count_30d_referral" in whole.columns
    assert whole.customer_id.tolist() == ["A", "B"]
    assert_frame_equal(sliced, whole, check_exact=True)


def test_customer_ranges_hold_every_customer_once_in_equal_shares(
    generated: dict[str, ir.Table],
) -> None:
    ids = generated["customers"].customer_id.to_pyarrow().to_pylist()
    ranges = customer_ranges(generated["customers"], 3)

    members = _members(generated, ranges)

    assert [len(m) for m in members] == [80, 80, 80]
    assert set().union(*members) == set(ids)
    assert ranges[0].lower is None and ranges[-1].upper is None
    assert all(a.upper == b.lower for a, b in itertools.pairwise(ranges))
    assert customer_ranges(generated["customers"], 1) == [CustomerRange()]


def _members(tables: dict[str, ir.Table], ranges: list[CustomerRange]) -> list[set[str]]:
    runs = slice_runs(tables, ranges, lambda narrowed: narrowed["customers"].select("customer_id"))
    return [
        set(run.expression.to_pyarrow(params=run.params).column("customer_id").to_pylist())
        for run in runs
    ]


def test_a_large_table_is_cut_at_a_hash_sample_of_its_ids(
    generated: dict[str, ir.Table],
) -> None:
    """240 customers, 3 slices of about 20 sampled ids each: one id in 4 is kept."""
    customers = generated["customers"]
    sample = id_sample(customers, 3, sampled_ids_per_slice=20)
    ids = set(customers.customer_id.to_pyarrow().to_pylist())
    sampled = sample.to_pyarrow().column("customer_id").to_pylist()

    assert 30 <= len(sampled) <= 90
    assert set(sampled) < ids
    assert sample.op().find(ops.WindowFunction) == []
    assert id_sample(customers, 3, sampled_ids_per_slice=80).execute().shape[0] == 240

    ranges = customer_ranges(customers, 3, sampled_ids_per_slice=20)
    assert ranges == customer_ranges(customers, 3, sampled_ids_per_slice=20)
    members = _members(generated, ranges)
    assert len(members) == 3
    assert sum(len(m) for m in members) == 240
    assert set().union(*members) == ids
    assert all(40 <= len(m) <= 120 for m in members), [len(m) for m in members]


def test_only_spark_plans_its_slices_from_the_sample(
    generated: dict[str, ir.Table], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB keeps its exact cuts (the sampled ones made its build slower); a Spark config
    asks for sampled cuts, here of 5 ids per slice so that they differ from the exact ones."""
    monkeypatch.setattr(partitions, "SAMPLED_IDS_PER_SLICE", 5)
    on = {engine: FeaturesConfig(engine=engine, partition_rows=2_500) for engine in ENGINES}
    planned = {engine: plan_slices(generated, config) for engine, config in on.items()}
    count = len(planned["duckdb"])

    assert count > 1
    assert planned["duckdb"] == customer_ranges(generated["customers"], count)
    assert planned["spark"] == customer_ranges(
        generated["customers"], count, sampled_ids_per_slice=5
    )
    assert planned["spark"] != planned["duckdb"]


@pytest.mark.spark
def test_spark_cuts_its_ranges_without_a_window(
    generated: dict[str, ir.Table], spark_backend: ibis.BaseBackend, tmp_path: Path
) -> None:
    """Spark sorts the ids of a window without ``PARTITION BY`` on one task; the hash sample
    needs none, and its ranges still hold every customer once."""
    pq.write_table(generated["customers"].to_pyarrow(), tmp_path / "customers.parquet")
    customers = spark_backend.read_parquet(tmp_path / "customers.parquet")
    ids = set(generated["customers"].customer_id.to_pyarrow().to_pylist())

    sampled = customer_ranges(customers, 3, sampled_ids_per_slice=20)
    members = _members({"customers": customers}, sampled)
    assert sum(len(m) for m in members) == 240
    assert set().union(*members) == ids
    assert all(m for m in members)
    every_id = customer_ranges(customers, 3, sampled_ids_per_slice=SAMPLED_IDS_PER_SLICE)
    assert every_id == customer_ranges(generated["customers"], 3)


def test_slices_are_sized_from_the_memory_limit_or_partition_rows(
    generated: dict[str, ir.Table],
) -> None:
    assert memory_limit_bytes("4GB") == 4 * 10**9
    assert memory_limit_bytes("512 MiB") == 512 * 2**20
    assert memory_limit_bytes("1.5GB") == 1_500_000_000
    with pytest.raises(ValueError, match="memory_limit is '80%'"):
        memory_limit_bytes("80%")
    assert partition_count(10, 4 * 10**9, partition_rows=3) == 4
    assert partition_count(50_000_000, 4 * 10**9, partition_rows=None) == 8
    assert partition_count(5_000_000, 4 * 10**9, partition_rows=None) == 1

    small_memory = FeaturesConfig(duckdb=DuckDBConfig(memory_limit="2MB"))
    assert len(plan_slices(generated, small_memory)) > 1
    assert len(plan_slices(generated, FeaturesConfig())) == 1
    assert len(plan_slices(generated, FeaturesConfig(partition_rows=2_000))) > 1
    assert plan_slices(generated, FeaturesConfig(engine="spark")) == [CustomerRange()]


def test_a_slice_out_of_order_is_refused(tmp_path: Path) -> None:
    first = ibis.memtable({"k": [1, 2], "v": [1, 2]})
    unsorted = ibis.memtable({"k": [2, 1], "v": [3, 4]})

    with pytest.raises(SliceOrderError, match="k 1 came after 2"):
        write_outputs([first, unsorted], "k", [Output(tmp_path / "out.parquet")])


def test_slices_merge_by_key_then_slice_order(tmp_path: Path) -> None:
    first = ibis.memtable({"k": [1, 1, 2], "v": ["a1", "a2", "a3"]}).order_by("k")
    second = ibis.memtable({"k": [1, 3], "v": ["b1", "b3"]}).order_by("k")
    empty = ibis.memtable({"k": [1], "v": ["x"]}).filter(ibis._.k > 5)

    write_outputs([first, empty, second], "k", [Output(tmp_path / "out.parquet")])

    written = pq.read_table(tmp_path / "out.parquet")
    assert written.column("v").to_pylist() == ["a1", "a2", "b1", "a3", "b3"]


@pytest.mark.parametrize("n_slices", [1, 2])
def test_outputs_take_the_rows_of_their_keys_without_their_dropped_columns(
    tmp_path: Path, n_slices: int
) -> None:
    rows = {"k": [1, 1, 2, 3, 3], "v": ["a", "b", "c", "d", "e"], "label": [0, 1, 0, 1, 1]}
    whole = ibis.memtable(rows).order_by(["k", "v"])
    slices = (
        [whole] if n_slices == 1 else [whole.filter(whole.v < "c"), whole.filter(whole.v >= "c")]
    )
    early, late = tmp_path / "early.parquet", tmp_path / "late.parquet"

    write_outputs(
        slices,
        "k",
        [Output(early, frozenset([1, 2])), Output(late, frozenset([3]), drop=("label",))],
    )

    assert pq.read_table(early).to_pydict() == {
        "k": [1, 1, 2],
        "v": ["a", "b", "c"],
        "label": [0, 1, 0],
    }
    assert pq.read_table(late).to_pydict() == {"k": [3, 3], "v": ["d", "e"]}


def test_rows_whose_key_has_no_output_are_refused(tmp_path: Path) -> None:
    rows = ibis.memtable({"k": [1, 2], "v": [1, 2]}).order_by("k")

    with pytest.raises(SliceOrderError, match="key 2 belong to none of the outputs"):
        write_outputs([rows], "k", [Output(tmp_path / "one.parquet", frozenset([1]))])
