"""One line of an error for a log or error message; tracebacks that keep secrets out."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from core.logging import configure_logging, first_line, get_logger, logging_settings


def test_first_line_keeps_the_gist_and_names_a_silent_error() -> None:
    stack = ValueError("max_depth: invalid value 'deep'\n\nStack trace:\n  [bt] (0) libxgboost.so")

    assert first_line(stack) == "max_depth: invalid value 'deep'"
    assert first_line(KeyError()) == "KeyError"  # an empty message: its type, not an IndexError
    assert first_line(OSError("\n  disk full\n")) == "disk full"


@pytest.fixture
def restored_logging() -> Iterator[None]:
    before = logging_settings()
    yield
    configure_logging(*before)


@pytest.mark.parametrize("json_logs", [False, True])
def test_a_logged_traceback_names_the_failure_but_not_the_frames_local_values(
    json_logs: bool, capsys: pytest.CaptureFixture[str], restored_logging: None
) -> None:
    """structlog's default console traceback (rich) printed every frame's locals: one 500 put
    the service's API keys and the request's headers into the log. The JSON form dropped the
    traceback altogether."""
    configure_logging("ERROR", json_logs=json_logs)

    def check(api_key: str) -> None:
        raise RuntimeError(f"refused {len(api_key)} characters")

    try:
        check("-".join(["crm", "secret", "key", "123"]))  # the traceback quotes this line
    except RuntimeError:
        get_logger("test").error("unhandled error", exc_info=True)

    logged = capsys.readouterr().err
    text = json.loads(logged)["exception"] if json_logs else logged
    assert "RuntimeError: refused 18 characters" in text
    assert 'raise RuntimeError(f"refused' in text or "in check" in text
    assert "crm-secret-key-123" not in logged
    assert logging_settings() == ("ERROR", json_logs)
