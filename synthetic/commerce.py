"""Orders, offer redemptions and loyalty points for one simulated week.

Order counts are Poisson with a rate set by the customer's order-rate trait, this week's engagement
and the shopping season, scaled by how much of the week the customer was live. An offer is
redeemed on the customer's first non-cancelled order inside its redemption window, which then
carries the offer's discount or extra points — so redemptions show up in the raw data the way a
real checkout would record them, without adding purchases that the churn state never saw.
"""

from __future__ import annotations

import numpy as np

from core.config import GenerateConfig
from synthetic.rows import EVENT_CODE, ORDER_STATUSES, RawRows
from synthetic.state import NO_OFFER, CustomerState, Week
from synthetic.timeline import SECOND_US
from synthetic.traits import Traits

COMPLETED, RETURNED, CANCELLED = (ORDER_STATUSES.index(name) for name in ORDER_STATUSES)
_CANCEL_RATE = 0.03
_RETURN_RATE = 0.05
_PROMO_BASE_RATE = 0.05
_PROMO_PRICE_SENSITIVITY_RATE = 0.12
_PROMO_SHARES = np.array([0.05, 0.1, 0.15, 0.2])
_WELCOME_ORDER_DELAY_US = 20 * 60 * SECOND_US
_POINTS_PER_REDEMPTION = 500.0
_REDEEM_WEEKLY_RATE = 0.12


def decay(half_life_weeks: float) -> float:
    """Weekly multiplier of an exponentially decaying count with this half-life."""
    return float(0.5 ** (1.0 / half_life_weeks))


def weekly_order_rate(traits: Traits, state: CustomerState) -> np.ndarray:
    """Expected orders per full live week, before the shopping season: trait times engagement."""
    return traits.order_rate * np.exp(0.6 * (state.activity_engagement - traits.engagement))


def simulate_orders(
    rng: np.random.Generator,
    week: Week,
    state: CustomerState,
    traits: Traits,
    config: GenerateConfig,
    rows: RawRows,
) -> None:
    """Place this week's orders, redeem pending offers, earn points; update the order drivers.

    ``amount`` is what the customer paid: the list price less ``discount_amount``.
    """
    rate = (
        weekly_order_rate(traits, state) * (1.0 + 0.25 * week.shopping_season) * week.live_fraction
    )
    customers = np.repeat(np.arange(week.size, dtype=np.int32), rng.poisson(rate))
    order_ts = week.uniform_times(rng, customers)
    welcome_customers, welcome_ts = _welcome_orders(rng, week, traits, config)
    customers = np.concatenate([customers, welcome_customers])
    order_ts = np.concatenate([order_ts, welcome_ts])

    n_orders = len(customers)
    items_per_order = traits.items_per_order[customers]
    n_items = 1 + rng.poisson(items_per_order - 1.0)
    unit_price = traits.basket_value[customers] / items_per_order
    list_price = np.round(n_items * unit_price * np.exp(0.25 * rng.standard_normal(n_orders)), 2)
    status = _order_status(rng, state.drivers.satisfaction[customers])
    discount = _promo_discounts(rng, list_price, traits.price_sensitivity[customers])
    channel = (rng.random(n_orders) < traits.app_affinity[customers]).astype(np.int8)
    points_multiplier = _redeem_offers(
        customers, order_ts, status, list_price, discount, state, config, rows
    )
    amount = np.round(list_price - discount, 2)
    rows.orders.append(
        customer=customers,
        ts=order_ts,
        amount=amount,
        n_items=n_items,
        discount=discount,
        channel=channel,
        status=status,
    )
    _earn_points(customers, order_ts, status, amount, points_multiplier, state, traits, rows)
    _update_order_drivers(week, customers, order_ts, status, amount, state)


def simulate_point_redemptions(
    rng: np.random.Generator, week: Week, state: CustomerState, traits: Traits, rows: RawRows
) -> None:
    """Members with enough points sometimes cash them in (a protective churn driver)."""
    enough = traits.loyalty_member & (state.points_balance >= _POINTS_PER_REDEMPTION)
    probability = (
        _REDEEM_WEEKLY_RATE * 2.0 / (1.0 + np.exp(-state.activity_engagement)) * week.live_fraction
    )
    redeemers = np.flatnonzero(enough & (rng.random(week.size) < probability)).astype(np.int32)
    points = _POINTS_PER_REDEMPTION * np.floor(
        state.points_balance[redeemers] / _POINTS_PER_REDEMPTION
    )
    rows.events.append(
        customer=redeemers,
        ts=week.uniform_times(rng, redeemers),
        event=np.full(len(redeemers), EVENT_CODE["loyalty_redeem"]),
        value=points,
    )
    state.points_balance[redeemers] -= points
    redeemed = np.zeros(week.size)
    redeemed[redeemers] = 1.0
    state.drivers.redemptions_recent *= decay(13)
    state.drivers.redemptions_recent += redeemed


