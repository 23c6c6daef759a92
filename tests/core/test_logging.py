"""One line of an error for a log or error message."""

from __future__ import annotations

from core.logging import first_line


def test_first_line_keeps_the_gist_and_names_a_silent_error() -> None:
    stack = ValueError("max_depth: invalid value 'deep'\n\nStack trace:\n  [bt] (0) libxgboost.so")

    assert first_line(stack) == "max_depth: invalid value 'deep'"
    assert first_line(KeyError()) == "KeyError"  # an empty message: its type, not an IndexError
    assert first_line(OSError("\n  disk full\n")) == "disk full"
