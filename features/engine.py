"""The backend that runs the feature expressions: embedded DuckDB by default, or Spark.

Feature definitions are Ibis expressions and never name a backend; this module is the one place
that does. DuckDB reads the raw Parquet/CSV files in place, uses ``features.duckdb.threads``
cores, and spills joins, aggregations and sorts to ``temp_directory`` once it reaches
``memory_limit`` instead of dying on a large history.
"""

from __future__ import annotations

from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow.parquet as pq

from core.config import FeaturesConfig

BATCH_ROWS = 100_000


def connect(config: FeaturesConfig) -> ibis.BaseBackend:
    """A fresh connection to the engine named by ``config.engine``.

    DuckDB runs in memory (nothing persists between stages) with the session time zone set to
    UTC by Ibis, so timestamps keep their contract meaning (naive = UTC).
    """
    if config.engine == "spark":
        from features.spark import connect_spark

        return connect_spark(config.spark)
    settings = config.duckdb
    settings.temp_directory.mkdir(parents=True, exist_ok=True)
    return ibis.duckdb.connect(
        memory_limit=settings.memory_limit,
        threads=settings.threads,
        temp_directory=str(settings.temp_directory),
    )


def write_parquet(expression: ir.Table, path: Path) -> None:
    """Stream ``expression``'s rows, in their order, into one Parquet file at ``path``.

    DuckDB writes the file itself (``COPY``: no rows pass through Python); other backends stream
    Arrow batches to a single file (Spark's own writer would make a folder of parts).
    """
    backend = expression._find_backend(use_default=True)
    if backend.name == "duckdb":
        backend.to_parquet(expression, path, compression="zstd")
        return
    reader = backend.to_pyarrow_batches(expression, chunk_size=BATCH_ROWS)
    with pq.ParquetWriter(path, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
