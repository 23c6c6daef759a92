"""Past retention campaigns: who was targeted, who was held out, who got which offer.

Each campaign is a randomised experiment inside a targeted set. The retailer picks
``reach_share`` of the customers it believes active (it cannot see churn; some picked customers
have in fact already left), leaning towards long order gaps by ``targeting_strength``. Inside the
pick, a random ``control_share`` is held out — control rows still carry the offer they would have
received — and everyone else gets one offer drawn uniformly from the catalogue.

A treated customer who is still live gets the offer's customer-specific log hazard ratio
(``synthetic.hazard.offer_log_effects``) from the week after sending for ``effect_days`` (rounded
to whole weeks); a later offer replaces an earlier one. Customers who benefit are more likely to
redeem: the redemption chance is ``redemption_rate * 2 * sigmoid(-2 * effect)``, capped at 0.95.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from core.config import GenerateConfig
from synthetic.rows import RawRows
from synthetic.state import CustomerState, Week
from synthetic.timeline import DAY_US, HOUR_US, WEEK_US, Timeline, date_to_us
from synthetic.traits import Traits

_SEND_HOUR_US = 10 * HOUR_US
_SEND_JITTER_US = 2 * HOUR_US
_MAX_REDEMPTION_PROBABILITY = 0.95


@dataclass(frozen=True)
class Campaign:
    """One send: ``day_us`` is 00:00 of the send date, ``week`` its simulation step."""

    index: int
    campaign_id: str
    day_us: int
    week: int


def campaign_schedule(config: GenerateConfig, timeline: Timeline) -> list[Campaign]:
    """A campaign every ``campaigns.every_days`` after the start date, up to the end date."""
    step = dt.timedelta(days=config.campaigns.every_days)
    campaigns: list[Campaign] = []
    day = config.start_date + step
    while day <= config.end_date:
        day_us = date_to_us(day)
        campaigns.append(
            Campaign(
                index=len(campaigns),
                campaign_id=f"CMP-{day:%Y%m%d}",
                day_us=day_us,
                week=timeline.week_of(day_us),
            )
        )
        day += step
    return campaigns


def effect_weeks(config: GenerateConfig) -> int:
    """Whole weeks an offer's effect lasts in the simulation."""
    return max(1, round(config.campaigns.effect_days / 7))


def run_campaign(
    rng: np.random.Generator,
    campaign: Campaign,
    week: Week,
    state: CustomerState,
    traits: Traits,
    offer_effects: np.ndarray,
    config: GenerateConfig,
    rows: RawRows,
) -> None:
    """Pick, randomise and send one campaign; log it and start the treated customers' effects."""
    settings = config.campaigns
    sent = campaign.day_us + _SEND_HOUR_US + rng.integers(0, _SEND_JITTER_US, week.size)
    gap_us = sent - state.last_order_us
    believed_active = (
        (traits.signup_us < sent)
        & ~state.drivers.unsubscribed
        & (gap_us <= settings.active_within_days * DAY_US)
    )
    eligible = np.flatnonzero(believed_active)
    n_targeted = round(settings.reach_share * len(eligible))
    if n_targeted == 0:
        return
    gap_weeks = np.log1p(gap_us[eligible] / WEEK_US)
    gap_score = (gap_weeks - gap_weeks.mean()) / (gap_weeks.std() + 1e-9)
    keys = settings.targeting_strength * gap_score + rng.gumbel(size=len(eligible))
    targeted = np.sort(eligible[np.argpartition(-keys, n_targeted - 1)[:n_targeted]])
    treatment = rng.random(n_targeted) >= settings.control_share
    offer = rng.integers(0, len(config.offers), n_targeted).astype(np.int8)
    first_row = len(rows.offers)
    rows.offers.append(
        customer=targeted.astype(np.int32),
        campaign=np.full(n_targeted, campaign.index),
        offer=offer,
        sent=sent[targeted],
        treatment=treatment,
    )
    treated = treatment & (state.churn_us[targeted] > sent[targeted])
    _start_offers(rng, campaign, targeted, offer, treated, first_row, offer_effects, config, state)


def _start_offers(
    rng: np.random.Generator,
    campaign: Campaign,
    targeted: np.ndarray,
    offer: np.ndarray,
    treated: np.ndarray,
    first_row: int,
    offer_effects: np.ndarray,
    config: GenerateConfig,
    state: CustomerState,
) -> None:
    customers = targeted[treated]
    offers = offer[treated]
    effect = offer_effects[customers, offers]
    state.offer_effect[customers] = effect
    state.offer_until_week[customers] = campaign.week + 1 + effect_weeks(config)
    base_rate = np.array([spec.redemption_rate for spec in config.offers])[offers]
    redeem_probability = np.minimum(
        base_rate * 2.0 / (1.0 + np.exp(2.0 * effect)), _MAX_REDEMPTION_PROBABILITY
    )
    intends = rng.random(len(customers)) < redeem_probability
    redeemers = customers[intends]
    state.pending_offer[redeemers] = offers[intends]
    state.pending_offer_row[redeemers] = first_row + np.flatnonzero(treated)[intends]
    state.pending_until_us[redeemers] = (
        campaign.day_us + _SEND_HOUR_US + config.campaigns.redeem_within_days * DAY_US
    )
