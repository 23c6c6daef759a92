"""The weekly simulation of one chunk of customers.

Each week, for the customers signed up by its end (a prefix, since the chunk is sorted by sign-up):

1. read the churn drivers (state at the start of the week) into ``state_log_hazard``; at a truth
   cutoff's week, keep a snapshot of it for the ground truth;
2. draw who churns this week and when (constant rate inside the week), which fixes every
   customer's live window;
3. simulate orders, support, e-mail, browsing, surveys and referrals inside the live windows, and
   update the drivers from what happened;
4. let the latent engagement and satisfaction wander (AR(1) around each customer's baseline),
   and let a few live customers start fading (see ``GenerateConfig.fading_weekly_rate``);
5. send any campaign scheduled for the week.

Everything is vectorised over customers; the only Python loop is over weeks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import GenerateConfig
from synthetic.campaigns import campaign_schedule, run_campaign
from synthetic.commerce import simulate_orders, simulate_point_redemptions, weekly_order_rate
from synthetic.engagement import (
    open_probability,
    simulate_browsing,
    simulate_emails,
    simulate_surveys_and_referrals,
)
from synthetic.hazard import offer_log_effects, state_log_hazard
from synthetic.rows import RawRows
from synthetic.state import CustomerState, Week, traits_head
from synthetic.support import simulate_tickets
from synthetic.timeline import WEEK_US, Timeline
from synthetic.traits import Traits

_ENGAGEMENT_PERSISTENCE = 0.96
_ENGAGEMENT_NOISE = 0.1
_SATISFACTION_PERSISTENCE = 0.92
_SATISFACTION_NOISE = 0.06
_FADING_ENGAGEMENT_PUSH = 0.08


@dataclass(frozen=True)
class CutoffSnapshot:
    """The hazard state at the start of the week holding a truth cutoff.

    Arrays cover the customers signed up by that week's end (a prefix of the chunk).
    ``state_log_hazard``: the state part of the weekly log churn rate. ``weeks_since_order`` and
    ``order_rate`` (expected orders per week): what the truth needs to let the order gap run on.
    ``offer_effect`` / ``offer_until_week``: the offer in force at that moment, if any.
    """

    cutoff_us: int
    week: int
    state_log_hazard: np.ndarray
    weeks_since_order: np.ndarray
    order_rate: np.ndarray
    offer_effect: np.ndarray
    offer_until_week: np.ndarray


@dataclass(frozen=True)
class ChunkHistory:
    """What one chunk's simulation produced: raw rows, churn times and truth snapshots."""

    rows: RawRows
    churn_us: np.ndarray
    offer_effects: np.ndarray
    snapshots: list[CutoffSnapshot]


def simulate_chunk(
    rng: np.random.Generator,
    traits: Traits,
    config: GenerateConfig,
    timeline: Timeline,
    cutoffs_us: list[int],
) -> ChunkHistory:
    """Run the whole span for one chunk (customers sorted by sign-up)."""
    state = CustomerState.initial(
        traits, open_probability(traits.email_responsiveness, traits.engagement)
    )
    offer_effects = offer_log_effects(traits, config.offers)
    rows = RawRows()
    campaigns_by_week = {
        campaign.week: campaign for campaign in campaign_schedule(config, timeline)
    }
    cutoffs_by_week: dict[int, list[int]] = {}
    for cutoff_us in cutoffs_us:
        # A cutoff at the very end of the data belongs to the last (possibly partial) week.
        week = min(timeline.week_of(cutoff_us), timeline.n_weeks - 1)
        cutoffs_by_week.setdefault(week, []).append(cutoff_us)
    signed_up = np.searchsorted(traits.signup_us, timeline.week_ends, side="left")
    snapshots: list[CutoffSnapshot] = []

    for week_index in range(timeline.n_weeks):
        n_customers = int(signed_up[week_index])
        week_state = state.head(n_customers)
        week_traits = traits_head(traits, n_customers)
        week_start = int(timeline.week_starts[week_index])
        week_state.drivers.weeks_since_order[:] = np.maximum(
            (week_start - week_state.last_order_us) / WEEK_US, 0.0
        )
        log_state = state_log_hazard(week_state.drivers, config.hazard, config.base_weekly_hazard)
        for cutoff_us in cutoffs_by_week.get(week_index, []):
            snapshots.append(
                CutoffSnapshot(
                    cutoff_us=cutoff_us,
                    week=week_index,
                    state_log_hazard=log_state.copy(),
                    weeks_since_order=week_state.drivers.weeks_since_order.copy(),
                    order_rate=weekly_order_rate(week_traits, week_state),
                    offer_effect=week_state.offer_effect.copy(),
                    offer_until_week=week_state.offer_until_week.copy(),
                )
            )
        log_rate = (
            log_state
            + config.hazard.seasonality * timeline.churn_season[week_index]
            + np.where(week_index < week_state.offer_until_week, week_state.offer_effect, 0.0)
        )
        week = _draw_churn(rng, week_index, timeline, week_state, week_traits, log_rate)
        simulate_orders(rng, week, week_state, week_traits, config, rows)
        simulate_point_redemptions(rng, week, week_state, week_traits, rows)
        simulate_tickets(rng, week, week_state, week_traits, config, timeline.end_us, rows)
        simulate_emails(rng, week, week_state, week_traits, config, timeline.end_us, rows)
        simulate_browsing(rng, week, week_state, week_traits, rows)
        simulate_surveys_and_referrals(rng, week, week_state, week_traits, rows)
        _drift_latent_levels(rng, week, week_state, week_traits, config.fading_weekly_rate)
        campaign = campaigns_by_week.get(week_index)
        if campaign is not None:
            run_campaign(rng, campaign, week, week_state, week_traits, offer_effects, config, rows)
    return ChunkHistory(
        rows=rows, churn_us=state.churn_us, offer_effects=offer_effects, snapshots=snapshots
    )


