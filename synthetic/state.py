"""The mutable state of a chunk's customers during the weekly simulation, and one week's frame.

The simulation updates these arrays in place, week after week: for tens of thousands of customers
over a hundred weeks, copying them every step would cost more than the simulation itself.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from synthetic.hazard import ChurnDrivers
from synthetic.timeline import WEEK_US
from synthetic.traits import Traits

NEVER_US = np.iinfo(np.int64).max
NO_OFFER = -1


@dataclass
class CustomerState:
    """Per-customer simulation state beyond the churn drivers.

    ``churn_us``: when the customer churned (``NEVER_US`` while alive). ``last_order_us``: last
    order, or sign-up. ``points_balance``: loyalty points. ``engagement_shift`` /
    ``satisfaction_shift``: how far this week's latent levels sit from the customer's baseline.
    ``fading_shift``: how far a fading customer's engagement has sunk; ``activity_engagement``:
    the engagement their behaviour shows (the hazard's engagement plus ``fading_shift`` — the
    hazard takes fading into account through its own flag, at once).
    ``returns_recent``: decayed count of returned orders. ``offer_effect`` /
    ``offer_until_week``: log hazard ratio of the offer in force, and the first week it no longer
    applies. ``pending_offer`` / ``pending_offer_row`` / ``pending_until_us``: an offer the
    customer means to redeem on their next order before ``pending_until_us`` (``NO_OFFER`` if none).
    """

    drivers: ChurnDrivers
    churn_us: np.ndarray
    last_order_us: np.ndarray
    points_balance: np.ndarray
    engagement_shift: np.ndarray
    satisfaction_shift: np.ndarray
    fading_shift: np.ndarray
    activity_engagement: np.ndarray
    returns_recent: np.ndarray
    offer_effect: np.ndarray
    offer_until_week: np.ndarray
    pending_offer: np.ndarray
    pending_offer_row: np.ndarray
    pending_until_us: np.ndarray

    @classmethod
    def initial(cls, traits: Traits, initial_open_rate: np.ndarray) -> CustomerState:
        n_customers = traits.size
        drivers = ChurnDrivers.for_traits(traits)
        drivers.open_rate_short = initial_open_rate.copy()
        drivers.open_rate_long = initial_open_rate.copy()
        return cls(
            drivers=drivers,
            churn_us=np.full(n_customers, NEVER_US, dtype=np.int64),
            last_order_us=traits.signup_us.copy(),
            points_balance=np.zeros(n_customers),
            engagement_shift=np.zeros(n_customers),
            satisfaction_shift=np.zeros(n_customers),
            fading_shift=np.zeros(n_customers),
            activity_engagement=traits.engagement.copy(),
            returns_recent=np.zeros(n_customers),
            offer_effect=np.zeros(n_customers),
            offer_until_week=np.zeros(n_customers, dtype=np.int32),
            pending_offer=np.full(n_customers, NO_OFFER, dtype=np.int8),
            pending_offer_row=np.zeros(n_customers, dtype=np.int64),
            pending_until_us=np.zeros(n_customers, dtype=np.int64),
        )

    def head(self, n_customers: int) -> CustomerState:
        """Views of the first ``n_customers`` customers (no copy): writes reach this state."""
        values = {
            item.name: getattr(self, item.name)[:n_customers]
            for item in fields(self)
            if item.name != "drivers"
        }
        return CustomerState(drivers=self.drivers.head(n_customers), **values)


def traits_head(traits: Traits, n_customers: int) -> Traits:
    """Views of the first ``n_customers`` customers' traits."""
    return Traits(
        **{item.name: getattr(traits, item.name)[:n_customers] for item in fields(traits)}
    )


@dataclass(frozen=True)
class Week:
    """One simulation step for the customers signed up by its end (a prefix of the chunk).

    A customer is *live* during ``[live_from, live_until)``: from the later of the week's start and
    their sign-up, to the earlier of the week's end and their churn. Not-alive customers have an
    empty window (``live_until == live_from``). Everything a customer does in the week happens
    inside that window, so nothing follows a churn except the residue the e-mail module allows.
    """

    index: int
    start_us: int
    end_us: int
    live_from: np.ndarray
    live_until: np.ndarray
    shopping_season: float

    @property
    def size(self) -> int:
        return len(self.live_from)

    @property
    def live_fraction(self) -> np.ndarray:
        """Share of a full week each customer was live (0 for churned customers)."""
        return (self.live_until - self.live_from) / WEEK_US

    def uniform_times(self, rng: np.random.Generator, customers: np.ndarray) -> np.ndarray:
        """Uniform random instants inside each given customer's live window."""
        span = self.live_until[customers] - self.live_from[customers]
        return self.live_from[customers] + (rng.random(len(customers)) * span).astype(np.int64)
