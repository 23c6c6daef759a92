"""Pin NumPy's and OpenBLAS's code paths, so the same params and data give the same bytes on any
x86-64 machine with AVX2, not only on the one that wrote ``dvc.lock``.

Both libraries choose their kernels when they load, by the CPU they find:

* NumPy computes ``exp``, ``log``, ``log1p``, ``expm1`` and ``power`` on float64 with AVX-512
  kernels where the CPU has them, and those differ from the AVX2 kernels in the last bits;
* OpenBLAS (bundled with NumPy and, separately, with SciPy) picks a kernel per CPU family
  (``SkylakeX`` on AVX-512 Xeons, ``Haswell`` on AVX2 machines), and splits products over as many
  threads as there are cores; both change the order of additions, and so the last bits of
  matrix products, ``dot`` and ``solve``.

Measured with NumPy 2.4.6: an Intel Xeon with AVX-512 and a 2-core AMD EPYC without it gave
different results for all of those; with :func:`pin_numerics`' settings every one matched to the
bit, and so did all 55 columns of the default synthetic world (12 of them, true churn
probabilities and times among them, differed unpinned). In the pipeline those last bits changed
the simulated truth, the logistic candidate's metrics and the offers figures (``evaluation/``),
so a fresh clone's ``dvc repro`` on another machine rewrote ``dvc.lock``.

The settings are read once, when each library loads, so they must be in the environment before
anything imports NumPy: the ``churn`` command pins them first (``pipeline.launch``). Process
workers (``churn generate``'s pool, ``churn serve --workers``) inherit them.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from collections.abc import MutableMapping
from pathlib import Path

NUMPY_DISABLED_FEATURES = "X86_V4 AVX512_ICL AVX512_SPR"
"""NumPy's dispatch targets above AVX2 (NumPy >= 2.4 names; the pinned version is in
``constraints.txt``): with them off, every AVX2 machine runs the same kernels."""

BLAS_CORE_TYPE = "Haswell"
"""The OpenBLAS kernel family every x86-64 CPU with AVX2 and FMA can run (Intel since 2013, AMD
since 2015)."""

BLAS_THREADS = "1"
"""One thread: products add in the same order whatever the number of cores. The stages' heavy
work runs in XGBoost, DuckDB and scikit-learn's own threads, which these settings do not touch."""


def pinned_environment(
    machine: str | None = None, cpu_flags: frozenset[str] | None = None
) -> dict[str, str]:
    """The variables :func:`pin_numerics` sets on this machine (or on ``machine`` with
    ``cpu_flags``, for tests).

    The OpenBLAS kernel is pinned only where the CPU can run it: forcing ``Haswell`` on a CPU
    without AVX2 would stop the process with an illegal instruction. Other CPUs (Arm, older x86)
    keep their own kernel, so their results match each other's only per CPU family.
    """
    machine = (machine or platform.machine()).lower()
    flags = _cpu_flags() if cpu_flags is None else cpu_flags
    pinned = {
        "NPY_DISABLE_CPU_FEATURES": NUMPY_DISABLED_FEATURES,
        "OPENBLAS_NUM_THREADS": BLAS_THREADS,
    }
    if machine in ("x86_64", "amd64") and {"avx2", "fma"} <= flags:
        pinned["OPENBLAS_CORETYPE"] = BLAS_CORE_TYPE
    return pinned


def pin_numerics(environ: MutableMapping[str, str] | None = None) -> None:
    """Set :func:`pinned_environment` in ``environ`` (``os.environ`` by default), over any values
    already there: a shell's ``OPENBLAS_NUM_THREADS=8`` would change the results too.

    Warns when NumPy or SciPy is already loaded: their kernels are chosen, and the settings only
    reach processes started from here on.
    """
    target = os.environ if environ is None else environ
    target.update(pinned_environment())
    loaded = [name for name in ("numpy", "scipy") if name in sys.modules]
    if loaded:
        warnings.warn(
            f"{' and '.join(loaded)} already loaded: their kernels stay as this machine chose "
            "them; call core.numerics.pin_numerics() before importing NumPy",
            RuntimeWarning,
            stacklevel=2,
        )


def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none: not Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()
