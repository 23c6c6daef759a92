"""The policy against the synthetic world's truth: true expected net gain under the same budget.

The truth gives, per customer at the snapshot cutoff, the true churn probability without an
offer and with each offer; the true uplift is their difference. Every strategy spends the same
budget within the same capacities and rules, and is credited ``true uplift × value - cost``
with the same ``value`` (the truth knows churn, not margin), so the comparison isolates *who
gets which offer*:

* ``policy``: the allocation of the fitted policy (predicted gains);
* ``risk_cheapest``: the riskiest customers by churn probability, each given the cheapest offer
  they may receive, until budget or capacity runs out;
* ``random``: customers in a seeded random order, each given a random allowed offer;
* ``oracle``: the same integer programme as the policy, on the true gains;
* ``feature_ceiling``: the same integer programme on the true uplift *as far as the features
  can tell it*: an XGBoost regression of the true uplift on the snapshot's features, predicted
  out of fold (k-fold cross-fitting, so no customer is scored by a model that saw their own true
  uplift). It is a yardstick, not a policy (it is trained on the truth): the gap between it and
  the oracle is what no learner on these features could close, because the world draws part
  of each offer's effect from traits the CRM never records (price sensitivity, "sleeping dog"
  reactance).

A customer of the snapshot who had already churned (not in the truth) gains nothing from an
offer: their true uplift is 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold
from xgboost import XGBRegressor

from core.config import OffersConfig
from offers.allocation import NO_OFFER, allocate, check_allocation

if TYPE_CHECKING:
    from offers.policy import GainTable


def true_net_gain(
    choice: np.ndarray, true_uplift: np.ndarray, value: np.ndarray, costs: Sequence[float]
) -> dict[str, float]:
    """Total true net gain, cost, sends and expected customers saved of an allocation."""
    sent = choice != NO_OFFER
    rows = np.flatnonzero(sent)
    costs_array = np.asarray(costs, dtype=float)
    saved = true_uplift[rows, choice[rows]]
    cost = float(costs_array[choice[rows]].sum())
    return {
        "net_gain": float((saved * value[rows]).sum() - cost),
        "cost": cost,
        "sends": int(sent.sum()),
        "customers_saved": float(saved.sum()),
    }


def greedy_by_order(
    order: np.ndarray,
    offer_for_row: np.ndarray,
    costs: Sequence[float],
    capacities: Sequence[int | None],
    budget: float,
) -> np.ndarray:
    """Walk customers in ``order``, sending ``offer_for_row`` while budget and capacity allow."""
    costs_array = np.asarray(costs, dtype=float)
    left = [np.inf if c is None else float(c) for c in capacities]
    choice = np.full(len(offer_for_row), NO_OFFER, dtype=int)
    spent = 0.0
    for row in order:
        offer = offer_for_row[row]
        if offer == NO_OFFER or left[offer] < 1 or spent + costs_array[offer] > budget + 1e-9:
            continue
        choice[row] = offer
        left[offer] -= 1
        spent += costs_array[offer]
    check_allocation(choice, costs_array, capacities, budget)
    return choice


def risk_cheapest(
    churn_probability: np.ndarray,
    allowed: np.ndarray,
    costs: Sequence[float],
    capacities: Sequence[int | None],
    budget: float,
) -> np.ndarray:
    """The riskiest customers first, each with the cheapest offer they may receive."""
    costs_array = np.asarray(costs, dtype=float)
    priced = np.where(allowed, costs_array[None, :], np.inf)
    cheapest = np.where(allowed.any(axis=1), priced.argmin(axis=1), NO_OFFER)
    order = np.argsort(-np.asarray(churn_probability), kind="stable")
    return greedy_by_order(order, cheapest, costs, capacities, budget)


def random_targeting(
    allowed: np.ndarray,
    costs: Sequence[float],
    capacities: Sequence[int | None],
    budget: float,
    seed: int,
) -> np.ndarray:
    """Customers in random order, each with a random offer they may receive."""
    rng = np.random.default_rng(seed)
    keys = np.where(allowed, rng.random(allowed.shape), -1.0)
    offer = np.where(allowed.any(axis=1), keys.argmax(axis=1), NO_OFFER)
    return greedy_by_order(rng.permutation(len(offer)), offer, costs, capacities, budget)


def oracle(
    true_uplift: np.ndarray,
    value: np.ndarray,
    allowed: np.ndarray,
    costs: Sequence[float],
    capacities: Sequence[int | None],
    budget: float,
    time_limit_s: float = 60.0,
) -> np.ndarray:
    """The allocation that knows the true uplift (same value, costs, rules and budget)."""
    gain = true_uplift * value[:, None] - np.asarray(costs, dtype=float)[None, :]
    return allocate(gain, allowed, costs, capacities, budget, time_limit_s)


def feature_ceiling(
    design: np.ndarray,
    true_uplift: np.ndarray,
    value: np.ndarray,
    allowed: np.ndarray,
    costs: Sequence[float],
    capacities: Sequence[int | None],
    budget: float,
    xgboost_params: Mapping[str, Any],
    seed: int,
    folds: int = 5,
    time_limit_s: float = 60.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The allocation on the true uplift predicted out of fold from the features ``design``
    (rows × model inputs), and that prediction (rows × offers)."""
    predicted = np.zeros_like(true_uplift, dtype=float)
    splits = list(KFold(folds, shuffle=True, random_state=seed).split(design))
    settings = {"n_jobs": 1, "random_state": seed, "tree_method": "hist"} | dict(xgboost_params)
    for k in range(true_uplift.shape[1]):
        for fit_rows, predict_rows in splits:
            model = XGBRegressor(objective="reg:squarederror", **settings)
            model.fit(design[fit_rows], true_uplift[fit_rows, k])
            predicted[predict_rows, k] = model.predict(design[predict_rows])
    # the oracle's integer programme, on what the features tell of the true uplift
    return oracle(predicted, value, allowed, costs, capacities, budget, time_limit_s), predicted


