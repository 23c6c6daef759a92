"""The ``churn`` command pins NumPy's and OpenBLAS's kernels whatever the environment says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.numerics import BLAS_CORE_TYPE, pin_numerics, pinned_environment

PROJECT = Path(__file__).resolve().parents[2]

# Runs `churn --help` through the console script's entry point, then reports what the loaded
# OpenBLAS libraries run with and a hash of results that depend on the kernel and thread count.
LAUNCH_AND_REPORT = """
import hashlib, json, sys
sys.argv = ["churn", "--help"]
from pipeline.launch import main
try:
    main()
except SystemExit:
    pass
import numpy as np
import threadpoolctl
rng = np.random.default_rng(7)
X = rng.standard_normal((4000, 60))
w = rng.standard_normal(60)
results = [X.T @ X, X @ w, np.linalg.solve(X.T @ X + np.eye(60), X.T @ (X @ w))]
digest = hashlib.sha256(b"".join(r.tobytes() for r in results)).hexdigest()
blas = [
    [info["architecture"], info["num_threads"]]
    for info in threadpoolctl.threadpool_info()
    if info["internal_api"] == "openblas"
]
print("REPORT" + json.dumps({"blas": blas, "digest": digest}))
"""


def _launch(extra_env: dict[str, str]) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "NPY_"))}
    env |= extra_env
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH_AND_REPORT],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("REPORT"))
    return json.loads(line.removeprefix("REPORT"))


def test_the_openblas_kernel_is_pinned_only_where_the_cpu_runs_it() -> None:
    avx2 = frozenset({"avx2", "fma", "sse4_2"})
    assert pinned_environment("x86_64", avx2)["OPENBLAS_CORETYPE"] == BLAS_CORE_TYPE
    assert "OPENBLAS_CORETYPE" not in pinned_environment("x86_64", frozenset({"sse4_2"}))
    assert "OPENBLAS_CORETYPE" not in pinned_environment("aarch64", avx2)
    for machine in ("x86_64", "aarch64"):
        pinned = pinned_environment(machine, avx2)
        assert pinned["OPENBLAS_NUM_THREADS"] == "1"
        assert "X86_V4" in pinned["NPY_DISABLE_CPU_FEATURES"].split()


def test_churn_runs_the_same_kernels_whatever_the_environment_asks_for() -> None:
    """Another machine is played by the environment: a different OpenBLAS kernel family and
    thread count, as an older CPU or more cores would choose. ``churn`` overrides both, so the
    products come out bit for bit the same."""
    pinned = pinned_environment()
    if "OPENBLAS_CORETYPE" not in pinned:
        pytest.skip("this CPU cannot run the pinned OpenBLAS kernel (no AVX2/FMA)")
    plain = _launch({})
    other_machine = _launch({"OPENBLAS_CORETYPE": "Sandybridge", "OPENBLAS_NUM_THREADS": "3"})
    assert plain["blas"], "no OpenBLAS library was loaded"
    assert all(entry == [BLAS_CORE_TYPE, 1] for entry in plain["blas"] + other_machine["blas"])
    assert plain["digest"] == other_machine["digest"]


def test_pinning_after_numpy_loaded_warns_and_still_sets_the_environment() -> None:
    import numpy  # noqa: F401  (loaded: its kernels are chosen)

    environ: dict[str, str] = {"OPENBLAS_NUM_THREADS": "8"}
    with pytest.warns(RuntimeWarning, match="numpy"):
        pin_numerics(environ)
    assert environ == pinned_environment()
