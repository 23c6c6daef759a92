"""Support tickets for one simulated week: who writes in, how fast they hear back, how they rate it.

Tickets come more often from support-prone, unhappy customers and after returns. First-response
times are log-normal and slower in busy weeks (a shared weekly backlog, worse around the holidays);
a first response slower than ``generate.slow_response_hours`` hurts satisfaction and is a churn
driver of its own. CSAT is asked after resolution and answered by some.
"""

from __future__ import annotations

import numpy as np

from core.config import GenerateConfig
from synthetic.commerce import decay
from synthetic.rows import NULL_US, RawRows
from synthetic.state import CustomerState, Week
from synthetic.timeline import HOUR_US
from synthetic.traits import Traits

_WEEKLY_TICKET_RATE = 0.02
_MEDIAN_FIRST_RESPONSE_HOURS = 9.0
_MEDIAN_RESOLUTION_HOURS = 18.0
_UNRESOLVED_SHARE = 0.04
_CSAT_RESPONSE_RATE = 0.45
_CHANNEL_SHARES = np.array([0.5, 0.3, 0.2])  # email, chat, phone


def simulate_tickets(
    rng: np.random.Generator,
    week: Week,
    state: CustomerState,
    traits: Traits,
    config: GenerateConfig,
    end_us: int,
    rows: RawRows,
) -> None:
    """Open, answer and resolve this week's tickets; update the support drivers."""
    drivers = state.drivers
    rate = (
        _WEEKLY_TICKET_RATE
        * traits.support_propensity
        * (1.0 + state.returns_recent)
        * np.exp(-0.2 * drivers.satisfaction)
        * week.live_fraction
    )
    customers = np.repeat(np.arange(week.size, dtype=np.int32), rng.poisson(rate))
    n_tickets = len(customers)
    opened = week.uniform_times(rng, customers)
    backlog = np.exp(0.25 * week.shopping_season + 0.25 * rng.standard_normal())
    response_hours = (
        _MEDIAN_FIRST_RESPONSE_HOURS * backlog * np.exp(1.1 * rng.standard_normal(n_tickets))
    )
    first_response = opened + (response_hours * HOUR_US).astype(np.int64)
    resolution_hours = _MEDIAN_RESOLUTION_HOURS * np.exp(rng.standard_normal(n_tickets))
    resolved = first_response + (resolution_hours * HOUR_US).astype(np.int64)
    unresolved = (rng.random(n_tickets) < _UNRESOLVED_SHARE) | (resolved >= end_us)
    slow = response_hours > config.slow_response_hours
    satisfaction = drivers.satisfaction[customers]
    csat = np.clip(
        np.round(3.9 + 0.6 * satisfaction - 1.3 * slow + 0.8 * rng.standard_normal(n_tickets)),
        1,
        5,
    )
    answered = ~unresolved & (rng.random(n_tickets) < _CSAT_RESPONSE_RATE)
    channel = np.searchsorted(np.cumsum(_CHANNEL_SHARES), rng.random(n_tickets), side="right")
    rows.tickets.append(
        customer=customers,
        opened=opened,
        first_response=np.where(first_response < end_us, first_response, NULL_US),
        resolved=np.where(unresolved, NULL_US, resolved),
        channel=np.minimum(channel, len(_CHANNEL_SHARES) - 1),
        csat=np.where(answered, csat, np.nan),
    )
    _update_support_drivers(week, customers, slow, answered, csat, state)


def _update_support_drivers(
    week: Week,
    customers: np.ndarray,
    slow: np.ndarray,
    answered: np.ndarray,
    csat: np.ndarray,
    state: CustomerState,
) -> None:
    drivers = state.drivers
    n_tickets = np.bincount(customers, minlength=week.size)
    n_slow = np.bincount(customers, weights=slow, minlength=week.size)
    recent = decay(6)
    drivers.tickets_recent *= recent
    drivers.tickets_recent += n_tickets
    drivers.slow_responses_recent *= recent
    drivers.slow_responses_recent += n_slow
    drivers.last_csat[customers[answered]] = csat[answered]
    state.satisfaction_shift -= 0.35 * n_slow + 0.1 * n_tickets
