"""Qini curves and the area under the uplift curve, for ranking customers by predicted uplift.

Held-out campaign rows are sorted by a score (predicted uplift, or churn risk for the baseline).
At each targeted share the Qini curve is the extra customers retained among the targeted
treated rows over what the targeted control rows, scaled to the same size, retained:
``Q(n) = R_T(n) - R_C(n) * N_T(n) / N_C(n)``, divided by the number of rows so campaigns of
different sizes compare. A random ranking gives the straight line to ``Q(all)``; the Qini
coefficient is the area between the curve and that line (higher is better, 0 = random), and
AUUC the area under the curve itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class QiniResult:
    """Curve points (``share`` targeted, ``qini`` incremental retained / rows) and the areas."""

    curve: pd.DataFrame
    auuc: float
    qini_coefficient: float


def qini_curve(
    score: np.ndarray, treated: np.ndarray, retained: np.ndarray, points: int = 101
) -> QiniResult:
    """Qini curve of ranking by ``score`` (descending); ties are broken by row order."""
    score = np.asarray(score, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    retained = np.asarray(retained, dtype=float)
    if not len(score) == len(treated) == len(retained):
        raise ValueError("score, treated and retained must have the same length")
    if treated.all() or not treated.any():
        raise ValueError(
            f"qini needs treated and control rows, got {int(treated.sum())} treated "
            f"of {len(treated)}"
        )
    order = np.argsort(-score, kind="stable")
    t_sorted = treated[order]
    y_sorted = retained[order]
    n_treated = np.cumsum(t_sorted)
    n_control = np.cumsum(~t_sorted)
    r_treated = np.cumsum(y_sorted * t_sorted)
    r_control = np.cumsum(y_sorted * ~t_sorted)
    scale = np.divide(n_treated, n_control, out=np.zeros(len(score)), where=n_control > 0)
    qini = np.concatenate([[0.0], (r_treated - r_control * scale) / len(score)])
    share = np.arange(len(score) + 1) / len(score)
    auuc = float(np.trapezoid(qini, share))
    random_area = qini[-1] / 2.0
    grid = np.linspace(0.0, 1.0, points)
    curve = pd.DataFrame({"share": grid, "qini": np.interp(grid, share, qini)})
    return QiniResult(curve=curve, auuc=auuc, qini_coefficient=auuc - random_area)
