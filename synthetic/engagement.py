"""E-mail, browsing, NPS surveys and referrals for one simulated week.

These are the signals through which a customer's latent engagement and satisfaction leak into the
CRM. Newsletters keep going to churned customers until they unsubscribe — the quiet residue of a
customer who has left: such mails are rarely opened and never clicked. Everything else a customer
does happens inside their live window (``Week.live_from`` to ``Week.live_until``).
"""

from __future__ import annotations

import numpy as np

from core.config import GenerateConfig
from synthetic.commerce import decay
from synthetic.rows import EVENT_CODE, RawRows
from synthetic.state import CustomerState, Week
from synthetic.timeline import DAY_US, HOUR_US, SECOND_US
from synthetic.traits import Traits

_SEND_HOUR_US = 9 * HOUR_US
_SEND_JITTER_US = 2 * HOUR_US
_MEAN_OPEN_DELAY_US = 6 * HOUR_US
_MEAN_UNSUBSCRIBE_DELAY_US = 12 * HOUR_US
_RESIDUE_OPEN_RATE = 0.02
_RESIDUE_UNSUBSCRIBE_RATE = 0.01
_UNSUBSCRIBE_RATE = 0.004
_NPS_WEEKLY_RESPONSE_RATE = 0.3 / 13.0
_REFERRAL_WEEKLY_RATE = 0.008


def open_probability(responsiveness: np.ndarray, engagement: np.ndarray) -> np.ndarray:
    """Chance that a live customer opens a newsletter."""
    return _sigmoid(-1.1 + 0.7 * responsiveness + 0.6 * engagement)


def simulate_emails(
    rng: np.random.Generator,
    week: Week,
    state: CustomerState,
    traits: Traits,
    config: GenerateConfig,
    end_us: int,
    rows: RawRows,
) -> None:
    """Send the newsletter (every ``email_every_weeks``) and draw opens, clicks, unsubscribes."""
    if week.index % config.email_every_weeks:
        return
    drivers = state.drivers
    sent = week.start_us + DAY_US + _SEND_HOUR_US + rng.integers(0, _SEND_JITTER_US, week.size)
    recipients = np.flatnonzero((traits.signup_us < sent) & ~drivers.unsubscribed & (sent < end_us))
    sent = sent[recipients]
    churn_us = state.churn_us[recipients]
    alive = churn_us > sent
    engagement = state.activity_engagement[recipients]
    responsiveness = traits.email_responsiveness[recipients]
    n_sent = len(recipients)

    open_ts = sent + rng.exponential(_MEAN_OPEN_DELAY_US, n_sent).astype(np.int64)
    open_rate = np.where(alive, open_probability(responsiveness, engagement), _RESIDUE_OPEN_RATE)
    opened = (rng.random(n_sent) < open_rate) & _observable(open_ts, alive, churn_us, end_us)
    click_ts = open_ts + rng.integers(30 * SECOND_US, 15 * 60 * SECOND_US, n_sent)
    click_rate = np.where(alive, 0.3 * _sigmoid(engagement + 0.5 * responsiveness), 0.0)
    clicked = (
        opened & (rng.random(n_sent) < click_rate) & _observable(click_ts, alive, churn_us, end_us)
    )
    unsubscribe_ts = sent + rng.exponential(_MEAN_UNSUBSCRIBE_DELAY_US, n_sent).astype(np.int64)
    unsubscribe_rate = np.where(
        alive,
        _UNSUBSCRIBE_RATE * np.exp(-0.6 * responsiveness - 0.5 * engagement),
        _RESIDUE_UNSUBSCRIBE_RATE,
    )
    unsubscribed = (rng.random(n_sent) < unsubscribe_rate) & _observable(
        unsubscribe_ts, alive, churn_us, end_us
    )

    _append_events(rows, "email_sent", recipients, sent)
    _append_events(rows, "email_open", recipients[opened], open_ts[opened])
    _append_events(rows, "email_click", recipients[clicked], click_ts[clicked])
    _append_events(
        rows, "email_unsubscribe", recipients[unsubscribed], unsubscribe_ts[unsubscribed]
    )

    live_recipients = recipients[alive]
    opened_live = opened[alive].astype(np.float64)
    drivers.open_rate_short[live_recipients] = (
        0.6 * drivers.open_rate_short[live_recipients] + 0.4 * opened_live
    )
    drivers.open_rate_long[live_recipients] = (
        0.93 * drivers.open_rate_long[live_recipients] + 0.07 * opened_live
    )
    drivers.unsubscribed[recipients[unsubscribed]] = True


