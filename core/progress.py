"""Progress for long stages: a bar on a terminal, plain lines elsewhere (CI, DVC logs)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")


def track(items: Iterable[T], total: int, description: str) -> Iterator[T]:
    """Yield ``items`` while reporting progress toward ``total`` steps."""
    if sys.stderr.isatty():
        yield from _track_with_bar(items, total, description)
    else:
        yield from _track_with_log_lines(items, total, description)


def _track_with_bar(items: Iterable[T], total: int, description: str) -> Iterator[T]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


def _track_with_log_lines(items: Iterable[T], total: int, description: str) -> Iterator[T]:
    """Print at most about ten plain lines per loop to stderr, so CI and DVC logs stay readable."""
    step = max(1, total // 10)
    started = time.perf_counter()
    for done, item in enumerate(items, start=1):
        yield item
        if done % step == 0 or done == total:
            elapsed = time.perf_counter() - started
            print(
                f"{description}: {done}/{total} ({100 * done // max(total, 1)}%) {elapsed:.1f}s",
                file=sys.stderr,
                flush=True,
            )
