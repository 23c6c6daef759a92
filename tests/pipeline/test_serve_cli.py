"""``churn serve`` refuses to start an open service and anchors key files at the params folder."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


def test_serve_without_any_key_exits_2_naming_where_keys_come_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHURN_API_KEYS", raising=False)
    params = tmp_path / "params.yaml"
    params.write_text("serve:\n  port: 8001\n")
    missing_file = tmp_path / "with_file.yaml"
    missing_file.write_text("serve:\n  api_key_file: keys.txt\n")

    no_key = runner.invoke(app, ["serve", "--params", str(params)])
    no_file = runner.invoke(app, ["serve", "--params", str(missing_file)])

    assert no_key.exit_code == no_file.exit_code == 2
    assert "no API key configured: set environment variable CHURN_API_KEYS" in no_key.output
    assert f"{tmp_path / 'keys.txt'}: No such file" in no_file.output  # anchored at params


def test_flags_are_checked_like_the_params_serve_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURN_API_KEYS", "test-key")
    params = tmp_path / "params.yaml"
    params.write_text("serve:\n  port: 8001\n")

    port = runner.invoke(app, ["serve", "--params", str(params), "--port", "99999"])
    workers = runner.invoke(app, ["serve", "--params", str(params), "--workers", "0"])

    assert port.exit_code == workers.exit_code == 2
    assert "port: Input should be less than or equal to 65535 (got 99999)" in port.output
    assert "workers: Input should be greater than or equal to 1 (got 0)" in workers.output


def test_flags_override_params_and_reach_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from serving.settings import config_from_environment

    (tmp_path / "keys.txt").write_text("# CRM\nsecret-one\n")
    params = tmp_path / "params.yaml"
    params.write_text("serve:\n  api_key_file: keys.txt\n  port: 9000\n")
    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda **kwargs: calls.append(kwargs))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    result = runner.invoke(app, ["serve", "--params", str(params), "--port", "9100"])

    assert result.exit_code == 0, result.output
    assert (calls[0]["host"], calls[0]["port"], calls[0]["workers"]) == ("127.0.0.1", 9100, 1)
    assert calls[0]["factory"] is True
    assert calls[0]["app"] == "serving.app:app_from_environment"
    served = config_from_environment().serve
    assert (served.port, served.api_key_file) == (9100, tmp_path / "keys.txt")
    assert "secret-one" not in result.output


def test_several_workers_get_a_socket_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import serving.workers

    free = _free_port()
    params = tmp_path / "params.yaml"
    params.write_text(f"serve:\n  port: {free}\n")
    monkeypatch.setenv("CHURN_API_KEYS", "secret")
    # empty counts as unset for `churn serve`, and monkeypatch removes what it sets afterwards:
    # a leaked multiprocess metrics dir would empty /metrics in later in-process tests
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    calls: list[tuple] = []
    metrics_dirs: list[Path] = []

    def run_workers(*args: object) -> int:
        calls.append(args)
        metrics_dirs.append(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
        assert metrics_dirs[0].is_dir()  # metrics shared across the workers
        return 0

    monkeypatch.setattr(serving.workers, "run_workers", run_workers)

    result = runner.invoke(app, ["serve", "--params", str(params), "--workers", "2"])

    assert result.exit_code == 0, result.output
    workers, host, port, options = calls[0]
    assert (workers, host, port) == (2, "127.0.0.1", free)
    assert options["app"] == "serving.app:app_from_environment" and options["factory"] is True
    assert not metrics_dirs[0].exists()  # made for this run, removed after it (73 had piled up)


def test_several_workers_refuse_a_port_another_service_listens_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Their SO_REUSEPORT sockets would bind beside another service's (say a second ``churn
    serve``) and the kernel would split the connections between the two without a word."""
    from serving.workers import reuse_port_socket

    port = _free_port()
    params = tmp_path / "params.yaml"
    params.write_text(f"serve:\n  port: {port}\n")
    monkeypatch.setenv("CHURN_API_KEYS", "secret")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    other = reuse_port_socket("127.0.0.1", port)  # what a running `churn serve` holds
    try:
        result = runner.invoke(app, ["serve", "--params", str(params), "--workers", "2"])
    finally:
        other.close()

    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
