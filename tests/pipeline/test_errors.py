"""A stage stops with one ``error:`` line and its exit status, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from pipeline.errors import fail, require


def test_fail_prints_one_error_line_and_exits_with_the_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    try:
        raise KeyError("the cause")
    except KeyError:
        with pytest.raises(typer.Exit) as stopped:
            fail("params.yaml: no such key", code=2)
    assert stopped.value.exit_code == 2
    assert stopped.value.__suppress_context__  # the caught KeyError does not follow it
    assert capsys.readouterr().err == "error: params.yaml: no such key\n"


def test_require_names_the_stage_that_writes_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    present = tmp_path / "training.parquet"
    present.write_bytes(b"")
    assert require(present, "features") == present
    with pytest.raises(typer.Exit) as stopped:
        require(tmp_path / "snapshot.parquet", "features")
    assert stopped.value.exit_code == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'snapshot.parquet'} not found; "
        "run `churn features` (dvc repro features) first\n"
    )
