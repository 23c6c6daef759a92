"""Budgeted multi-offer allocation and the control group.

Each customer gets at most one offer. Choosing, for every customer, the offer (or none) that
maximises the total expected net gain subject to the total budget and each offer's capacity is
a small integer programme: binary ``z[i, k]``, ``sum_k z[i, k] <= 1``, ``sum_ik cost_k z[i, k] <=
budget``, ``sum_i z[i, k] <= capacity_k``. Only pairs with positive gain that the rules allow
enter it. HiGHS (``scipy.optimize.milp``) solves it exactly at campaign sizes; the solution is
checked against every constraint before it is returned, whatever the solver says.

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
    candidates = np.argwhere(np.asarray(allowed, dtype=bool) & (gain > 0))
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
        raise AllocationError(f"offer allocation: solver found no solution ({result.message})")
    picked = result.x > 0.5
    choice[rows[picked]] = offers[picked]
    check_allocation(choice, costs_array, capacities, budget)
    return choice


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
