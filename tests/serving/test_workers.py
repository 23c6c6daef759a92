"""Several workers on their own SO_REUSEPORT sockets: a burst of connections reaches all of them,
a worker that dies is replaced, and SIGTERM stops everything."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from serving.workers import reuse_port_socket

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_two_sockets_can_listen_on_one_port() -> None:
    port = _free_port()
    first, second = reuse_port_socket("127.0.0.1", port), reuse_port_socket("127.0.0.1", port)
    try:
        assert first.getsockname()[1] == second.getsockname()[1] == port
    finally:
        first.close()
        second.close()


async def _burst_pids(port: int, connections: int) -> list[int]:
    """Open ``connections`` keep-alive connections at once; the pid answering on each."""

    async def one() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        pid = int(await reader.readexactly(length))
        writer.close()
        return pid

    return list(await asyncio.gather(*(one() for _ in range(connections))))


def _wait_serving(port: int, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            asyncio.run(_burst_pids(port, 1))
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing answered on port {port} within {deadline_s} s")


@pytest.mark.slow
def test_a_connection_burst_reaches_every_worker_and_dead_workers_are_replaced() -> None:
    port = _free_port()
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from serving.workers import run_workers; "
            f"run_workers(2, '127.0.0.1', {port}, {{'app': 'tests.serving.pid_app:app'}}, 0.1)",
        ],
        cwd=PROJECT_ROOT,
    )
    try:
        _wait_serving(port)
        time.sleep(1.0)  # the second worker may still be starting
        pids = set(asyncio.run(_burst_pids(port, 16)))
        # one shared socket gave all 16 to one worker; hashed over two, both get some
        assert len(pids) == 2

        killed = pids.pop()
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 30
        answering: set[int] = set()
        while time.monotonic() < deadline and len(answering - {killed}) < 2:
            with contextlib.suppress(OSError):
                answering = set(asyncio.run(_burst_pids(port, 16)))
            time.sleep(0.2)
        assert killed not in answering and len(answering) == 2  # a new worker took its place

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        with pytest.raises(OSError):
            asyncio.run(_burst_pids(port, 1))
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


@pytest.mark.slow
def test_a_worker_that_cannot_start_stops_the_service_with_exit_code_3() -> None:
    port = _free_port()
    supervisor = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from serving.workers import run_workers; sys.exit(run_workers(2, "
            f"'127.0.0.1', {port}, {{'app': 'tests.serving.pid_app:failing_app', "
            "'lifespan': 'on'}, 0.1))",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        timeout=60,
    )
    assert supervisor.returncode == 3


@pytest.mark.slow
def test_a_worker_logs_the_way_the_service_was_told_to() -> None:
    """``churn serve --json-logs --workers 2`` logged JSON in the supervisor only: each spawned
    worker started with the default console lines, so a log shipper got both."""
    port = _free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", port))  # a plain socket: the worker's bind fails
        taken.listen(1)
        supervisor = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from core.logging import configure_logging; "
                "configure_logging('INFO', json_logs=True); "
                "from serving.workers import run_workers; sys.exit(run_workers(1, "
                f"'127.0.0.1', {port}, {{'app': 'tests.serving.pid_app:app'}}, 0.1))",
            ],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert supervisor.returncode == 3
    lines = [line for line in supervisor.stderr.splitlines() if "worker cannot listen" in line]
    assert lines and json.loads(lines[0])["event"] == "worker cannot listen"
