"""Evaluation on the test cutoff: per-model metrics, segments, curves, the oracle, a backtest.

Functions of DataFrames, fitted models and config sections; the evaluate stage writes what they
return as DVC metrics and plots.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from core.config import EvaluateConfig, TrainConfig
from core.logging import get_logger
from core.names import absent_names
from models import curves
from models.calibration import calibrate
from models.candidates import CandidateError, FeatureColumns, fit_candidate, model_inputs
from models.metrics import MetricError, classification_metrics
from models.split import KEYS, LABEL, CutoffSplit, split_frame
from models.training import MetricSettings, predict_churn

_log = get_logger(__name__)

ORACLE = "oracle"
ORACLE_COLUMN = "p_churn_no_offer"
RATIO_METRICS = ("roc_auc", "pr_auc", "emp", "top_lift")


def metrics_of(
    labels: np.ndarray, scores: np.ndarray, settings: MetricSettings
) -> dict[str, float]:
    return classification_metrics(
        labels, scores, settings.economics, settings.top_fraction, settings.calibration_bins
    )


def oracle_scores(test: pd.DataFrame, truth: pd.DataFrame) -> tuple[np.ndarray, float]:
    """The synthetic world's true churn probability for each test row, and the share matched.

    The truth covers customers still alive at the cutoff; a test row without a truth row is a
    customer the simulator had already churned, who will surely place no order: probability 1.
    """
    truth_keys = truth[[*KEYS, ORACLE_COLUMN]].copy()
    truth_keys["cutoff_date"] = pd.to_datetime(truth_keys["cutoff_date"]).dt.date
    rows = test[list(KEYS)].copy()
    rows["cutoff_date"] = pd.to_datetime(rows["cutoff_date"]).dt.date
    rows["customer_id"] = rows["customer_id"].astype(str)
    truth_keys["customer_id"] = truth_keys["customer_id"].astype(str)
    joined = rows.merge(truth_keys, on=list(KEYS), how="left", validate="one_to_one")
    matched = float(joined[ORACLE_COLUMN].notna().mean())
    return joined[ORACLE_COLUMN].fillna(1.0).to_numpy(dtype=float), matched


def oracle_ratios(model: Mapping[str, float], oracle: Mapping[str, float]) -> dict[str, float]:
    """Model metric / oracle metric for the ranking and profit metrics (1.0 = as good as truth)."""
    return {
        name: model[name] / oracle[name]
        for name in RATIO_METRICS
        if name in model and name in oracle and oracle[name] != 0
    }


def segment_labels(test: pd.DataFrame, config: EvaluateConfig) -> pd.DataFrame:
    """One column per segmentation of the test rows: the listed categorical columns as they are,
    tenure and value cut into ``bands`` quantile bands (``q1`` = lowest).

    Raises ``SettingNameError`` for a setting that misspells a column (``core.names``).
    """
    segments = pd.DataFrame(index=test.index)
    named = {
        "evaluate.segment_columns": config.segment_columns,
        "evaluate.tenure_feature": [config.tenure_feature],
        "evaluate.value_feature": [config.value_feature],
    }
    absent = absent_names(named, test.columns)
    if absent:
        _log.warning(
            "segment columns not in the feature table skipped",
            reason="a typo, or the family or table that makes them is absent",
            settings="evaluate.segment_columns, tenure_feature, value_feature",
            columns=absent,
        )
    for column in config.segment_columns:
        if column in test.columns:
            segments[column] = test[column].astype(object).where(test[column].notna(), "missing")
    for name, column in (
        ("tenure_band", config.tenure_feature),
        ("value_band", config.value_feature),
    ):
        if column in test.columns:
            segments[name] = _bands(test[column], config.bands)
    return segments.astype(str)


def _bands(values: pd.Series, bands: int) -> pd.Series:
    ranks = values.rank(method="first")
    codes = pd.qcut(ranks, bands, labels=False, duplicates="drop")
    labelled = "q" + (codes + 1).astype("Int64").astype(str)
    return labelled.where(values.notna(), "missing")


def segment_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    segments: pd.DataFrame,
    settings: MetricSettings,
    min_rows: int,
) -> dict[str, dict[str, dict[str, float]]]:
    """Headline metrics per segment value; small or single-class segments get counts only."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    keep = ("roc_auc", "pr_auc", "ece", "brier", "churn_rate", "mean_probability", "top_lift")
    for column in segments.columns:
        result[column] = {}
        for value, members in segments.groupby(column).groups.items():
            index = segments.index.get_indexer(members)
            rows = {"rows": float(len(index)), "churn_rate": float(labels[index].mean())}
            if len(index) >= min_rows:
                try:
                    values = metrics_of(labels[index], scores[index], settings)
                    rows |= {name: values[name] for name in keep}
                except MetricError:
                    pass
            result[column][str(value)] = rows
    return result


