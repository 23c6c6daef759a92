"""Curves behind the evaluation plots: ROC, precision-recall, reliability, gains/lift, profit.

Each returns a small DataFrame (downsampled to ``points`` rows) that the evaluate stage writes as a
DVC plot file and the train stage logs to MLflow, so both show the same numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from core.config import EconomicsConfig
from models.metrics import curve_points, label_score_arrays, profit_at_acceptance, targeting_cutoffs


def roc(labels: object, scores: object, points: int = 101) -> pd.DataFrame:
    y, s = label_score_arrays(labels, scores)
    fpr, tpr, _ = roc_curve(y, s)
    return curve_points(pd.DataFrame({"fpr": fpr, "tpr": tpr}), "fpr", points)


def precision_recall(labels: object, scores: object, points: int = 101) -> pd.DataFrame:
    y, s = label_score_arrays(labels, scores)
    precision, recall, _ = precision_recall_curve(y, s)
    frame = pd.DataFrame({"recall": recall, "precision": precision}).iloc[::-1]
    return curve_points(frame, "recall", points)


def reliability(labels: object, probabilities: object, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability vs observed churn rate per equal-width bin (empty bins out)."""
    y, p = label_score_arrays(labels, probabilities)
    index = np.minimum((p * bins).astype(int), bins - 1)
    frame = pd.DataFrame({"bin": index, "predicted": p, "observed": y})
    grouped = frame.groupby("bin").agg(
        predicted=("predicted", "mean"), observed=("observed", "mean"), rows=("observed", "size")
    )
    return grouped.reset_index(drop=True)


def gains(labels: object, scores: object, points: int = 101) -> pd.DataFrame:
    """Cumulative share of churners found vs share of customers targeted, and the lift."""
    cutoffs = targeting_cutoffs(labels, scores)
    targeted = (cutoffs.true_positives + cutoffs.false_positives) / cutoffs.n_rows
    found = cutoffs.true_positives / max(cutoffs.true_positives[-1], 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(targeted > 0, found / targeted, np.nan)
    frame = pd.DataFrame({"targeted_share": targeted, "churners_found": found, "lift": lift})
    return curve_points(frame.iloc[1:], "targeted_share", points)


def profit(
    labels: object, scores: object, economics: EconomicsConfig, points: int = 101
) -> pd.DataFrame:
    """Campaign profit per customer vs share targeted, at the mean acceptance rate."""
    cutoffs = targeting_cutoffs(labels, scores)
    mean_acceptance = economics.acceptance_alpha / (
        economics.acceptance_alpha + economics.acceptance_beta
    )
    values = profit_at_acceptance(labels, scores, economics, mean_acceptance)
    targeted = (cutoffs.true_positives + cutoffs.false_positives) / cutoffs.n_rows
    frame = pd.DataFrame({"targeted_share": targeted, "profit_per_customer": values})
    return curve_points(frame, "targeted_share", points)
