"""Each learner on a toy campaign whose effects are known (tests/offers/frames.toy_campaign)."""

from __future__ import annotations

import numpy as np
import pytest

from offers.uplift import make_learner
from tests.offers.frames import TOY_COLUMNS, toy_campaign

OFFERS = ["cheap", "members", "de_only"]


@pytest.fixture(scope="module")
def campaign() -> tuple:
    return toy_campaign(16_000, seed=11)


@pytest.mark.parametrize("kind", ["t_learner", "x_learner", "hazard_ratio"])
def test_learners_recover_known_effects(kind: str, campaign: tuple) -> None:
    rows, p0, _ = campaign
    model = make_learner(
        kind, OFFERS, TOY_COLUMNS, {"n_estimators": 80, "max_depth": 2, "learning_rate": 0.1}, 0
    )
    model.fit(rows, rows["treatment_offer"], rows["churned"], p0)
    test_rows, test_p0, test_uplift = toy_campaign(4_000, seed=12)

    predicted = model.predict(test_rows, test_p0)

    positive = test_rows["x1"].to_numpy() > 0
    for group in (positive, ~positive):  # the heterogeneous offer, on both sides of x1 = 0
        assert predicted[group, 0].mean() == pytest.approx(test_uplift[group, 0].mean(), abs=0.04)
    assert predicted[:, 1].mean() == pytest.approx(test_uplift[:, 1].mean(), abs=0.04)  # < 0
    assert predicted[:, 2].mean() == pytest.approx(0.0, abs=0.04)
    # ranks customers by their true effect of the heterogeneous offer
    assert np.corrcoef(predicted[:, 0], test_uplift[:, 0])[0, 1] > 0.6
