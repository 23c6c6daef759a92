"""The policy checked on held-out campaigns, without the truth: what a real CRM can measure.

The truth comparison (``offers.truth``) needs the simulator; a retailer has only its offers log.
Its campaigns are randomised experiments: inside a campaign, the control hold-out and the offer
are drawn independently of the customer. So the net gain of any rule that maps a held-out
customer to an offer or to none can be estimated from them, as a stratified difference in
means: among the customers the rule would send offer ``k``, compare those the campaign did send
``k`` with those it held out,

    estimated net gain = sum over k of  n_k × (mean (retained - expected)·value | sent k
                                              - mean (retained - expected)·value | held out
                                              - cost_k)

where ``n_k`` counts the rule's sends of ``k``, ``retained`` is the churn label's complement at
the send and ``expected`` the churn model's chance of staying. Subtracting it is a regression
adjustment: it removes what the features already predict, so the arms' chance imbalance in risk
and value costs less precision (on the default world the policy's interval narrowed by a third),
and since the arms are randomised it cannot bias the difference, however poor the model.
Customers the rule sends nothing contribute 0: nothing changes for them. Intervals
are percentile bootstraps of the held-out customers (each drawn with all their rows, as a
customer in two campaigns has correlated outcomes), with the same resamples for every rule, so
the differences between rules are paired.

The same rows check the uplift model's calibration: per offer, the mean predicted uplift against
the measured one (control churn - treated churn, Newcombe interval), over all held-out rows and
over the rows the policy would send that offer. The second is where a policy's optimism shows:
picking the largest predicted gains also picks the largest overestimates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.logging import get_logger
from offers.allocation import NO_OFFER, allocate
from offers.fitting import BOOTSTRAP_ROUNDS
from offers.policy import OfferPolicy
from offers.report import newcombe_interval
from offers.rules import contact_block, eligibility_matrix
from offers.truth import random_targeting, risk_cheapest

_log = get_logger(__name__)


class HeldOutDataError(ValueError):
    """Held-out campaign rows that cannot be evaluated (lengths or offers disagree)."""


@dataclass(frozen=True)
class HeldOutRows:
    """Per held-out campaign row: the arm it got (:data:`NO_OFFER` for control, else the offer's
    index in the catalogue), whether the customer stayed, and the value of keeping them."""

    arm: np.ndarray
    retained: np.ndarray
    value: np.ndarray
    expected_retained: np.ndarray
    """The churn model's chance that the customer stays without an offer (1 - churn
    probability): subtracted from ``retained`` before arms are compared (see the module)."""

    def __post_init__(self) -> None:
        lengths = {len(self.arm), len(self.retained), len(self.value), len(self.expected_retained)}
        if len(lengths) != 1:
            raise HeldOutDataError(
                f"held-out rows: arm ({len(self.arm)}), retained ({len(self.retained)}), value "
                f"({len(self.value)}) and expected_retained ({len(self.expected_retained)}) "
                "must have the same length"
            )

    @classmethod
    def from_campaigns(
        cls,
        treatment_offer: pd.Series,
        churned: pd.Series,
        value: np.ndarray,
        churn_probability: np.ndarray,
        catalog: list[str],
    ) -> HeldOutRows:
        """From campaign rows' ``treatment_offer`` (None = control) and ``churned`` label."""
        unknown = sorted(set(treatment_offer.dropna()) - set(catalog))
        if unknown:
            raise HeldOutDataError(
                f"held-out campaigns ({len(treatment_offer)} rows) sent offer(s) {unknown} that "
                f"the catalogue {catalog} does not list"
            )
        index = {offer: k for k, offer in enumerate(catalog)}
        arm = treatment_offer.map(index).fillna(NO_OFFER).to_numpy(dtype=int)
        retained = 1.0 - churned.to_numpy(dtype=float)
        expected = 1.0 - np.asarray(churn_probability, dtype=float)
        return cls(arm, retained, np.asarray(value, dtype=float), expected)

    def take(self, index: np.ndarray) -> HeldOutRows:
        return HeldOutRows(
            self.arm[index], self.retained[index], self.value[index], self.expected_retained[index]
        )