def _welcome_orders(
    rng: np.random.Generator, week: Week, traits: Traits, config: GenerateConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Many customers sign up while placing their first order."""
    new = (traits.signup_us >= week.start_us) & (week.live_until > week.live_from)
    ordering = np.flatnonzero(new & (rng.random(week.size) < config.first_order_share))
    order_ts = traits.signup_us[ordering] + rng.integers(0, _WELCOME_ORDER_DELAY_US, len(ordering))
    keep = order_ts < week.live_until[ordering]
    return ordering[keep].astype(np.int32), order_ts[keep]


def _order_status(rng: np.random.Generator, satisfaction: np.ndarray) -> np.ndarray:
    """A few orders are cancelled; unhappy customers return more."""
    draw = rng.random(len(satisfaction))
    return_rate = _RETURN_RATE * np.exp(-0.3 * satisfaction)
    return np.where(
        draw < _CANCEL_RATE,
        CANCELLED,
        np.where(draw < _CANCEL_RATE + return_rate, RETURNED, COMPLETED),
    ).astype(np.int8)


def _promo_discounts(
    rng: np.random.Generator, amount: np.ndarray, price_sensitivity: np.ndarray
) -> np.ndarray:
    """Site-wide promotions: price-sensitive customers hunt for them."""
    promo = rng.random(len(amount)) < (
        _PROMO_BASE_RATE + _PROMO_PRICE_SENSITIVITY_RATE * price_sensitivity
    )
    share = _PROMO_SHARES[rng.integers(0, len(_PROMO_SHARES), len(amount))]
    return np.where(promo, np.round(amount * share, 2), 0.0)


def _redeem_offers(
    customers: np.ndarray,
    order_ts: np.ndarray,
    status: np.ndarray,
    list_price: np.ndarray,
    discount: np.ndarray,
    state: CustomerState,
    config: GenerateConfig,
    rows: RawRows,
) -> np.ndarray:
    """Apply pending offers to each customer's first eligible order; returns points multipliers.

    ``discount`` is updated in place for the redeeming orders.
    """
    multiplier = np.ones(len(customers))
    candidates = np.flatnonzero(
        (state.pending_offer[customers] != NO_OFFER)
        & (order_ts <= state.pending_until_us[customers])
        & (status != CANCELLED)
    )
    if candidates.size == 0:
        return multiplier
    candidates = candidates[np.lexsort((order_ts[candidates], customers[candidates]))]
    owners = customers[candidates]
    first = candidates[np.r_[True, owners[1:] != owners[:-1]]]
    redeemers = customers[first]
    offer = state.pending_offer[redeemers]
    share = np.array([spec.order_discount_share for spec in config.offers])[offer]
    fixed = np.array([spec.order_discount_fixed for spec in config.offers])[offer]
    offered = np.round(list_price[first] * share + fixed, 2)
    discount[first] = np.minimum(list_price[first], np.maximum(discount[first], offered))
    multiplier[first] = np.array([spec.points_multiplier for spec in config.offers])[offer]
    rows.redemptions.append(offer_row=state.pending_offer_row[redeemers], redeemed=order_ts[first])
    state.pending_offer[redeemers] = NO_OFFER
    return multiplier


def _earn_points(
    customers: np.ndarray,
    order_ts: np.ndarray,
    status: np.ndarray,
    net_amount: np.ndarray,
    multiplier: np.ndarray,
    state: CustomerState,
    traits: Traits,
    rows: RawRows,
) -> None:
    """Members earn one point per EUR on completed orders, at checkout."""
    earning = np.flatnonzero(traits.loyalty_member[customers] & (status == COMPLETED))
    points = np.floor(net_amount[earning] * multiplier[earning])
    rows.events.append(
        customer=customers[earning],
        ts=order_ts[earning],
        event=np.full(len(earning), EVENT_CODE["loyalty_earn"]),
        value=points,
    )
    state.points_balance += np.bincount(
        customers[earning], weights=points, minlength=len(state.points_balance)
    )


def _update_order_drivers(
    week: Week,
    customers: np.ndarray,
    order_ts: np.ndarray,
    status: np.ndarray,
    net_amount: np.ndarray,
    state: CustomerState,
) -> None:
    drivers = state.drivers
    n_orders = np.bincount(customers, minlength=week.size)
    spend = np.bincount(customers, weights=net_amount * (status == COMPLETED), minlength=week.size)
    returns = np.bincount(customers, weights=status == RETURNED, minlength=week.size)
    np.maximum.at(state.last_order_us, customers, order_ts)
    short, long_, rate = decay(4), decay(26), decay(13)
    drivers.order_rate_recent *= rate
    drivers.order_rate_recent += (1.0 - rate) * n_orders
    drivers.spend_short *= short
    drivers.spend_short += (1.0 - short) * spend
    drivers.spend_long *= long_
    drivers.spend_long += (1.0 - long_) * spend
    state.returns_recent *= short
    state.returns_recent += returns
