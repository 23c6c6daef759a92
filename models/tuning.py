"""Seeded hyperparameter search with Optuna on the validation cutoff.

The search is a function of its inputs: TPE with a fixed seed, trials run one after another, the
candidate's own params enqueued as the first trial (so tuning can only match or beat them on the
validation cutoff). ``timeout_seconds`` caps wall time; when it bites, the trial count depends on
the machine's speed and the result is no longer reproducible — prefer ``n_trials``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna

from core.config import SearchParam


@dataclass(frozen=True)
class TuningResult:
    """The best params (fixed params with the tuned ones on top) and every trial's score."""

    best_params: dict[str, Any]
    best_score: float
    trials: list[dict[str, Any]] = field(default_factory=list)


def suggest(trial: optuna.Trial, name: str, space: SearchParam) -> Any:
    """Draw one hyperparameter from its search range."""
    if space.type == "categorical":
        return trial.suggest_categorical(name, space.choices or [])
    assert space.low is not None and space.high is not None
    if space.type == "int":
        return trial.suggest_int(name, int(space.low), int(space.high), log=space.log)
    return trial.suggest_float(name, float(space.low), float(space.high), log=space.log)


def tune(
    objective: Callable[[dict[str, Any]], float],
    fixed_params: Mapping[str, Any],
    search: Mapping[str, SearchParam],
    n_trials: int,
    seed: int,
    timeout_seconds: float | None = None,
    start_params: Mapping[str, Any] | None = None,
) -> TuningResult:
    """Maximise ``objective(params)`` over ``search``; no search or no trials → one evaluation.

    ``start_params`` (defaults for the searched names) become the first trial where they fall
    inside the search space.
    """
    if not search or n_trials == 0:
        params = dict(fixed_params)
        score = objective(params)
        return TuningResult(params, score, [{"number": 0, "params": {}, "score": score}])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    first = {
        name: value
        for name, value in (start_params or {}).items()
        if name in search and _inside(value, search[name])
    }
    if len(first) == len(search):
        study.enqueue_trial(first)

    def run_trial(trial: optuna.Trial) -> float:
        # sorted: the draws must not depend on the order params.yaml happens to list them in
        tuned = {name: suggest(trial, name, search[name]) for name in sorted(search)}
        return objective(dict(fixed_params) | tuned)

    study.optimize(run_trial, n_trials=n_trials, timeout=timeout_seconds, n_jobs=1)
    trials = [
        {"number": t.number, "params": dict(t.params), "score": t.value}
        for t in study.trials
        if t.value is not None
    ]
    return TuningResult(
        best_params=dict(fixed_params) | dict(study.best_params),
        best_score=float(study.best_value),
        trials=trials,
    )


def _inside(value: Any, space: SearchParam) -> bool:
    if space.type == "categorical":
        return value in (space.choices or [])
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    assert space.low is not None and space.high is not None
    return space.low <= value <= space.high
