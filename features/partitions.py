"""Customer partitions: the build run over slices of the customers, one slice at a time.

Every feature and label of a customer reads only that customer's rows, so a build over a slice of
the customers gives exactly the slice's rows of the whole build. What a slice saves is memory: the
costliest step, the inequality join of events to the cutoffs, produces one row per event and later
cutoff of its customer (about 5-6 per event with 12 monthly cutoffs). At 1M customers that
intermediate outgrows any sensible ``features.duckdb.memory_limit`` and DuckDB spends most of the
build spilling it; sliced, each join fits in memory and the cost grows linearly with the customers.

Slices are ranges of ``customer_id`` (as text, in the engine's binary order) cut at quantiles of
the ``customers`` table's ids (of a hash sample of them on Spark), so each holds about the same
number of customers. Exports written in customer order (as the synthetic generator and most
warehouse unloads do) let the engine skip whole files and row groups outside a range from their
min/max statistics.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from core.config import FeaturesConfig
from features.engine import Slice, memory_limit_bytes

BYTES_PER_SOURCE_ROW = 300
"""Working memory a slice needs per orders + events row, measured with DuckDB 2.0.

The events join expands each event into one row per later cutoff (about 5.6 with 12 monthly
cutoffs), then groups them by (customer, cutoff, event type): 100k customers (6.5M orders +
events) run in about 1.5 GiB of DuckDB buffers and 2.2 GiB of process memory without spilling;
300k customers in one slice spill and cost 1.2x the CPU of three 100k slices.
"""

MEMORY_SHARE = 0.5
"""Share of the memory limit a slice's join may plan for (the rest: other joins, the output)."""

SAMPLED_IDS_PER_SLICE = 1_000
"""Ids Spark's :func:`customer_ranges` sorts per slice it cuts: slices within a few percent of
equal. DuckDB cuts exactly: at 1M customers, sampled cuts made its build about 4% slower (136.5
and 136.6 s against 130.4 and 131.7 s, alternating), likely as its largest slice grows a few
percent past the memory plan."""

SOURCE_TABLES = ("orders", "events")
"""The tables whose rows are joined to every later cutoff: their size sets the slice count."""


@dataclass(frozen=True)
class CustomerRange:
    """Customers with ``lower <= customer_id < upper``; ``None`` leaves that side open."""

    lower: str | None = None
    upper: str | None = None


@dataclass(frozen=True)
class RangeParameters:
    """A customer range's bounds as Ibis parameters (a null bound is open), so that one
    expression serves every slice (:func:`slice_runs`)."""

    lower: ir.StringScalar
    upper: ir.StringScalar

    @classmethod
    def create(cls) -> RangeParameters:
        return cls(ibis.param(dt.string), ibis.param(dt.string))

    def slice(self, tables: Mapping[str, ir.Table]) -> dict[str, ir.Table]:
        """Every table narrowed to the range the parameters will hold (tables keyed by
        ``customer_id``)."""
        return {name: table.filter(self.keeps(table.customer_id)) for name, table in tables.items()}

    def keeps(self, customer_id: ir.StringValue) -> ir.BooleanValue:
        return (self.lower.isnull() | (customer_id >= self.lower)) & (
            self.upper.isnull() | (customer_id < self.upper)
        )

    def values(self, piece: CustomerRange) -> dict[ir.Scalar, str | None]:
        return {self.lower: piece.lower, self.upper: piece.upper}


def slice_runs(
    tables: Mapping[str, ir.Table],
    slices: Sequence[CustomerRange],
    build: Callable[[Mapping[str, ir.Table]], ir.Table],
) -> list[Slice]:
    """``build``'s expression over ``tables``, one run per slice, for ``engine.write_outputs``.

    The expression is built once, over tables narrowed by :class:`RangeParameters`, and each
    slice runs it with its own bounds: building it again per slice was Python work of about
    0.35 s per slice and table at 1M customers (compiling it to SQL, about 0.3 s, still happens
    per run). The engine sees the bounds as constants, so row groups outside a range are still
    skipped. A single unbounded slice runs on the tables as they are.
    """
    if list(slices) == [CustomerRange()]:
        return [Slice(build(tables))]
    bounds = RangeParameters.create()
    expression = build(bounds.slice(tables))
    return [Slice(expression, bounds.values(piece)) for piece in slices]


