"""Ground truth: each customer's true probability of churning within the horizon after a cutoff.

For a cutoff ``c`` (00:00 UTC of a grid date) the truth covers every customer who signed up
strictly before ``c`` and had not churned by ``c``. Their probability of churning in
``[c, c + horizon_days)`` is the simulator's own hazard with the state *held at its value at the
start of the week holding ``c``* — except the order gap, which is let run on as it would with
orders arriving at the customer's current rate (``_order_gap_drift``, the factor ``gap_w``):

    p = 1 - exp(-Λ),  Λ = Σ_w exp(state_log_hazard + seasonality * churn_season[w] + offer_w)
                          * gap_w * overlap_w / 7 days

over the weeks ``w`` that overlap the horizon (``overlap_w`` in days). ``offer_w`` is the offer
already in force at ``c`` (if any, until it expires) for ``p_churn_no_offer``; for
``p_churn_<offer_id>`` an offer of that kind sent at ``c`` replaces it for ``effect_days``.
Behaviour after the cutoff (new orders, tickets, later campaigns) does not move the truth: it is
the risk as the world stands at the cutoff, which is what a model scoring that snapshot is asked
to estimate. Because the rest of the state is frozen, the mean probability runs a little below
the realised rate (customers' states drift towards churn on average); the summary reports both.

``churned_within_horizon`` is what actually happened in the simulation (null when
``c + horizon_days`` runs past the end of the data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import GenerateConfig
from synthetic.simulate import CutoffSnapshot
from synthetic.timeline import DAY_US, WEEK_US, Timeline
from synthetic.traits import Traits

NOT_KNOWN = -1


@dataclass(frozen=True)
class CutoffTruth:
    """Truth rows for one cutoff: customers (chunk indices) alive at it.

    ``p_no_offer`` has one value per customer, ``p_offer`` one column per catalogue offer.
    ``churned_within_horizon`` is 1/0, or ``NOT_KNOWN`` when the horizon runs past the data
    (``outcome_known`` is then false).
    """

    cutoff_us: int
    outcome_known: bool
    customers: np.ndarray
    p_no_offer: np.ndarray
    p_offer: np.ndarray
    churned_within_horizon: np.ndarray


def cutoff_truth(
    snapshot: CutoffSnapshot,
    traits: Traits,
    churn_us: np.ndarray,
    offer_effects: np.ndarray,
    config: GenerateConfig,
    timeline: Timeline,
) -> CutoffTruth:
    """True churn probabilities at one cutoff, without an offer and with each offer."""
    cutoff_us = snapshot.cutoff_us
    horizon_end_us = cutoff_us + config.truth.horizon_days * DAY_US
    offer_end_us = cutoff_us + config.campaigns.effect_days * DAY_US
    n_known = len(snapshot.state_log_hazard)
    customers = np.flatnonzero(
        (traits.signup_us[:n_known] < cutoff_us) & (churn_us[:n_known] >= cutoff_us)
    )
    rate = np.exp(snapshot.state_log_hazard[customers])
    weeks_since_order = snapshot.weeks_since_order[customers]
    order_rate = snapshot.order_rate[customers]
    prior_effect = snapshot.offer_effect[customers]
    prior_until = snapshot.offer_until_week[customers]
    new_effect = offer_effects[customers]

    hazard_no_offer = np.zeros(len(customers))
    hazard_offer = np.zeros((len(customers), new_effect.shape[1]))
    last_week = timeline.week_of(horizon_end_us - 1)
    for week in range(snapshot.week, last_week + 1):
        week_start = timeline.start_us + week * WEEK_US
        in_horizon = _overlap(week_start, cutoff_us, horizon_end_us) / WEEK_US
        in_offer = _overlap(week_start, cutoff_us, min(offer_end_us, horizon_end_us)) / WEEK_US
        weekly = np.exp(config.hazard.seasonality * timeline.churn_season[week]) * _order_gap_drift(
            weeks_since_order, order_rate, week - snapshot.week, config.hazard.recency
        )
        prior = np.exp(np.where(week < prior_until, prior_effect, 0.0))
        hazard_no_offer += weekly * in_horizon * prior
        hazard_offer += weekly[:, None] * (
            (in_horizon - in_offer) * prior[:, None] + in_offer * np.exp(new_effect)
        )
    known = horizon_end_us <= timeline.end_us
    churned = (churn_us[customers] < horizon_end_us).astype(np.int8)
    return CutoffTruth(
        cutoff_us=cutoff_us,
        outcome_known=known,
        customers=customers,
        p_no_offer=-np.expm1(-rate * hazard_no_offer),
        p_offer=-np.expm1(-rate[:, None] * hazard_offer),
        churned_within_horizon=churned if known else np.full(len(customers), NOT_KNOWN, np.int8),
    )


def _order_gap_drift(
    weeks_since_order: np.ndarray, order_rate: np.ndarray, weeks_ahead: int, coefficient: float
) -> np.ndarray:
    """Expected factor by which the recency term moves ``weeks_ahead`` weeks after the snapshot.

    The order gap keeps growing unless the customer orders; with orders arriving as a Poisson
    process at ``order_rate`` a week, the gap is ``g0 + t`` with chance ``exp(-rate * t)``, else
    about ``j + 1/2`` weeks with chance ``exp(-rate * j) * (1 - exp(-rate))`` (last order in week
    ``j`` back). Returns ``E[(1 + gap_t) ** coefficient] / (1 + g0) ** coefficient``.
    """
    if weeks_ahead == 0 or coefficient == 0.0:
        return np.ones(len(weeks_since_order))
    no_order = np.exp(-order_rate * weeks_ahead)
    expected = no_order * (1.0 + weeks_since_order + weeks_ahead) ** coefficient
    per_week = -np.expm1(-order_rate)
    for weeks_back in range(weeks_ahead):
        expected += np.exp(-order_rate * weeks_back) * per_week * (1.5 + weeks_back) ** coefficient
    return expected / (1.0 + weeks_since_order) ** coefficient


def _overlap(week_start_us: int, window_start_us: int, window_end_us: int) -> float:
    """Microseconds of the nominal week starting at ``week_start_us`` inside the window."""
    start = max(week_start_us, window_start_us)
    end = min(week_start_us + WEEK_US, window_end_us)
    return float(max(end - start, 0))
