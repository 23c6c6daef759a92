"""Peak memory of a benchmark: the summed resident set size of this process and its children.

Shared by the scripts in ``benchmarks/`` (run as ``python benchmarks/<script>.py``, which puts this
folder on ``sys.path``). Shared pages are counted once per process, so the figure errs high.
"""

from __future__ import annotations

import threading

import psutil


class PeakTreeMemory:
    """Poll the summed RSS of this process and its descendants in a background thread.

    Listing descendants scans every process on the machine, so it is refreshed only every
    ``refresh_every`` polls; reading one process's RSS is cheap and done every poll.
    """

    def __init__(self, interval_s: float = 0.05, refresh_every: int = 10) -> None:
        self._interval_s = interval_s
        self._refresh_every = refresh_every
        self._root = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.peak_bytes = 0

    def __enter__(self) -> PeakTreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        processes = [self._root]
        polls = 0
        while not self._stop.is_set():
            if polls % self._refresh_every == 0:
                processes = [self._root, *self._root.children(recursive=True)]
            self.peak_bytes = max(self.peak_bytes, _summed_rss(processes))
            polls += 1
            self._stop.wait(self._interval_s)


def _summed_rss(processes: list[psutil.Process]) -> int:
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total
