from __future__ import annotations

from pathlib import Path

import ibis
import pyarrow.parquet as pq

from core.config import DuckDBConfig, FeaturesConfig
from features.engine import connect, write_parquet


def test_duckdb_gets_memory_limit_threads_and_a_spill_folder(tmp_path: Path) -> None:
    spill = tmp_path / "spill" / "duckdb"
    config = FeaturesConfig(
        duckdb=DuckDBConfig(memory_limit="512MB", threads=1, temp_directory=spill)
    )

    con = connect(config)

    settings = con.raw_sql(
        "select current_setting('threads'), current_setting('temp_directory'), "
        "current_setting('memory_limit'), current_setting('TimeZone')"
    ).fetchone()
    assert settings[0] == 1
    assert settings[1] == str(spill)
    assert settings[2].replace(" ", "").upper().startswith(("488", "512"))
    assert settings[3] == "UTC"
    assert spill.is_dir()


def test_write_parquet_keeps_the_order_of_the_expression(tmp_path: Path) -> None:
    numbers = ibis.memtable({"n": list(range(5000))})

    write_parquet(numbers.order_by(ibis.desc("n")), tmp_path / "out.parquet")

    assert pq.read_table(tmp_path / "out.parquet").column("n").to_pylist() == list(
        range(4999, -1, -1)
    )
