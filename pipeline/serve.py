"""``churn serve``: the scoring service on uvicorn (not a DVC stage: it serves the stages' outputs).

Reads params once, applies the ``--host/--port/--workers`` flags, checks that an API key is
configured (refusing to start an open service), and hands the config to uvicorn's workers as
JSON in the environment. Several workers each listen on their own ``SO_REUSEPORT`` socket
(``serving.workers``), so the kernel spreads connections over them. Each worker loads the model
by alias in its lifespan and is ready when ``/ready`` says so. Inference runs one thread per
worker (``OMP_NUM_THREADS=1``), so workers, not threads, scale the service.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.config import Config, ServeConfig, describe_invalid
from core.logging import get_logger
from pipeline.errors import fail

_log = get_logger(__name__)


def run(
    config: Config,
    params_dir: Path,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> None:
    """Start uvicorn with ``serving.app`` and block until it stops."""
    serve = config.serve
    updates = {
        "host": host or serve.host,
        "port": serve.port if port is None else port,
        "workers": serve.workers if workers is None else workers,
        "api_key_file": _anchored(serve.api_key_file, params_dir),
        "admin_key_file": _anchored(serve.admin_key_file, params_dir),
    }
    try:  # the options are checked as the params' serve section is
        serve = type(serve).model_validate(serve.model_dump() | updates)
    except ValidationError as error:
        fail(describe_invalid(error, "churn serve options"), code=2)
    config = config.model_copy(update={"serve": serve})
    from serving.auth import KeyConfigError, load_keys
    from serving.settings import CONFIG_ENV, config_to_environment

    try:
        load_keys(serve.api_key_env, serve.api_key_file, "API")
    except KeyConfigError as error:
        fail(str(error), code=2)
    os.environ[CONFIG_ENV] = config_to_environment(config)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    metrics_dir: str | None = None
    if serve.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="churn-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        _run(serve, options=_uvicorn_options())
    finally:
        if metrics_dir is not None:  # ours alone: the workers' metric files die with them
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _uvicorn_options() -> dict[str, Any]:
    return {
        "app": "serving.app:app_from_environment",
        "factory": True,
        "log_level": "warning",
        "access_log": False,  # access lines would carry nothing useful; the key is never logged
    }


def _run(serve: ServeConfig, options: dict[str, Any]) -> None:
    import uvicorn

    _log.info(
        "starting the scoring service", host=serve.host, port=serve.port, workers=serve.workers
    )
    if serve.workers > 1 and sys.platform == "linux":
        # one SO_REUSEPORT socket per worker, so connections spread over them (serving.workers);
        # elsewhere SO_REUSEPORT does not balance (macOS) or does not exist (Windows)
        from serving.workers import require_free_port, run_workers

        try:
            require_free_port(serve.host, serve.port)
        except OSError as error:
            fail(f"cannot listen on {serve.host}:{serve.port}: {error}", code=1)
        status = run_workers(serve.workers, serve.host, serve.port, options)
        if status:
            fail("a worker could not start; see the log above", code=status)
        return
    uvicorn.run(host=serve.host, port=serve.port, workers=serve.workers, **options)


def _anchored(path: Path | None, params_dir: Path) -> Path | None:
    """A key file path relative to the params file's folder, like every other path in params."""
    if path is None or path.is_absolute():
        return path
    return params_dir / path


if __name__ == "__main__":
    from pipeline.cli import app

    app(["serve", *sys.argv[1:]])