def customer_ranges(
    customers: ir.Table, count: int, *, sampled_ids_per_slice: int | None = None
) -> list[CustomerRange]:
    """``count`` ranges (fewer if there are fewer customers) holding (about) equal shares.

    ``None``: the ids at every ``n / count``-th position of the sorted distinct ids, one window
    over all of them; exact, and cheap on DuckDB. Otherwise every ``n / count``-th id of
    :func:`id_sample`, sorted here (Python's ``str`` order is code point order, the engines'
    binary order of UTF-8): no window, for Spark; with every id sampled the cuts are the same.
    """
    if count <= 1:
        return [CustomerRange()]
    if sampled_ids_per_slice is None:
        ids = customers.select("customer_id").distinct()
        total = int(ids.count().to_pyarrow().as_py())
        step = max(1, math.ceil(total / count))
        numbered = ids.mutate(_position=ibis.row_number().over(order_by=ids.customer_id))
        cuts = numbered.filter((numbered._position % step == 0) & (numbered._position > 0))
        bounds = sorted(cuts.to_pyarrow().column("customer_id").to_pylist())
    else:
        sample = id_sample(customers, count, sampled_ids_per_slice)
        sampled = sorted(sample.to_pyarrow().column("customer_id").to_pylist())
        step = max(1, math.ceil(len(sampled) / count))
        bounds = sampled[step::step]
    edges: list[str | None] = [None, *bounds, None]
    return [CustomerRange(lower, upper) for lower, upper in itertools.pairwise(edges)]


def id_sample(customers: ir.Table, count: int, sampled_ids_per_slice: int) -> ir.Table:
    """The distinct ids whose hash falls in one of ``k`` buckets, ``k`` chosen so that about
    ``count * sampled_ids_per_slice`` remain (all of them for a smaller table).

    A filter, not a window over the sorted ids: Spark runs a window without a partition on a
    single task, so on a cluster the whole customers table would be sorted on one machine. The
    hash makes the sample the same at every run; slices only bound memory and the output does
    not depend on them (see the module's docstring), so cuts a few percent off cost nothing.
    """
    ids = customers.select("customer_id").distinct()
    total = int(ids.count().to_pyarrow().as_py())
    keep_one_in = max(1, total // (count * sampled_ids_per_slice))
    if keep_one_in == 1:
        return ids
    bucket = (ids.customer_id.hash() % keep_one_in + keep_one_in) % keep_one_in
    return ids.filter(bucket == 0)


def partition_count(source_rows: int, memory_limit_bytes: int, partition_rows: int | None) -> int:
    """How many slices keep each slice's join within memory.

    ``partition_rows`` (``features.partition_rows``) caps the orders + events rows per slice;
    ``None`` derives the cap from the memory limit (:data:`BYTES_PER_SOURCE_ROW`,
    :data:`MEMORY_SHARE`).
    """
    cap = partition_rows
    if cap is None:
        cap = max(1, int(memory_limit_bytes * MEMORY_SHARE / BYTES_PER_SOURCE_ROW))
    return max(1, math.ceil(source_rows / cap))


def plan_slices(tables: Mapping[str, ir.Table], config: FeaturesConfig) -> list[CustomerRange]:
    """The customer ranges a build over ``tables`` runs on, from ``features.partition_rows``.

    Without ``partition_rows``, DuckDB gets as many slices as its memory limit needs (counting
    rows reads Parquet metadata only) and Spark one: it spreads a join over its executors itself.
    Spark's cuts come from a sample of the ids (:func:`id_sample`), DuckDB's are exact.
    """
    if config.partition_rows is None and config.engine != "duckdb":
        return [CustomerRange()]
    rows = sum(
        int(tables[name].count().to_pyarrow().as_py()) for name in SOURCE_TABLES if name in tables
    )
    limit = memory_limit_bytes(config.duckdb.memory_limit)
    count = partition_count(rows, limit, config.partition_rows)
    sampled = None if config.engine == "duckdb" else SAMPLED_IDS_PER_SLICE
    return customer_ranges(tables["customers"], count, sampled_ids_per_slice=sampled)
