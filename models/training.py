"""Train every candidate: tune on the validation cutoff, calibrate there, score validation and
test, pick the winner on validation (before calibration, see :func:`pick_winner`).

Pure functions of the split frames and the config sections: no files, no MLflow (see
``models.tracking``). The test cutoff is scored here but never used to choose anything — only
to report, and for the promotion gate against the champion.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.config import CandidateConfig, Config, EconomicsConfig, TrainConfig
from models.calibration import calibrate
from models.candidates import (
    FeatureColumns,
    default_params,
    fit_candidate,
    fitted_settings,
    model_inputs,
)
from models.metrics import classification_metrics, score_for
from models.split import LABEL, SplitFrames
from models.tuning import TuningResult, tune


@dataclass(frozen=True)
class MetricSettings:
    """How metrics are computed wherever they are computed (shared with the evaluate stage)."""

    economics: EconomicsConfig
    top_fraction: float = 0.1
    calibration_bins: int = 10

    @classmethod
    def of(cls, config: Config) -> MetricSettings:
        return cls(
            economics=config.economics,
            top_fraction=config.evaluate.top_fraction,
            calibration_bins=config.evaluate.calibration_bins,
        )


@dataclass
class CandidateResult:
    """One trained, calibrated candidate and how it did."""

    name: str
    kind: str
    params: dict[str, Any]
    model: Any
    tuning: TuningResult
    validation_metrics: dict[str, float]
    test_metrics: dict[str, float]
    selection_score: float
    """Primary metric on the validation cutoff before calibration: what picks the winner."""
    fitted: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = 0.0


def predict_churn(model: Any, frame: pd.DataFrame, columns: FeatureColumns) -> np.ndarray:
    """Churn probability per row of ``frame`` (raw feature columns)."""
    return model.predict_proba(model_inputs(frame, columns))[:, 1]


def train_candidate(
    candidate: CandidateConfig,
    frames: SplitFrames,
    columns: FeatureColumns,
    config: TrainConfig,
    metrics: MetricSettings,
    seed: int,
) -> CandidateResult:
    """Tune, refit the best params, calibrate on validation and score validation and test."""
    started = time.perf_counter()
    y_valid = frames.validation[LABEL].to_numpy(dtype=int)

    def fit(params: dict[str, Any]) -> Any:
        return fit_candidate(
            candidate.kind,
            params,
            columns,
            frames.train,
            frames.validation,
            seed=seed,
            n_jobs=config.n_jobs,
            class_weight=config.class_weight,
        )

    best: dict[str, Any] = {"score": -np.inf, "model": None}

    def objective(params: dict[str, Any]) -> float:
        model = fit(params)
        scores = predict_churn(model, frames.validation, columns)
        score = score_for(config.primary_metric, y_valid, scores, metrics.economics)
        if score > best["score"]:  # fits are deterministic: keep the best instead of refitting
            best.update(score=score, model=model)
        return score

    n_trials = candidate.n_trials if candidate.n_trials is not None else config.tuning.n_trials
    tuning = tune(
        objective,
        candidate.params,
        candidate.search,
        n_trials=n_trials,
        seed=seed,
        timeout_seconds=config.tuning.timeout_seconds,
        start_params=default_params(candidate.kind) | candidate.params,
    )
    fitted = best["model"] if best["score"] == tuning.best_score else fit(tuning.best_params)
    model = calibrate(fitted, model_inputs(frames.validation, columns), y_valid, config.calibration)
    return CandidateResult(
        name=candidate.name,
        kind=candidate.kind,
        params=tuning.best_params,
        model=model,
        tuning=tuning,
        validation_metrics=score_rows(model, frames.validation, columns, metrics),
        test_metrics=score_rows(model, frames.test, columns, metrics),
        selection_score=float(tuning.best_score),
        fitted=fitted_settings(fitted),
        train_seconds=time.perf_counter() - started,
    )


def score_rows(
    model: Any, frame: pd.DataFrame, columns: FeatureColumns, metrics: MetricSettings
) -> dict[str, float]:
    """Every headline metric of ``model`` on the labelled rows of ``frame``."""
    return classification_metrics(
        frame[LABEL].to_numpy(dtype=int),
        predict_churn(model, frame, columns),
        metrics.economics,
        metrics.top_fraction,
        metrics.calibration_bins,
    )


def pick_winner(results: Sequence[CandidateResult]) -> CandidateResult:
    """The best candidate on the *validation* cutoff's primary metric before calibration (the
    score tuning maximised); ties go to the earlier candidate in params order (the simpler one,
    if listed first).

    Not on the calibrated model's validation metrics: the calibration map was fitted on those
    very rows, and isotonic pooling shifts each candidate's ranking metrics by its own amount,
    as much as the gaps between candidates; in-sample, the validation ECE is zero for all.
    """
    if not results:
        raise ValueError("no candidates were trained; list at least one under train.candidates")
    return max(results, key=lambda result: result.selection_score)
