"""Several uvicorn workers, each on its own listening socket (``SO_REUSEPORT``).

uvicorn's own supervisor hands every worker one shared listening socket. When a client opens its
connections in a burst (a CRM's connection pool at start-up, a load test), the first worker to
wake up accepts all of them, and keep-alive pins them there: measured with 2 workers and 16
connections opened at once, all 16 went to one worker, which then did all the work while the
other idled. With one socket per worker bound with ``SO_REUSEPORT``, the kernel spreads new
connections over the workers by hashing each connection, whatever the workers are doing.

The supervisor is deliberately small: start the workers, restart one that dies (unless it died
before serving, which would repeat), and stop them all on SIGINT/SIGTERM.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

from core.logging import configure_logging, get_logger, logging_settings

_log = get_logger(__name__)

STARTUP_FAILURE = 3
"""Exit code of a worker that could not start serving (uvicorn's convention)."""

BACKLOG = 2048


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket that other processes may bind to the same address too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    listener.listen(BACKLOG)
    return listener


def require_free_port(host: str, port: int) -> None:
    """Raise ``OSError`` when something already listens on ``host:port``.

    The workers' ``SO_REUSEPORT`` sockets would otherwise bind next to another service's (a
    second ``churn serve``, an older version still running) and the kernel would split the
    connections between the two without a word. A plain socket cannot bind there.
    """
    if port == 0:
        raise OSError("port 0 would give every worker a port of its own; name one port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed one may linger
        probe.bind((host, port))


def _forget(pid: int | None) -> None:
    """Drop a dead worker's live gauges (the served model version) from the shared metrics."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder and pid is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, folder)


def serve_worker(
    host: str, port: int, uvicorn_options: dict[str, Any], log_settings: tuple[str, bool]
) -> None:
    """One worker process: its own socket, one uvicorn server on it, logging as the parent was
    told to (a spawned process starts with the defaults)."""
    import uvicorn

    configure_logging(*log_settings)

    try:
        listener = reuse_port_socket(host, port)
    except OSError as error:
        _log.error("worker cannot listen", host=host, port=port, error=str(error))
        raise SystemExit(STARTUP_FAILURE) from None
    server = uvicorn.Server(uvicorn.Config(host=host, port=port, **uvicorn_options))
    server.run(sockets=[listener])
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


def run_workers(
    workers: int,
    host: str,
    port: int,
    uvicorn_options: dict[str, Any],
    poll_seconds: float = 0.5,
) -> int:
    """Start ``workers`` processes of :func:`serve_worker` and keep them running until a signal.

    Returns 0 after a signal, :data:`STARTUP_FAILURE` when a worker could not start serving (a
    model that does not load would fail the same way on every restart)."""
    context = multiprocessing.get_context("spawn")

    def start() -> BaseProcess:
        process = context.Process(
            target=serve_worker, args=(host, port, uvicorn_options, logging_settings())
        )
        process.start()
        return process

    stopping = False
    status = 0

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous: dict[int, Callable[..., Any] | int | None] = {
        signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    processes = [start() for _ in range(workers)]
    try:
        while not stopping:
            time.sleep(poll_seconds)
            for index, process in enumerate(processes):
                if process.is_alive() or stopping:
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    _log.error("a worker failed to start; stopping", pid=process.pid)
                    stopping, status = True, STARTUP_FAILURE
                    break
                _log.warning("a worker died; starting another", pid=process.pid)
                _forget(process.pid)
                processes[index] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=30)
            _forget(process.pid)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status
