"""The churn hazard: how what a retention team watches turns into a weekly risk of leaving.

A customer alive at the start of week ``w`` leaves during that week with probability
``1 - exp(-rate_w * alive_fraction)`` where

    log rate_w = log(base_weekly_hazard)
                 + state_log_hazard(drivers at the start of w)        (observable + latent state)
                 + seasonality * churn_season[w]                      (calendar)
                 + offer effect, while a treated offer is in force    (campaigns)

``state_log_hazard`` is the pure, vectorised part that the simulation and the ground truth share:
the truth holds it at its cutoff value (see ``synthetic.truth``).

Offer effects are log hazard ratios that depend on the customer (``offer_log_effects``): a discount
helps price-sensitive customers, free shipping frequent small-basket buyers, bonus points loyalty
members, and every offer carries the customer's contact reactance, which is positive (harmful) for
'sleeping dogs'.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import HazardConfig, OfferSpec
from synthetic.traits import Traits

# Reference points: a customer at these values contributes nothing to the log-hazard.
_REFERENCE_WEEKS_SINCE_ORDER = 4.0
_REFERENCE_ORDER_RATE = 0.1
_NEUTRAL_NPS = 7.0
_NEUTRAL_CSAT = 3.5
_REFERENCE_PRICE_SENSITIVITY = 0.4
_SPEND_SMOOTHING_EUR = 2.0


@dataclass
class ChurnDrivers:
    """The state the hazard reads, one array element per customer.

    ``weeks_since_order``: weeks since the last order (or sign-up if none yet).
    ``order_rate_recent``: orders per week, exponentially weighted (half-life ~13 weeks).
    ``spend_short`` / ``spend_long``: EUR per week, half-lives ~4 and ~26 weeks; their log ratio is
    the spend trend (negative = falling).
    ``tickets_recent`` / ``slow_responses_recent``: exponentially decayed counts (half-life ~6
    weeks) of support tickets and of tickets whose first response took longer than
    ``generate.slow_response_hours``.
    ``last_nps`` (0-10) and ``last_csat`` (1-5): the latest answers, NaN if never answered.
    ``open_rate_short`` / ``open_rate_long``: smoothed e-mail open rates; short minus long is the
    e-mail engagement trend. ``unsubscribed``: opted out of e-mail.
    ``cart_abandons_recent``: decayed count (half-life ~4 weeks). ``loyalty_member``: enrolled.
    ``redemptions_recent``: decayed count of loyalty point redemptions (half-life ~13 weeks).
    ``has_referred``: ever referred a friend.
    ``engagement`` / ``satisfaction``: this week's latent levels (z-scores, never observed).
    ``price_sensitivity``: latent trait in [0, 1].
    ``fading``: has (unobservably) started to drift away; engagement sinks from then on.
    """

    weeks_since_order: np.ndarray
    order_rate_recent: np.ndarray
    spend_short: np.ndarray
    spend_long: np.ndarray
    tickets_recent: np.ndarray
    slow_responses_recent: np.ndarray
    last_nps: np.ndarray
    last_csat: np.ndarray
    open_rate_short: np.ndarray
    open_rate_long: np.ndarray
    unsubscribed: np.ndarray
    cart_abandons_recent: np.ndarray
    loyalty_member: np.ndarray
    redemptions_recent: np.ndarray
    has_referred: np.ndarray
    engagement: np.ndarray
    satisfaction: np.ndarray
    price_sensitivity: np.ndarray
    fading: np.ndarray

    @classmethod
    def neutral(cls, n_customers: int) -> ChurnDrivers:
        """Drivers of ``n_customers`` customers at every reference point (for what-if tests)."""
        zeros = np.zeros(n_customers)
        return cls(
            weeks_since_order=np.full(n_customers, _REFERENCE_WEEKS_SINCE_ORDER),
            order_rate_recent=np.full(n_customers, _REFERENCE_ORDER_RATE),
            spend_short=zeros.copy(),
            spend_long=zeros.copy(),
            tickets_recent=zeros.copy(),
            slow_responses_recent=zeros.copy(),
            last_nps=np.full(n_customers, np.nan),
            last_csat=np.full(n_customers, np.nan),
            open_rate_short=np.full(n_customers, 0.25),
            open_rate_long=np.full(n_customers, 0.25),
            unsubscribed=np.zeros(n_customers, dtype=bool),
            cart_abandons_recent=zeros.copy(),
            loyalty_member=np.zeros(n_customers, dtype=bool),
            redemptions_recent=zeros.copy(),
            has_referred=np.zeros(n_customers, dtype=bool),
            engagement=zeros.copy(),
            satisfaction=zeros.copy(),
            price_sensitivity=np.full(n_customers, _REFERENCE_PRICE_SENSITIVITY),
            fading=np.zeros(n_customers, dtype=bool),
        )

    @classmethod
    def for_traits(cls, traits: Traits) -> ChurnDrivers:
        """Drivers of freshly signed-up customers with these traits."""
        drivers = cls.neutral(traits.size)
        drivers.loyalty_member = traits.loyalty_member.copy()
        drivers.engagement = traits.engagement.copy()
        drivers.satisfaction = traits.satisfaction.copy()
        drivers.price_sensitivity = traits.price_sensitivity.copy()
        drivers.order_rate_recent = traits.order_rate.copy()
        return drivers

    def head(self, n_customers: int) -> ChurnDrivers:
        """Views of the first ``n_customers`` customers (no copy)."""
        return ChurnDrivers(**{name: value[:n_customers] for name, value in vars(self).items()})


def state_log_hazard(
    drivers: ChurnDrivers, coefficients: HazardConfig, base_weekly_hazard: float
) -> np.ndarray:
    """Weekly log churn rate from the customers' state, before seasonality and offers.

    Every term is ``coefficient * driver`` with the driver centred on a typical customer, so the
    result is ``log(base_weekly_hazard)`` for one sitting at every reference point.
    """
    c = coefficients
    spend_trend = np.clip(
        np.log(
            (drivers.spend_short + _SPEND_SMOOTHING_EUR)
            / (drivers.spend_long + _SPEND_SMOOTHING_EUR)
        ),
        -2.0,
        2.0,
    )
    nps_gap = np.clip(_NEUTRAL_NPS - np.nan_to_num(drivers.last_nps, nan=_NEUTRAL_NPS), -3.0, 7.0)
    csat_gap = _NEUTRAL_CSAT - np.nan_to_num(drivers.last_csat, nan=_NEUTRAL_CSAT)
    log_hazard = np.log(base_weekly_hazard) + c.recency * (
        np.log1p(drivers.weeks_since_order) - np.log1p(_REFERENCE_WEEKS_SINCE_ORDER)
    )
    log_hazard += c.order_frequency * (
        np.log(drivers.order_rate_recent + 0.02) - np.log(_REFERENCE_ORDER_RATE + 0.02)
    )
    log_hazard += c.spend_trend * spend_trend
    log_hazard += c.tickets * np.minimum(drivers.tickets_recent, 4.0)
    log_hazard += c.slow_responses * np.minimum(drivers.slow_responses_recent, 3.0)
    log_hazard += c.low_nps * nps_gap
    log_hazard += c.low_csat * csat_gap
    log_hazard += c.email_open_trend * (drivers.open_rate_short - drivers.open_rate_long)
    log_hazard += c.unsubscribed * drivers.unsubscribed
    log_hazard += c.cart_abandons * np.minimum(drivers.cart_abandons_recent, 4.0)
    log_hazard += c.loyalty_member * drivers.loyalty_member
    log_hazard += c.loyalty_redemptions * np.minimum(drivers.redemptions_recent, 2.0)
    log_hazard += c.referrals * drivers.has_referred
    log_hazard += c.engagement * drivers.engagement
    log_hazard += c.satisfaction * drivers.satisfaction
    log_hazard += c.price_sensitivity * (drivers.price_sensitivity - _REFERENCE_PRICE_SENSITIVITY)
    log_hazard += c.fading * drivers.fading
    return log_hazard


def offer_log_effects(traits: Traits, offers: list[OfferSpec]) -> np.ndarray:
    """Log hazard ratio of each offer for each customer, shape ``(n_customers, n_offers)``.

    ``base_effect + price_sensitivity_weight * price_sensitivity + frequent_small_basket_weight *
    frequent_small_basket + loyalty_member_weight * loyalty_member + contact_reactance``.
    Negative = the offer keeps the customer; positive = it pushes them out.
    """
    effects = np.empty((traits.size, len(offers)))
    for column, offer in enumerate(offers):
        effects[:, column] = (
            offer.base_effect
            + offer.price_sensitivity_weight * traits.price_sensitivity
            + offer.frequent_small_basket_weight * traits.frequent_small_basket
            + offer.loyalty_member_weight * traits.loyalty_member
            + traits.contact_reactance
        )
    return effects