def compare_with_truth(
    truth: pd.DataFrame,
    design: np.ndarray,
    churn_probability: np.ndarray,
    table: GainTable,
    choice: np.ndarray,
    config: OffersConfig,
    seed: int,
) -> dict[str, Any]:
    """The true net gain of the policy's ``choice`` and of each reference strategy, and the
    shares the issue's targets are stated in.

    ``truth``: one row per snapshot customer, in the snapshot's order, with the truth's
    ``p_churn_no_offer`` and ``p_churn_<offer>`` per catalogue offer (null for a customer the
    world has already lost); ``design``: the snapshot's model inputs for the feature ceiling.
    """
    catalog = [offer.id for offer in config.catalog]
    p0 = truth["p_churn_no_offer"].to_numpy(dtype=float)
    true_uplift = np.column_stack(
        [p0 - truth[f"p_churn_{offer}"].to_numpy(dtype=float) for offer in catalog]
    )
    true_uplift = np.nan_to_num(true_uplift, nan=0.0)  # churned already: nothing to save
    costs = [offer.unit_cost for offer in config.catalog]
    capacities = [offer.capacity for offer in config.catalog]
    allocations = {
        "policy": choice,
        "risk_cheapest": risk_cheapest(
            churn_probability, table.allowed, costs, capacities, config.budget
        ),
        "random": random_targeting(table.allowed, costs, capacities, config.budget, seed),
        "oracle": oracle(
            true_uplift,
            table.value,
            table.allowed,
            costs,
            capacities,
            config.budget,
            config.solver_time_limit_s,
        ),
    }
    allocations["feature_ceiling"], _ = feature_ceiling(
        design,
        true_uplift,
        table.value,
        table.allowed,
        costs,
        capacities,
        config.budget,
        config.xgboost,
        seed,
        time_limit_s=config.solver_time_limit_s,
    )
    results = {
        name: true_net_gain(picked, true_uplift, table.value, costs)
        for name, picked in allocations.items()
    }
    policy_gain = results["policy"]["net_gain"]
    oracle_gain = results["oracle"]["net_gain"]
    ceiling_gain = results["feature_ceiling"]["net_gain"]
    return {
        "strategies": results,
        "policy_share_of_oracle": policy_gain / oracle_gain if oracle_gain > 0 else None,
        "feature_ceiling_share_of_oracle": ceiling_gain / oracle_gain if oracle_gain > 0 else None,
        "policy_share_of_feature_ceiling": policy_gain / ceiling_gain if ceiling_gain > 0 else None,
        "truth_rows_matched": float(truth["p_churn_no_offer"].notna().mean()),
        "uplift_rank_correlation": _uplift_correlation(table.uplift, true_uplift, catalog),
    }


def _uplift_correlation(
    predicted: np.ndarray, true_uplift: np.ndarray, catalog: list[str]
) -> dict[str, float]:
    """Spearman correlation of predicted and true uplift per offer on the snapshot."""
    return {
        offer: float(
            pd.Series(predicted[:, k]).corr(pd.Series(true_uplift[:, k]), method="spearman")
        )
        for k, offer in enumerate(catalog)
    }