def _draw_churn(
    rng: np.random.Generator,
    week_index: int,
    timeline: Timeline,
    state: CustomerState,
    traits: Traits,
    log_rate: np.ndarray,
) -> Week:
    """Draw this week's churners and their churn instants; return the week's live windows.

    Exposure runs from the later of the week start and sign-up to the week end. A customer leaves
    with probability ``1 - exp(-rate * exposure)``; the instant is drawn from the exponential
    distribution truncated to the exposure, so the rate is constant inside the week.
    """
    week_start = int(timeline.week_starts[week_index])
    week_end = int(timeline.week_ends[week_index])
    live_from = np.maximum(traits.signup_us, week_start)
    alive = state.churn_us > week_start
    exposure_us = np.where(alive, week_end - live_from, 0)
    cumulative_hazard = np.exp(log_rate) * exposure_us / WEEK_US
    churn_probability = -np.expm1(-cumulative_hazard)
    churners = np.flatnonzero(rng.random(len(live_from)) < churn_probability)
    draw = rng.random(len(churners))
    hazard = cumulative_hazard[churners]
    share_of_exposure = -np.log1p(-draw * churn_probability[churners]) / hazard
    churn_us = live_from[churners] + (share_of_exposure * exposure_us[churners]).astype(np.int64)
    state.churn_us[churners] = np.minimum(churn_us, week_end - 1)
    live_until = np.where(alive, np.minimum(state.churn_us, week_end), live_from)
    return Week(
        index=week_index,
        start_us=week_start,
        end_us=week_end,
        live_from=live_from,
        live_until=live_until,
        shopping_season=float(timeline.shopping_season[week_index]),
    )


def _drift_latent_levels(
    rng: np.random.Generator,
    week: Week,
    state: CustomerState,
    traits: Traits,
    fading_weekly_rate: float,
) -> None:
    """AR(1) wander of engagement and satisfaction around each customer's baseline.

    Some live customers start fading each week; a fading customer's visible engagement is pushed
    down every week and settles about two standard deviations below their baseline. The hazard
    reads the fading flag (a step up at once) rather than the sinking level, so a customer's risk
    does not keep drifting after a cutoff — the frozen-state truth stays close to what happens.
    """
    n_customers = len(state.engagement_shift)
    starts_fading = rng.random(n_customers) < fading_weekly_rate * week.live_fraction
    fading = state.drivers.fading
    fading |= starts_fading
    state.engagement_shift *= _ENGAGEMENT_PERSISTENCE
    state.engagement_shift += _ENGAGEMENT_NOISE * rng.standard_normal(n_customers)
    state.fading_shift *= _ENGAGEMENT_PERSISTENCE
    state.fading_shift -= _FADING_ENGAGEMENT_PUSH * fading
    state.satisfaction_shift *= _SATISFACTION_PERSISTENCE
    state.satisfaction_shift += _SATISFACTION_NOISE * rng.standard_normal(n_customers)
    state.drivers.engagement[:] = traits.engagement + state.engagement_shift
    state.activity_engagement[:] = state.drivers.engagement + state.fading_shift
    state.drivers.satisfaction[:] = traits.satisfaction + state.satisfaction_shift