def estimated_net_gain(
    decision: np.ndarray, rows: HeldOutRows, costs: Sequence[float]
) -> dict[str, float]:
    """The rule ``decision`` (per row an offer index or :data:`NO_OFFER`) on the held-out rows:
    estimated net gain, extra customers retained, cost and sends. NaN where an offer the rule
    sends has no treated or no control row among its picks (nothing to compare)."""
    costs_array = np.asarray(costs, dtype=float)
    surprise = rows.retained - rows.expected_retained
    worth = surprise * rows.value
    net_gain = saved = cost = 0.0
    for k in np.unique(decision[decision != NO_OFFER]):
        picked = decision == k
        treated, control = picked & (rows.arm == k), picked & (rows.arm == NO_OFFER)
        sends = int(picked.sum())
        cost += sends * costs_array[k]
        if not treated.any() or not control.any():
            net_gain = saved = float("nan")
            continue
        lift = surprise[treated].mean() - surprise[control].mean()
        net_gain += sends * (worth[treated].mean() - worth[control].mean() - costs_array[k])
        saved += sends * lift
    return {
        "net_gain": float(net_gain),
        "customers_saved": float(saved),
        "cost": float(cost),
        "sends": int((decision != NO_OFFER).sum()),
    }


def compare_rules(
    decisions: Mapping[str, np.ndarray],
    rows: HeldOutRows,
    costs: Sequence[float],
    reference: str,
    seed: int,
    rounds: int = BOOTSTRAP_ROUNDS,
    customers: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """Every rule's :func:`estimated_net_gain` with 95% bootstrap intervals of its net gain and
    customers saved, and for every other rule the interval of ``reference``'s net gain minus
    its own (paired resamples).

    ``customers`` (one id per row) makes the bootstrap resample customers with all their rows:
    a customer in several held-out campaigns has correlated outcomes, and resampling the rows
    one by one would make the intervals too narrow."""
    rng = np.random.default_rng(seed)
    resample = ClusterResampler(customers if customers is not None else np.arange(len(rows.arm)))
    boot: dict[str, dict[str, list[float]]] = {
        name: {measure: [] for measure in _BOOTSTRAPPED} for name in decisions
    }
    for _ in range(rounds):
        index = resample(rng)
        resampled = rows.take(index)
        for name, decision in decisions.items():
            estimate = estimated_net_gain(decision[index], resampled, costs)
            for measure in _BOOTSTRAPPED:
                boot[name][measure].append(estimate[measure])
    results: dict[str, dict[str, Any]] = {}
    for name, decision in decisions.items():
        results[name] = _finite(estimated_net_gain(decision, rows, costs))
        for measure in _BOOTSTRAPPED:
            results[name] |= _interval(np.asarray(boot[name][measure]), measure)
        if name != reference:
            difference = np.subtract(boot[reference]["net_gain"], boot[name]["net_gain"])
            results[name] |= _interval(difference, f"{reference}_minus_this_net_gain")
    return results


_BOOTSTRAPPED = ("net_gain", "customers_saved")


class ClusterResampler:
    """Row indices of a bootstrap resample of clusters (drawn with replacement, each bringing
    all its rows); with one cluster per row, the ordinary row bootstrap."""

    def __init__(self, clusters: np.ndarray) -> None:
        _, codes = np.unique(np.asarray(clusters), return_inverse=True)
        self._order = np.argsort(codes, kind="stable")
        self._sizes = np.bincount(codes)
        self._starts = np.concatenate([[0], np.cumsum(self._sizes)[:-1]])

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        chosen = rng.integers(0, len(self._sizes), len(self._sizes))
        sizes = self._sizes[chosen]
        ends = np.cumsum(sizes)
        # position k of the resample is row (start of its cluster + its offset inside it)
        offsets = np.arange(ends[-1]) - np.repeat(ends - sizes, sizes)
        return self._order[np.repeat(self._starts[chosen], sizes) + offsets]


def _interval(values: np.ndarray, what: str) -> dict[str, float | None]:
    """Percentile 95% interval of the finite ``values`` (None when none is finite)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {f"{what}_ci_low": None, f"{what}_ci_high": None}
    low, high = np.percentile(finite, [2.5, 97.5])
    return {f"{what}_ci_low": float(low), f"{what}_ci_high": float(high)}


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """NaN (nothing to compare) as None, which JSON metrics files can hold."""
    return {
        key: None if isinstance(value, float) and not np.isfinite(value) else value
        for key, value in values.items()
    }


def uplift_calibration(
    predicted_uplift: np.ndarray,
    rows: HeldOutRows,
    catalog: list[str],
    policy_decision: np.ndarray,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per offer, predicted against measured uplift (churn reduction) on the held-out rows:
    ``all`` rows, and the ``policy_picks`` (rows where ``policy_decision`` sends that offer)."""
    if predicted_uplift.shape != (len(rows.arm), len(catalog)):
        raise HeldOutDataError(
            f"predicted uplift has shape {predicted_uplift.shape}; expected "
            f"({len(rows.arm)}, {len(catalog)}): held-out rows × catalogue offers"
        )
    result: dict[str, dict[str, dict[str, Any]]] = {}
    everyone = np.ones(len(rows.arm), dtype=bool)
    for k, offer in enumerate(catalog):
        result[offer] = {
            scope: _measured(predicted_uplift[:, k], rows, k, among)
            for scope, among in (("all", everyone), ("policy_picks", policy_decision == k))
        }
    return result


def _measured(
    predicted: np.ndarray, rows: HeldOutRows, k: int, among: np.ndarray
) -> dict[str, Any]:
    treated, control = among & (rows.arm == k), among & (rows.arm == NO_OFFER)
    n_t, n_c = int(treated.sum()), int(control.sum())
    kept_t, kept_c = float(rows.retained[treated].sum()), float(rows.retained[control].sum())
    # uplift is a churn reduction = retention gain: p_retained(treated) - p_retained(control)
    low, high = newcombe_interval(kept_t, n_t, kept_c, n_c)
    predicted_mean = float(predicted[among].mean()) if among.any() else float("nan")
    within = bool(low <= predicted_mean <= high) if np.isfinite([low, high]).all() else None
    return _finite(
        {
            "rows": int(among.sum()),
            "treated_rows": n_t,
            "control_rows": n_c,
            "predicted_uplift": predicted_mean,
            "measured_uplift": kept_t / n_t - kept_c / n_c if n_t and n_c else float("nan"),
            "measured_ci_low": low,
            "measured_ci_high": high,
            "predicted_within_ci": within,
        }
    )


def held_out_check(
    holdout: pd.DataFrame,
    predicted_uplift: np.ndarray,
    churn_probability: np.ndarray,
    policy: OfferPolicy,
    campaign_share: float,
    seed: int,
) -> dict[str, Any]:
    """The policy, risk ranking and random targeting on the held-out campaign rows.

    ``predicted_uplift`` must come from the learner fitted *without* these campaigns (as in
    ``offers.fitting.evaluate_uplift``); the policy object supplies the value model, costs and
    rules. Each rule spends the same budget: the campaign's, scaled by ``campaign_share`` (held-out
    rows / snapshot customers), as are the offers' capacities.
    """
    config = policy.config
    catalog = policy.catalog
    costs = policy.unit_costs
    rule_inputs = policy.rule_inputs(holdout)
    table = policy.table(
        churn_probability,
        predicted_uplift,
        policy.value_model.predict(holdout),
        eligibility_matrix(rule_inputs, config.catalog, config),
        contact_block(rule_inputs, config),
    )
    budget = config.budget * campaign_share
    capacities = [
        None if offer.capacity is None else int(offer.capacity * campaign_share)
        for offer in config.catalog
    ]
    decisions = {
        "policy": allocate(
            table.gain, table.allowed, costs, capacities, budget, config.solver_time_limit_s
        ),
        "risk_cheapest": risk_cheapest(churn_probability, table.allowed, costs, capacities, budget),
        "random": random_targeting(table.allowed, costs, capacities, budget, seed),
    }
    rows = HeldOutRows.from_campaigns(
        holdout["treatment_offer"], holdout["churned"], table.value, churn_probability, catalog
    )
    strategies = compare_rules(
        decisions,
        rows,
        costs,
        reference="policy",
        seed=seed,
        customers=holdout["customer_id"].to_numpy(),
    )
    picks = decisions["policy"]
    sent = np.flatnonzero(picks != NO_OFFER)
    strategies["policy"] |= {
        "predicted_net_gain": float(table.gain[sent, picks[sent]].sum()),
        "predicted_customers_saved": float(table.uplift[sent, picks[sent]].sum()),
    }
    calibration = uplift_calibration(table.uplift, rows, catalog, picks)
    for offer, scopes in calibration.items():
        everyone = scopes["all"]
        if everyone["predicted_within_ci"] is False:
            _log.warning(
                "predicted uplift outside the held-out campaigns' measured interval",
                offer=offer,
                predicted=round(everyone["predicted_uplift"], 4),
                measured=round(everyone["measured_uplift"], 4),
                interval=[
                    round(everyone["measured_ci_low"], 4),
                    round(everyone["measured_ci_high"], 4),
                ],
            )
    return {
        "rows": len(holdout),
        "budget": budget,
        "strategies": strategies,
        "uplift_calibration": calibration,
    }
