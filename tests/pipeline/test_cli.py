from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command", ["generate", "validate"])
def test_every_stage_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])

    assert result.exit_code == 0
    assert "--params" in result.output


def test_bad_params_exit_2_naming_the_key(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("generate:\n  n_customers: -5\n")

    result = runner.invoke(app, ["generate", "--params", str(params)])

    assert result.exit_code == 2
    assert "generate.n_customers: Input should be greater than 0" in result.output


def test_unknown_log_level_is_rejected() -> None:
    result = runner.invoke(app, ["--log-level", "LOUD", "validate", "--help"])

    assert result.exit_code != 0