def curve_tables(
    labels: np.ndarray, scores: np.ndarray, settings: MetricSettings, points: int
) -> dict[str, pd.DataFrame]:
    """The five plot tables of one model."""
    return {
        "roc": curves.roc(labels, scores, points),
        "precision_recall": curves.precision_recall(labels, scores, points),
        "calibration": curves.reliability(labels, scores, settings.calibration_bins),
        "gains": curves.gains(labels, scores, points),
        "profit": curves.profit(labels, scores, settings.economics, points),
    }


def backtest(
    frame: pd.DataFrame,
    origins: list[CutoffSplit],
    kind: str,
    params: Mapping[str, Any],
    columns: FeatureColumns,
    train: TrainConfig,
    settings: MetricSettings,
    seed: int,
    truth: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Refit ``kind`` with ``params`` (no re-tuning) at each origin; metrics on its test cutoff.

    Stable metrics across origins say the model does not depend on one lucky month.
    """

    def refit(split: CutoffSplit) -> dict[str, Any] | None:
        """One origin's row; ``None`` when it cannot be refitted. A function of its own so that
        the origin's rows and model are freed on return: kept in loop variables, they stayed
        resident while the next origin split and fitted."""
        frames = split_frame(frame, split, share=True)
        try:
            model = fit_candidate(
                kind,
                params,
                columns,
                frames.train,
                frames.validation,
                seed,
                train.n_jobs,
                train.class_weight,
            )
        except CandidateError as error:
            # a source that starts late (a support tool adopted last spring) leaves an earlier
            # origin without values of a feature the champion uses: it cannot be refitted
            _log.warning("backtest origin skipped", test_cutoff=str(split.test), reason=str(error))
            return None
        y_valid = frames.validation[LABEL].to_numpy(dtype=int)
        model = calibrate(
            model, model_inputs(frames.validation, columns), y_valid, train.calibration
        )
        labels = frames.test[LABEL].to_numpy(dtype=int)
        values = metrics_of(labels, predict_churn(model, frames.test, columns), settings)
        row: dict[str, Any] = {
            "test_cutoff": split.test.isoformat(),
            "train_cutoffs": len(split.train),
            **{k: values[k] for k in ("roc_auc", "pr_auc", "ece", "brier", "emp", "top_lift")},
        }
        if truth is not None:
            oracle, _ = oracle_scores(frames.test, truth)
            row["oracle_roc_auc"] = metrics_of(labels, oracle, settings)["roc_auc"]
        return row

    rows = (refit(split) for split in origins)
    return [row for row in rows if row is not None]


def stability(rows: list[dict[str, Any]], metric: str) -> dict[str, float]:
    """Mean, standard deviation and range of one metric over the backtest origins."""
    values = np.array([row[metric] for row in rows], dtype=float)
    if values.size == 0:
        return {}
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=0)),
        "min": float(values.min()),
        "max": float(values.max()),
    }