def simulate_browsing(
    rng: np.random.Generator, week: Week, state: CustomerState, traits: Traits, rows: RawRows
) -> None:
    """Web sessions, app logins, cart adds and abandons; update the cart-abandon driver."""
    drivers = state.drivers
    lift = np.exp(0.5 * state.activity_engagement) * week.live_fraction
    season = 1.0 + 0.2 * week.shopping_season
    _poisson_events(
        rng, week, 0.22 * (1.0 - 0.6 * traits.app_affinity) * season * lift, rows, "web_session"
    )
    _poisson_events(rng, week, 0.3 * traits.app_affinity * lift, rows, "app_login")
    carts, cart_ts = _poisson_events(rng, week, 0.12 * season * lift, rows, "cart_add")
    abandon_rate = _sigmoid(
        -0.8
        + 2.5 * (traits.price_sensitivity[carts] - 0.4)
        - 0.3 * state.activity_engagement[carts]
    )
    abandon_ts = cart_ts + rng.integers(30 * 60 * SECOND_US, 3 * HOUR_US, len(carts))
    abandoned = (rng.random(len(carts)) < abandon_rate) & (abandon_ts < week.live_until[carts])
    _append_events(rows, "cart_abandon", carts[abandoned], abandon_ts[abandoned])
    recent = decay(4)
    drivers.cart_abandons_recent *= recent
    drivers.cart_abandons_recent += np.bincount(carts[abandoned], minlength=week.size)


def simulate_surveys_and_referrals(
    rng: np.random.Generator, week: Week, state: CustomerState, traits: Traits, rows: RawRows
) -> None:
    """NPS answers (about one customer in thirteen is asked each week) and referrals."""
    drivers = state.drivers
    answering = np.flatnonzero(
        rng.random(week.size) < _NPS_WEEKLY_RESPONSE_RATE * week.live_fraction
    ).astype(np.int32)
    score = np.clip(
        np.round(
            7.2
            + 1.5 * drivers.satisfaction[answering]
            + 0.3 * state.activity_engagement[answering]
            + 1.2 * rng.standard_normal(len(answering))
        ),
        0,
        10,
    )
    rows.events.append(
        customer=answering,
        ts=week.uniform_times(rng, answering),
        event=np.full(len(answering), EVENT_CODE["survey_nps"]),
        value=score,
    )
    drivers.last_nps[answering] = score
    referral_rate = (
        _REFERRAL_WEEKLY_RATE
        * traits.referral_propensity
        * np.exp(0.4 * drivers.satisfaction)
        * week.live_fraction
    )
    referrers, _ = _poisson_events(rng, week, referral_rate, rows, "referral")
    drivers.has_referred[referrers] = True


def _poisson_events(
    rng: np.random.Generator, week: Week, weekly_rate: np.ndarray, rows: RawRows, event_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson many events per customer at uniform times in their live window; returns them."""
    customers = np.repeat(np.arange(week.size, dtype=np.int32), rng.poisson(weekly_rate))
    event_ts = week.uniform_times(rng, customers)
    _append_events(rows, event_type, customers, event_ts)
    return customers, event_ts


def _append_events(
    rows: RawRows, event_type: str, customers: np.ndarray, event_ts: np.ndarray
) -> None:
    rows.events.append(
        customer=customers,
        ts=event_ts,
        event=np.full(len(customers), EVENT_CODE[event_type]),
        value=np.full(len(customers), np.nan),
    )


def _observable(
    event_ts: np.ndarray, alive: np.ndarray, churn_us: np.ndarray, end_us: int
) -> np.ndarray:
    """Inside the world's span, and (for a live customer) before they churn."""
    return (event_ts < end_us) & (~alive | (event_ts < churn_us))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
