from __future__ import annotations

from pathlib import Path

import ibis
import pyarrow.parquet as pq
import pytest

from core.config import DuckDBConfig, FeaturesConfig
from features.engine import Output, Slice, _CompiledSql, connect, write_outputs
from features.partitions import CustomerRange, RangeParameters


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


def test_one_expression_is_written_in_its_own_order_within_the_key(tmp_path: Path) -> None:
    numbers = ibis.memtable({"k": [0] * 5000, "n": list(range(5000))})

    write_outputs(
        [numbers.order_by(["k", ibis.desc("n")])], "k", [Output(tmp_path / "out.parquet")]
    )

    assert pq.read_table(tmp_path / "out.parquet").column("n").to_pylist() == list(
        range(4999, -1, -1)
    )


def test_slices_of_one_expression_run_the_sql_ibis_compiles_for_their_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SQL is compiled once per expression and each slice's bounds are filled in; it must be
    exactly Ibis's own SQL for those bounds, quotes and open bounds included."""
    backend = connect(FeaturesConfig())
    bounds = RangeParameters.create()
    customers = ibis.memtable({"customer_id": ["a", "o'b", "z"]})
    expression = bounds.slice({"customers": customers})["customers"].order_by("customer_id")
    backend._run_pre_execute_hooks(expression)
    pieces = (CustomerRange(None, "o'b"), CustomerRange("o'b", None), CustomerRange("a", "z"))
    expected = [backend.compile(expression, params=bounds.values(piece)) for piece in pieces]
    compiles: list[object] = []
    compile_sql = backend.compile

    def counted(*args: object, **kwargs: object) -> str:
        compiles.append(args)
        return compile_sql(*args, **kwargs)

    monkeypatch.setattr(backend, "compile", counted)
    compiled = _CompiledSql()

    for piece, sql in zip(pieces, expected, strict=True):
        filled = compiled.sql(backend, Slice(expression, bounds.values(piece)))
        assert filled == sql
        rows = [row[0] for row in backend.con.sql(filled).fetchall()]
        assert rows == [c for c in ("a", "o'b", "z") if _in(c, piece)]
    assert len(compiles) == 1


def _in(customer_id: str, piece: CustomerRange) -> bool:
    return (piece.lower is None or customer_id >= piece.lower) and (
        piece.upper is None or customer_id < piece.upper
    )
