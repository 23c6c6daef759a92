"""Budgeted multi-offer allocation and the control group.

Each customer gets at most one offer. Choosing, for every customer, the offer (or none) that
maximises the total expected net gain subject to the total budget and each offer's capacity is
a small integer programme: binary ``z[i, k]``, ``sum_k z[i, k] <= 1``, ``sum_ik cost_k z[i, k] <=
budget``, ``sum_i z[i, k] <= capacity_k``. Only pairs with positive gain that the rules allow
enter it, and of those only each offer's shortlist (:func:`shortlist`: no optimum needs the
rest), which keeps the programme the size of the campaign, not of the customer base. HiGHS
(``scipy.optimize.milp``) solves it exactly at campaign sizes; the solution is checked against
every constraint before it is returned, whatever the solver says.

The control group is drawn from the chosen customers by a salted SHA-256 hash of customer id and
campaign id: reproducible, auditable (anyone with the salt can recompute it) and independent of
the scores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, sparse

NO_OFFER = -1


class AllocationError(RuntimeError):
    """The solver returned no usable solution, or one that breaks a constraint."""


def allocate(
    gain: np.ndarray,
    allowed: np.ndarray,
    costs: Sequence[float],
    capacities: Sequence[int | None],
    budget: float,
    time_limit_s: float = 60.0,
) -> np.ndarray:
    """Offer index per customer (``NO_OFFER`` = none) maximising total gain within the limits.

    ``gain`` and ``allowed`` are customers × offers; pairs not allowed or with gain <= 0 are
    never chosen.
    """
    gain = np.asarray(gain, dtype=float)
    costs_array = np.asarray(costs, dtype=float)
    choice = np.full(gain.shape[0], NO_OFFER, dtype=int)
    eligible = np.asarray(allowed, dtype=bool) & (gain > 0)
    candidates = np.argwhere(eligible & shortlist(gain, eligible, costs_array, capacities, budget))
    if len(candidates) == 0 or budget <= 0:
        return choice
    rows, offers = candidates[:, 0], candidates[:, 1]
    n_vars = len(candidates)
    row_ids = np.unique(rows, return_inverse=True)[1]
    one_offer = sparse.csr_matrix(
        (np.ones(n_vars), (row_ids, np.arange(n_vars))), shape=(row_ids.max() + 1, n_vars)
    )
    constraints = [
        optimize.LinearConstraint(one_offer, -np.inf, 1.0),
        optimize.LinearConstraint(costs_array[offers][None, :], -np.inf, budget),
    ]
    for k, capacity in enumerate(capacities):
        if capacity is not None:
            constraints.append(
                optimize.LinearConstraint((offers == k).astype(float)[None, :], -np.inf, capacity)
            )
    result = optimize.milp(
        c=-gain[rows, offers],
        integrality=np.ones(n_vars),
        bounds=optimize.Bounds(0.0, 1.0),
        constraints=constraints,
        options={"time_limit": time_limit_s, "disp": False},
    )
    if result.x is None:
        raise AllocationError(
            f"offer allocation: the solver found no solution for {n_vars:,} customer-offer "
            f"pairs within offers.solver_time_limit_s ({time_limit_s:g} s): {result.message}"
        )
    picked = result.x > 0.5
    choice[rows[picked]] = offers[picked]
    check_allocation(choice, costs_array, capacities, budget)
    return choice


def shortlist(
    gain: np.ndarray,
    eligible: np.ndarray,
    costs: np.ndarray,
    capacities: Sequence[int | None],
    budget: float,
) -> np.ndarray:
    """customers × offers: the pairs some optimal allocation may need, i.e. per offer its
    ``reach`` eligible customers of highest gain, where ``reach`` is the most customers all
    offers together can ever be sent (each offer's capacity or what the budget buys of it).

    Exact: were a customer outside offer ``k``'s shortlist sent ``k``, at most ``reach - 1``
    other customers hold an offer, so one in the shortlist holds none and gains at least as
    much from ``k`` at the same cost: moving ``k`` to them loses nothing. At 100k customers
    this cut the oracle's programme from 37,943 pairs (no answer within 60 s, 147 s to the
    optimum) to the same optimum in 16 s.
    """
    most = [
        int(budget // cost) if capacity is None else min(capacity, int(budget // cost))
        for cost, capacity in zip(costs, capacities, strict=True)
    ]
    reach = sum(most)
    keep = np.zeros_like(eligible, dtype=bool)
    for k in range(gain.shape[1]):
        rows = np.flatnonzero(eligible[:, k])
        if len(rows) > reach:
            rows = rows[np.argpartition(-gain[rows, k], reach - 1)[:reach]]
        keep[rows, k] = True
    return keep


def check_allocation(
    choice: np.ndarray, costs: Sequence[float], capacities: Sequence[int | None], budget: float
) -> None:
    """Raise if ``choice`` spends more than ``budget`` or sends an offer beyond its capacity."""
    costs_array = np.asarray(costs, dtype=float)
    sent = choice[choice != NO_OFFER]
    spent = float(costs_array[sent].sum())
    if spent > budget + 1e-6:
        raise AllocationError(f"offer allocation spends {spent:.2f}, over the budget {budget:.2f}")
    counts = np.bincount(sent, minlength=len(costs_array))
    for k, capacity in enumerate(capacities):
        if capacity is not None and counts[k] > capacity:
            raise AllocationError(f"offer {k}: {counts[k]} sends, over its capacity {capacity}")


def hash_unit(customer_ids: Sequence[str], campaign_id: str, salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per customer from SHA-256 of ``salt|campaign_id|customer_id``."""
    values = np.empty(len(customer_ids))
    for i, customer_id in enumerate(customer_ids):
        digest = hashlib.sha256(f"{salt}|{campaign_id}|{customer_id}".encode()).digest()
        values[i] = int.from_bytes(digest[:8], "big") / 2.0**64
    return values


def control_group(
    customer_ids: Sequence[str] | pd.Series, campaign_id: str, salt: str, share: float
) -> np.ndarray:
    """Boolean per customer: held out as control (never sent the offer) in this campaign."""
    return hash_unit(list(customer_ids), campaign_id, salt) < share
