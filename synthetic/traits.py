"""Who the customers are: static attributes the CRM records and latent traits it never sees.

Latent traits drive behaviour (how often someone buys, opens e-mails, files tickets) and churn, so
that what a retention team can observe is a noisy window onto them. They are written only to the
truth folder. Customers of a chunk are returned sorted by sign-up time, which lets the weekly
simulation work on the prefix of customers who have signed up so far.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from core.config import GenerateConfig
from synthetic.timeline import DAY_US, HOUR_US, Timeline

PLANS = ("basic", "plus")
# Days at the start of the world over which the early cohort (an existing base moving onto the new
# CRM, a launch campaign) signs up.
_EARLY_SIGNUP_DAYS = 28
# Acquisition channel → shift of baseline engagement / satisfaction (z-score units).
_CHANNEL_ENGAGEMENT = {"referral": 0.3, "organic": 0.15, "paid_search": -0.1, "social": -0.25}
_CHANNEL_SATISFACTION = {"referral": 0.3, "affiliate": -0.1, "social": -0.1}
# Typical orders per week and basket value of a median customer.
_MEDIAN_ORDER_RATE = 0.11
_MEDIAN_BASKET_EUR = 45.0


@dataclass(frozen=True)
class Traits:
    """One chunk's customers, one array element per customer (sorted by ``signup_us``).

    Static attributes (written to ``customers``): ``signup_us``, ``country``,
    ``acquisition_channel`` (indices into the config's dicts), ``plan`` (index into ``PLANS``),
    ``loyalty_member``.

    Latent traits (truth only): ``price_sensitivity`` in [0, 1]; ``engagement`` and
    ``satisfaction`` as baseline z-scores (their weekly values wander around these);
    ``order_rate`` (orders per week at baseline engagement); ``basket_value`` (EUR per order);
    ``items_per_order``; ``frequent_small_basket`` in [0, 1] (high order rate relative to basket
    value — who free shipping speaks to); ``support_propensity``, ``referral_propensity``
    (multipliers around 1); ``email_responsiveness`` (z-score); ``app_affinity`` (share of activity
    in the app, [0, 1]); ``contact_reactance`` (log hazard ratio added to every offer's effect:
    positive = being contacted makes the customer more likely to leave).
    """

    signup_us: np.ndarray
    country: np.ndarray
    acquisition_channel: np.ndarray
    plan: np.ndarray
    loyalty_member: np.ndarray
    price_sensitivity: np.ndarray
    engagement: np.ndarray
    satisfaction: np.ndarray
    order_rate: np.ndarray
    basket_value: np.ndarray
    items_per_order: np.ndarray
    frequent_small_basket: np.ndarray
    support_propensity: np.ndarray
    referral_propensity: np.ndarray
    email_responsiveness: np.ndarray
    app_affinity: np.ndarray
    contact_reactance: np.ndarray

    @property
    def size(self) -> int:
        return len(self.signup_us)


# Latent traits written to the truth folder, in this order.
LATENT_TRAITS = (
    "price_sensitivity",
    "engagement",
    "satisfaction",
    "order_rate",
    "basket_value",
    "items_per_order",
    "frequent_small_basket",
    "support_propensity",
    "referral_propensity",
    "email_responsiveness",
    "app_affinity",
    "contact_reactance",
)


def draw_traits(
    rng: np.random.Generator, n_customers: int, config: GenerateConfig, timeline: Timeline
) -> Traits:
    """Draw ``n_customers`` customers; the result is sorted by sign-up time."""
    signup_us = _signup_times(rng, n_customers, config, timeline)
    country = _categorical(rng, n_customers, config.countries)
    channel = _categorical(rng, n_customers, config.acquisition_channels)
    channel_names = list(config.acquisition_channels)
    plan = (rng.random(n_customers) < config.plus_share).astype(np.int8)
    loyalty_member = rng.random(n_customers) < config.loyalty_member_share

    engagement = (
        rng.standard_normal(n_customers) + _lookup(_CHANNEL_ENGAGEMENT, channel_names)[channel]
    )
    satisfaction = (
        0.8 * rng.standard_normal(n_customers)
        + 0.3 * engagement
        + _lookup(_CHANNEL_SATISFACTION, channel_names)[channel]
    )
    price_sensitivity = rng.beta(2.0, 3.0, n_customers)
    log_rate_noise = 0.5 * rng.standard_normal(n_customers)
    log_basket_noise = 0.45 * rng.standard_normal(n_customers)
    order_rate = _MEDIAN_ORDER_RATE * np.exp(
        0.35 * engagement + log_rate_noise + 0.25 * plan + 0.15 * loyalty_member
    )
    basket_value = _MEDIAN_BASKET_EUR * np.exp(
        log_basket_noise + 0.2 * plan - 0.3 * price_sensitivity
    )
    items_per_order = 1.0 + basket_value / 30.0 * np.exp(0.3 * rng.standard_normal(n_customers))
    frequent_small_basket = _sigmoid(1.5 * (log_rate_noise / 0.5 - log_basket_noise / 0.45))
    reactance = _contact_reactance(rng, engagement, config)

    traits = Traits(
        signup_us=signup_us,
        country=country,
        acquisition_channel=channel,
        plan=plan,
        loyalty_member=loyalty_member,
        price_sensitivity=price_sensitivity,
        engagement=engagement,
        satisfaction=satisfaction,
        order_rate=order_rate,
        basket_value=basket_value,
        items_per_order=items_per_order,
        frequent_small_basket=frequent_small_basket,
        support_propensity=np.exp(0.6 * rng.standard_normal(n_customers) - 0.18),
        referral_propensity=np.exp(0.8 * rng.standard_normal(n_customers) - 0.32),
        email_responsiveness=rng.standard_normal(n_customers),
        app_affinity=rng.beta(1.2, 1.8, n_customers),
        contact_reactance=reactance,
    )
    return _sorted_by_signup(traits)


def _signup_times(
    rng: np.random.Generator, n_customers: int, config: GenerateConfig, timeline: Timeline
) -> np.ndarray:
    """An early cohort in the first weeks, the rest uniformly over the span (daytime sign-ups)."""
    span_days = (timeline.end_us - timeline.start_us) // DAY_US
    early = rng.random(n_customers) < config.early_signup_share
    day = np.where(
        early,
        rng.integers(0, _EARLY_SIGNUP_DAYS, n_customers),
        rng.integers(0, span_days, n_customers),
    )
    time_of_day = rng.integers(7 * HOUR_US, 23 * HOUR_US, n_customers)
    return timeline.start_us + day.astype(np.int64) * DAY_US + time_of_day


def _contact_reactance(
    rng: np.random.Generator, engagement: np.ndarray, config: GenerateConfig
) -> np.ndarray:
    """Most customers shrug at a retention contact; 'sleeping dogs' are pushed to leave by it.

    Disengaged customers are more often sleeping dogs (a reminder that they still have an account),
    which is what makes the riskiest customer a poor target.
    """
    n_customers = len(engagement)
    dog_probability = np.clip(2.0 * config.contact_reactance_share * _sigmoid(-engagement), 0, 1)
    sleeping_dog = rng.random(n_customers) < dog_probability
    return np.where(
        sleeping_dog,
        config.contact_reactance_effect + 0.15 * rng.standard_normal(n_customers),
        0.1 * rng.standard_normal(n_customers),
    )


def _categorical(rng: np.random.Generator, n: int, weights: dict[str, float]) -> np.ndarray:
    probabilities = np.array(list(weights.values()), dtype=np.float64)
    cumulative = np.cumsum(probabilities / probabilities.sum())
    codes = np.searchsorted(cumulative, rng.random(n), side="right")
    return np.minimum(codes, len(weights) - 1).astype(np.int16)


def _lookup(shifts: dict[str, float], names: list[str]) -> np.ndarray:
    return np.array([shifts.get(name, 0.0) for name in names], dtype=np.float64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _sorted_by_signup(traits: Traits) -> Traits:
    order = np.argsort(traits.signup_us, kind="stable")
    return Traits(**{field.name: getattr(traits, field.name)[order] for field in fields(traits)})
