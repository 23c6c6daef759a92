"""Structured logging, quiet by default.

Every module logs through ``get_logger`` as key=value events; the CLI decides once how loud and
in which form (plain key=value lines, or JSON for log shippers) they come out.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_settings: tuple[str, bool] = ("WARNING", False)


def configure_logging(level: str = "WARNING", json_logs: bool = False) -> None:
    """Route structlog events to stderr at ``level`` (DEBUG, INFO, WARNING, ERROR).

    Tracebacks are plain, without local variables: structlog's default (rich, with locals)
    printed whatever the failing frames held, such as the service's API keys and the request's
    headers, into the log.
    """
    global _settings
    numeric_level = logging.getLevelNamesMapping().get(level.upper())
    if numeric_level is None:
        raise ValueError(f"unknown log level {level!r}; expected DEBUG, INFO, WARNING or ERROR")
    renderer: list[Any] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        if json_logs
        else [
            structlog.dev.ConsoleRenderer(
                colors=False, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback
            )
        ]
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),
        cache_logger_on_first_use=False,
    )
    _settings = (level, json_logs)


def logging_settings() -> tuple[str, bool]:
    """The level and JSON choice of the last :func:`configure_logging`, for a spawned process
    (a service worker) to log the way its parent was told to."""
    return _settings


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing, not at configuration.

    Test runners and DVC swap ``sys.stderr``; a logger bound to the old stream would write to a
    closed file.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)


configure_logging()


def first_line(error: BaseException) -> str:
    """The gist of an error for one log or error line: its message's first line (XGBoost, Spark
    and DuckDB append stack traces or plans), or its type when the message is empty."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
