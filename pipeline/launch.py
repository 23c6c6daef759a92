"""The ``churn`` command's entry point: pins the numeric kernels before anything loads NumPy.

:mod:`core.numerics` explains why; its settings are read when NumPy and SciPy load, and importing
:mod:`pipeline.cli` loads both, so the pin must come first.
"""

from __future__ import annotations

from core.numerics import pin_numerics


def main() -> None:
    pin_numerics()
    from pipeline.cli import app

    app()
