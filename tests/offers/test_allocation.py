from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from offers.allocation import (
    NO_OFFER,
    AllocationError,
    allocate,
    check_allocation,
    control_group,
    hash_unit,
)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_rows=st.integers(1, 60),
    budget=st.floats(0, 80),
    capacities=st.lists(st.one_of(st.none(), st.integers(0, 15)), min_size=3, max_size=3),
)
def test_budget_and_capacity_are_never_exceeded(
    seed: int, n_rows: int, budget: float, capacities: list[int | None]
) -> None:
    rng = np.random.default_rng(seed)
    gain = rng.normal(1.0, 2.0, (n_rows, 3))
    allowed = rng.random((n_rows, 3)) < 0.7
    costs = [1.0, 2.5, 4.0]

    choice = allocate(gain, allowed, costs, capacities, budget)

    sent = choice[choice != NO_OFFER]
    assert np.asarray(costs)[sent].sum() <= budget + 1e-9
    for k, capacity in enumerate(capacities):
        if capacity is not None:
            assert (sent == k).sum() <= capacity
    rows = np.flatnonzero(choice != NO_OFFER)
    assert allowed[rows, choice[rows]].all()  # never an offer the rules forbid
    assert (gain[rows, choice[rows]] > 0).all()  # never an offer expected to lose money


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    budget=st.floats(0, 30),
    capacities=st.lists(st.one_of(st.none(), st.integers(0, 8)), min_size=3, max_size=3),
)
def test_the_shortlist_loses_no_gain(
    seed: int, budget: float, capacities: list[int | None]
) -> None:
    """Each offer's programme is cut to its best ``reach`` customers; the optimum must not move.
    A few dozen sends among 300 customers make the cut bind, and customers who gain much from
    one offer gain much from the others: the offers compete for the same customers."""
    rng = np.random.default_rng(seed)
    gain = rng.gamma(2.0, 1.0, (300, 1)) * rng.uniform(0.8, 1.2, (300, 3)) - 0.5
    allowed = rng.random((300, 3)) < 0.8
    costs = [1.0, 2.5, 4.0]

    def total(choice: np.ndarray) -> float:
        rows = np.flatnonzero(choice != NO_OFFER)
        return float(gain[rows, choice[rows]].sum())

    trimmed = allocate(gain, allowed, costs, capacities, budget)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            "offers.allocation.shortlist", lambda gain, eligible, *_: np.ones_like(eligible)
        )
        whole = allocate(gain, allowed, costs, capacities, budget)

    assert total(trimmed) == pytest.approx(total(whole), rel=1e-6, abs=1e-9)


def test_allocation_takes_the_best_offer_per_customer_when_money_is_no_object() -> None:
    gain = np.array([[1.0, 3.0], [-1.0, -2.0], [5.0, 0.5]])
    allowed = np.array([[True, True], [True, True], [False, True]])

    choice = allocate(gain, allowed, [1.0, 1.0], [None, None], budget=100.0)

    assert choice.tolist() == [1, NO_OFFER, 1]


def test_a_pair_with_no_gain_is_never_bought_even_with_money_left() -> None:
    gain = np.array([[0.0, -1.0], [1.0, 0.0]])

    choice = allocate(gain, np.ones((2, 2), bool), [1.0, 1.0], [None, None], budget=100.0)

    assert choice.tolist() == [NO_OFFER, 0]


def test_allocation_prefers_gain_per_cost_under_a_tight_budget() -> None:
    # two cheap offers of gain 3 beat one expensive offer of gain 5 for the same money
    gain = np.array([[5.0, 0.0], [0.0, 3.0], [0.0, 3.0]])
    allowed = np.ones((3, 2), dtype=bool)

    choice = allocate(gain, allowed, [2.0, 1.0], [None, None], budget=2.0)

    assert choice.tolist() == [NO_OFFER, 1, 1]


def test_control_group_has_the_requested_share_and_is_reproducible() -> None:
    ids = [f"C{i:07d}" for i in range(20_000)]

    held_out = control_group(ids, "CMP-1", "salt", 0.1)

    # two-sided binomial test at the 1% level: a fixed seed-free hash, so this cannot flake
    assert stats.binomtest(int(held_out.sum()), len(ids), 0.1).pvalue > 0.01
    assert (control_group(ids, "CMP-1", "salt", 0.1) == held_out).all()
    assert (control_group(ids, "CMP-2", "salt", 0.1) != held_out).any()


