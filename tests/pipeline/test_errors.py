"""A stage stops with one ``error:`` line and its exit status, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from pipeline.errors import fail, read_json_output, require


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


@pytest.mark.parametrize(
    ("content", "said"),
    [(b'{"champion_version": 1', "not readable JSON"), (b"[1]", "holds a list, not a JSON object")],
)
def test_a_stage_output_json_that_is_cut_short_or_of_another_shape_names_the_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, said: str
) -> None:
    path = tmp_path / "registered.json"
    path.write_bytes(content)

    with pytest.raises(typer.Exit) as stopped:
        read_json_output(path, "train")

    assert stopped.value.exit_code == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {path}: {said}") and "run `churn train` again" in error
    path.write_text('{"champion_version": 1}')
    assert read_json_output(path, "train") == {"champion_version": 1}
