from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.config import CatalogOffer, OffersConfig
from offers.allocation import NO_OFFER, allocate
from offers.policy import GainTable
from offers.truth import (
    compare_with_truth,
    feature_ceiling,
    oracle,
    random_targeting,
    risk_cheapest,
    true_net_gain,
)

COSTS = [1.0, 3.0]
CAPACITIES = [5, None]


def _world(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 200
    true_uplift = rng.normal(0.02, 0.05, (n, 2))
    value = rng.gamma(2.0, 50.0, n)
    allowed = rng.random((n, 2)) < 0.8
    risk = rng.random(n)
    return true_uplift, value, allowed, risk


def test_strategies_stay_within_budget_capacity_and_rules() -> None:
    true_uplift, value, allowed, risk = _world()
    for choice in (
        risk_cheapest(risk, allowed, COSTS, CAPACITIES, 30.0),
        random_targeting(allowed, COSTS, CAPACITIES, 30.0, seed=1),
        oracle(true_uplift, value, allowed, COSTS, CAPACITIES, 30.0),
    ):
        sent = choice != NO_OFFER
        assert np.asarray(COSTS)[choice[sent]].sum() <= 30.0
        assert (choice == 0).sum() <= 5
        assert allowed[np.flatnonzero(sent), choice[sent]].all()


def test_risk_strategy_gives_the_riskiest_the_cheapest_offer() -> None:
    allowed = np.array([[True, True], [False, True], [True, True]])
    choice = risk_cheapest(np.array([0.9, 0.8, 0.1]), allowed, COSTS, [None, None], 4.0)
    assert choice.tolist() == [0, 1, NO_OFFER]


def test_oracle_beats_every_other_allocation_on_true_gain() -> None:
    true_uplift, value, allowed, risk = _world(3)
    best = true_net_gain(
        oracle(true_uplift, value, allowed, COSTS, CAPACITIES, 30.0), true_uplift, value, COSTS
    )["net_gain"]
    noisy = true_uplift + np.random.default_rng(4).normal(0, 0.05, true_uplift.shape)
    gain = noisy * value[:, None] - np.asarray(COSTS)[None, :]
    for choice in (
        allocate(gain, allowed, COSTS, CAPACITIES, 30.0),
        risk_cheapest(risk, allowed, COSTS, CAPACITIES, 30.0),
        random_targeting(allowed, COSTS, CAPACITIES, 30.0, seed=2),
    ):
        assert true_net_gain(choice, true_uplift, value, COSTS)["net_gain"] <= best + 1e-9


def _ceiling_share(hidden_weight: float) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Feature ceiling / oracle where uplift = f(observed feature) + hidden_weight * hidden."""
    rng = np.random.default_rng(7)
    n = 2000
    observed = rng.normal(size=(n, 3))
    hidden = rng.normal(size=n)
    true_uplift = np.column_stack(
        [0.05 * np.tanh(observed[:, 0]) + hidden_weight * hidden, 0.04 * observed[:, 1] ** 2]
    )
    value = np.full(n, 100.0)
    allowed = np.ones((n, 2), dtype=bool)
    params = {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1}
    choice, predicted = feature_ceiling(
        observed, true_uplift, value, allowed, COSTS, [None, None], 200.0, params, seed=0
    )
    best = oracle(true_uplift, value, allowed, COSTS, [None, None], 200.0)
    share = (
        true_net_gain(choice, true_uplift, value, COSTS)["net_gain"]
        / true_net_gain(best, true_uplift, value, COSTS)["net_gain"]
    )
    return share, predicted, true_uplift, hidden


def test_feature_ceiling_reaches_the_oracle_when_the_features_tell_everything() -> None:
    share, predicted, true_uplift, _ = _ceiling_share(hidden_weight=0.0)
    assert share > 0.9
    assert np.corrcoef(predicted[:, 0], true_uplift[:, 0])[0, 1] > 0.95


def test_feature_ceiling_falls_short_of_the_oracle_on_hidden_traits() -> None:
    share, predicted, _, hidden = _ceiling_share(hidden_weight=0.1)
    assert share < 0.6
    # predicted out of fold: the hidden part is not memorised (in-sample trees would fit it)
    assert abs(np.corrcoef(predicted[:, 0], hidden)[0, 1]) < 0.1


def test_the_comparison_credits_every_strategy_on_the_truth_and_a_lost_customer_gains_nothing() -> (
    None
):
    true_uplift, value, allowed, risk = _world(5)
    true_uplift = np.abs(true_uplift)
    config = OffersConfig(
        catalog=[
            CatalogOffer(id="cheap", unit_cost=COSTS[0], capacity=CAPACITIES[0]),
            CatalogOffer(id="dear", unit_cost=COSTS[1], capacity=CAPACITIES[1]),
        ],
        budget=30.0,
    )
    p0 = np.full(len(value), 0.5)
    truth = pd.DataFrame(
        {"p_churn_no_offer": p0, "p_churn_cheap": p0 - true_uplift[:, 0]}
        | {"p_churn_dear": p0 - true_uplift[:, 1]}
    )
    truth.iloc[:20] = np.nan  # already lost: not in the truth
    table = GainTable(true_uplift, value, true_uplift * value[:, None], allowed, pd.Series())
    everyone_cheap = np.where(allowed[:, 0], 0, NO_OFFER)
    everyone_cheap[np.cumsum(everyone_cheap == 0) > 5] = NO_OFFER

    compared = compare_with_truth(
        truth, np.column_stack([value, risk]), risk, table, everyone_cheap, config, seed=1
    )

    gains = {name: result["net_gain"] for name, result in compared["strategies"].items()}
    lost_uplift = np.where(np.arange(len(value))[:, None] < 20, 0.0, true_uplift)
    assert gains["policy"] == pytest.approx(
        true_net_gain(everyone_cheap, lost_uplift, value, COSTS)["net_gain"]
    )
    assert max(gains.values()) == pytest.approx(gains["oracle"])
    assert compared["policy_share_of_oracle"] == pytest.approx(gains["policy"] / gains["oracle"])
    assert compared["truth_rows_matched"] == pytest.approx(1 - 20 / len(value))
