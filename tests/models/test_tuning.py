from __future__ import annotations

from typing import Any

from core.config import SearchParam
from models.tuning import tune

SEARCH = {
    "x": SearchParam(type="float", low=-5.0, high=5.0),
    "depth": SearchParam(type="int", low=1, high=9),
    "kind": SearchParam(type="categorical", choices=["a", "b"]),
}


def _objective(calls: list[dict[str, Any]]) -> Any:
    def objective(params: dict[str, Any]) -> float:
        calls.append(params)
        return -((params["x"] - 1.0) ** 2) - abs(params["depth"] - 4) + (params["kind"] == "b")

    return objective


def test_same_seed_same_trials_and_budget_respected() -> None:
    first_calls: list[dict[str, Any]] = []
    second_calls: list[dict[str, Any]] = []

    first = tune(_objective(first_calls), {"fixed": 7}, SEARCH, n_trials=6, seed=11)
    second = tune(_objective(second_calls), {"fixed": 7}, SEARCH, n_trials=6, seed=11)

    assert first_calls == second_calls
    assert len(first_calls) == 6
    assert first.best_params == second.best_params
    assert first.best_params["fixed"] == 7
    assert first.best_score == max(t["score"] for t in first.trials)


def test_start_params_are_the_first_trial_so_tuning_never_loses_to_them() -> None:
    calls: list[dict[str, Any]] = []
    start = {"x": 1.0, "depth": 4, "kind": "b"}  # the optimum

    result = tune(_objective(calls), {}, SEARCH, n_trials=3, seed=0, start_params=start)

    assert calls[0] == start
    assert result.best_params == start
    assert result.best_score == 1.0


def test_no_search_evaluates_the_fixed_params_once() -> None:
    calls: list[dict[str, Any]] = []

    result = tune(_objective(calls), {"x": 0.0, "depth": 4, "kind": "a"}, {}, 10, seed=0)

    assert len(calls) == 1
    assert result.best_score == -1.0


def test_the_order_of_the_search_space_does_not_change_the_draws() -> None:
    first_calls: list[dict[str, Any]] = []
    second_calls: list[dict[str, Any]] = []
    reversed_search = dict(reversed(list(SEARCH.items())))

    tune(_objective(first_calls), {}, SEARCH, n_trials=4, seed=3)
    tune(_objective(second_calls), {}, reversed_search, n_trials=4, seed=3)

    assert first_calls == second_calls