def test_control_group_is_independent_of_the_customers_score() -> None:
    rng = np.random.default_rng(3)
    ids = [f"C{i:07d}" for i in range(10_000)]
    score = rng.random(len(ids))

    held_out = control_group(ids, "CMP-7", "pepper", 0.2)

    high = score > np.median(score)
    table = [
        [(held_out & high).sum(), (~held_out & high).sum()],
        [(held_out & ~high).sum(), (~held_out & ~high).sum()],
    ]
    assert stats.chi2_contingency(table).pvalue > 0.01
    # and uniform: Kolmogorov-Smirnov against U(0, 1)
    assert stats.kstest(hash_unit(ids, "CMP-7", "pepper"), "uniform").pvalue > 0.01


@pytest.mark.parametrize("budget", [0.0, -1.0])
def test_no_budget_sends_nothing(budget: float) -> None:
    choice = allocate(np.ones((3, 1)), np.ones((3, 1), bool), [1.0], [None], budget)
    assert (choice == NO_OFFER).all()


def test_the_control_hash_is_the_documented_recipe_so_anyone_with_the_salt_can_audit_it() -> None:
    """SHA-256 of ``salt|campaign_id|customer_id``, first 8 bytes big-endian, over 2**64."""
    ids = ["C0000001", "C0000042"]

    def audit(customer_id: str) -> float:
        digest = hashlib.sha256(f"pepper|CMP-7|{customer_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64

    assert hash_unit(ids, "CMP-7", "pepper").tolist() == [audit(c) for c in ids]
    assert hash_unit(["C0000001"], "CMP-1", "salt").tolist() == [0.044318940189763574]


def test_check_allocation_refuses_a_solution_over_the_budget_or_a_capacity() -> None:
    """The last line of defence against a solver answer that breaks a constraint."""
    costs, capacities = [1.0, 2.5], [None, 1]

    check_allocation(np.array([0, 1, NO_OFFER, 0]), costs, capacities, budget=4.5)  # exactly on
    with pytest.raises(AllocationError, match="over the budget"):
        check_allocation(np.array([0, 1, NO_OFFER, 0]), costs, capacities, budget=4.49)  # a cent
    with pytest.raises(AllocationError, match="offer 1: 2 sends, over its capacity 1"):
        check_allocation(np.array([1, 1, NO_OFFER]), costs, capacities, budget=100.0)


def test_a_customer_gets_at_most_one_offer_even_when_two_would_pay() -> None:
    # the better offer has the lower index, and one customer holding both would use the budget
    gain = np.array([[3.0, 1.0], [2.0, 0.0]])
    allowed = np.ones((2, 2), dtype=bool)

    assert allocate(gain, allowed, [1.0, 1.0], [None, None], budget=100.0).tolist() == [0, 0]
    assert allocate(gain, allowed, [1.0, 1.0], [None, None], budget=2.0).tolist() == [0, 0]


def test_no_solution_from_the_solver_is_an_allocation_error_naming_the_time_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        "offers.allocation.optimize.milp",
        lambda **_: SimpleNamespace(x=None, message="Time limit reached."),
    )

    with pytest.raises(AllocationError, match=r"solver_time_limit_s \(5 s\): Time limit reached"):
        allocate(np.ones((3, 1)), np.ones((3, 1), bool), [1.0], [None], 10.0, time_limit_s=5.0)


def test_a_solver_answer_breaking_the_budget_is_refused_not_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever the solver says, the allocation is checked: here it "picks" every pair."""
    monkeypatch.setattr(
        "offers.allocation.optimize.milp",
        lambda c, **_: SimpleNamespace(x=np.ones(len(c)), message="Optimization terminated."),
    )

    with pytest.raises(AllocationError, match="over the budget"):
        allocate(np.ones((3, 2)), np.ones((3, 2), bool), [1.0, 1.0], [None, None], budget=2.0)
