from __future__ import annotations

import numpy as np
import pytest

from offers.qini import qini_curve


def test_qini_by_hand() -> None:
    # rows sorted by score: T retained, C not retained, T not retained, C retained
    score = np.array([4.0, 3.0, 2.0, 1.0])
    treated = np.array([True, False, True, False])
    retained = np.array([1.0, 0.0, 0.0, 1.0])

    result = qini_curve(score, treated, retained, points=5)

    # Q(n) = R_T - R_C * N_T / N_C: n=1: 1 (no control yet: scale 0), n=2: 1, n=3: 1, n=4: 0
    expected = np.array([0.0, 1.0, 1.0, 1.0, 0.0]) / 4
    assert result.curve["qini"].to_numpy() == pytest.approx(expected)
    assert result.auuc == pytest.approx(np.trapezoid(expected, np.linspace(0, 1, 5)))
    assert result.qini_coefficient == pytest.approx(result.auuc - 0.0)


def test_true_uplift_ranks_above_random_and_reversed() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    uplift = rng.uniform(-0.2, 0.3, n)
    treated = rng.random(n) < 0.5
    retained = (rng.random(n) < 0.5 + treated * uplift).astype(float)

    best = qini_curve(uplift, treated, retained).qini_coefficient
    shuffled = qini_curve(rng.random(n), treated, retained).qini_coefficient
    worst = qini_curve(-uplift, treated, retained).qini_coefficient

    assert best > 0.01 > abs(shuffled) and worst < -0.01


def test_qini_needs_both_arms() -> None:
    with pytest.raises(ValueError, match="treated and control"):
        qini_curve(np.ones(3), np.ones(3, bool), np.ones(3))
