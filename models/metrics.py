"""Evaluation metrics for churn scores: ranking, calibration, targeting and campaign profit.

All functions take true labels (1 = churned) and scores (higher = more likely to churn) as
arrays and return plain floats, so they serve training (trial ranking), the promotion gate and
the evaluate stage alike.

The expected maximum profit (EMP) follows Verbraken, Verbeke & Baesens (2013), "A novel profit
maximizing metric for measuring classification performance of customer churn prediction
models", IEEE TKDE 25(5). Targeting the top-scored share of customers, the profit per customer is

    P(k; γ) = CLV·(γ(1−δ) − φ)·TP_k/N − CLV·(δ + φ)·FP_k/N,   δ = d/CLV, φ = f/CLV,

with offer cost ``d``, contact cost ``f``, customer lifetime value ``CLV`` and the share ``γ`` of
contacted churners who accept the offer and stay. For each ``γ`` the campaign picks the best
cut-off; EMP integrates that maximum over ``γ ~ Beta(α, β)``. Each cut-off's profit is a line in
``γ``, so the maximum is their upper envelope and the integral is exact: on each envelope
segment, ∫(aγ + b)h(γ)dγ = a·E[γ; segment] + b·P(segment), both regularised incomplete betas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import betainc
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from core.config import EconomicsConfig


class MetricError(ValueError):
    """Labels or scores cannot be scored (length mismatch, one class only, values out of range)."""


def label_score_arrays(labels: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores as float arrays, refused with a :class:`MetricError` naming what is wrong
    (lengths that differ, no rows, a label other than 0 or 1) before any metric is computed."""
    y = np.asarray(labels, dtype=float).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise MetricError(f"{y.size} labels but {s.size} scores; expected one score per label")
    if y.size == 0:
        raise MetricError("no rows to score")
    if not np.isin(y, (0.0, 1.0)).all():
        raise MetricError("labels must be 0 or 1")
    if np.isnan(s).any():
        raise MetricError(f"{int(np.isnan(s).sum())} scores are NaN")
    return y, s


def expected_calibration_error(labels: object, probabilities: object, bins: int = 10) -> float:
    """Row-weighted mean |mean predicted − observed rate| over ``bins`` equal-width bins of [0, 1].

    Empty bins weigh nothing; a probability of exactly 1 falls in the last bin.
    """
    y, p = label_score_arrays(labels, probabilities)
    if (p < 0).any() or (p > 1).any():
        raise MetricError("probabilities must lie in [0, 1]")
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.sum() * abs(p[members].mean() - y[members].mean())
    return float(total / y.size)


def _top_count(n_rows: int, fraction: float) -> int:
    if not 0 < fraction <= 1:
        raise MetricError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, math.ceil(n_rows * fraction - 1e-9))


def _ranked_labels(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Labels ordered by descending score; ties keep input order (stable sort)."""
    return y[np.argsort(-s, kind="stable")]


def lift_at(labels: object, scores: object, fraction: float = 0.1) -> float:
    """Churn rate among the top ``fraction`` by score divided by the overall churn rate."""
    y, s = label_score_arrays(labels, scores)
    if y.sum() == 0:
        raise MetricError("lift needs at least one churner")
    top = _ranked_labels(y, s)[: _top_count(y.size, fraction)]
    return float(top.mean() / y.mean())


def recall_at(labels: object, scores: object, fraction: float = 0.1) -> float:
    """Share of all churners found in the top ``fraction`` by score."""
    y, s = label_score_arrays(labels, scores)
    if y.sum() == 0:
        raise MetricError("recall needs at least one churner")
    top = _ranked_labels(y, s)[: _top_count(y.size, fraction)]
    return float(top.sum() / y.sum())


@dataclass(frozen=True)
class Cutoffs:
    """Cumulative counts when targeting everyone with score ≥ each distinct threshold.

    Row 0 targets nobody; ties in score are targeted together (one ROC point).
    """

    thresholds: np.ndarray
    true_positives: np.ndarray
    false_positives: np.ndarray
    n_rows: int


def targeting_cutoffs(labels: object, scores: object) -> Cutoffs:
    y, s = label_score_arrays(labels, scores)
    order = np.argsort(-s, kind="stable")
    ranked_scores, ranked_labels = s[order], y[order]
    last_of_tie = np.r_[ranked_scores[1:] != ranked_scores[:-1], True]
    tp = np.cumsum(ranked_labels)[last_of_tie]
    fp = np.cumsum(1 - ranked_labels)[last_of_tie]
    return Cutoffs(
        thresholds=np.r_[np.inf, ranked_scores[last_of_tie]],
        true_positives=np.r_[0.0, tp],
        false_positives=np.r_[0.0, fp],
        n_rows=y.size,
    )


def _profit_lines(cutoffs: Cutoffs, economics: EconomicsConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer profit of each cut-off as slope·γ + intercept."""
    clv = economics.customer_value
    delta, phi = economics.offer_cost / clv, economics.contact_cost / clv
    tp_share = cutoffs.true_positives / cutoffs.n_rows
    fp_share = cutoffs.false_positives / cutoffs.n_rows
    slope = clv * (1 - delta) * tp_share
    intercept = -clv * phi * tp_share - clv * (delta + phi) * fp_share
    return slope, intercept


def profit_at_acceptance(
    labels: object, scores: object, economics: EconomicsConfig, acceptance: float
) -> np.ndarray:
    """Profit per customer of every cut-off (see :func:`targeting_cutoffs`) for one ``γ``."""
    slope, intercept = _profit_lines(targeting_cutoffs(labels, scores), economics)
    return slope * acceptance + intercept


@dataclass(frozen=True)
class MaxProfit:
    """The best cut-off for the mean acceptance rate: profit per customer, share targeted."""

    profit_per_customer: float
    targeted_share: float
    threshold: float


def max_profit(labels: object, scores: object, economics: EconomicsConfig) -> MaxProfit:
    """Profit at the best threshold when the acceptance rate is its mean α / (α + β)."""
    cutoffs = targeting_cutoffs(labels, scores)
    slope, intercept = _profit_lines(cutoffs, economics)
    mean_acceptance = economics.acceptance_alpha / (
        economics.acceptance_alpha + economics.acceptance_beta
    )
    profits = slope * mean_acceptance + intercept
    best = int(np.argmax(profits))
    targeted = (cutoffs.true_positives[best] + cutoffs.false_positives[best]) / cutoffs.n_rows
    return MaxProfit(
        profit_per_customer=float(profits[best]),
        targeted_share=float(targeted),
        threshold=float(cutoffs.thresholds[best]),
    )


@dataclass(frozen=True)
class ExpectedMaxProfit:
    """EMP per customer and the expected share of customers the optimal campaign targets."""

    emp: float
    targeted_share: float


def _upper_envelope(slope: np.ndarray, intercept: np.ndarray) -> list[tuple[int, float, float]]:
    """Which line is highest on which part of [0, 1]: (line index, γ from, γ to).

    Sweeps γ upwards from 0: the winner at a γ is the highest line, ties to the steeper one;
    the next winner is the steeper line that overtakes it first.
    """
    segments = []
    gamma = 0.0
    current = int(np.lexsort((-slope, -(intercept + slope * gamma)))[0])
    while gamma < 1.0:
        steeper = slope > slope[current]
        if not steeper.any():
            segments.append((current, gamma, 1.0))
            break
        crossing = np.full(slope.shape, np.inf)
        crossing[steeper] = (intercept[current] - intercept[steeper]) / (
            slope[steeper] - slope[current]
        )
        crossing[crossing < gamma] = gamma
        next_gamma = float(crossing.min())
        if next_gamma >= 1.0:
            segments.append((current, gamma, 1.0))
            break
        candidates = np.flatnonzero(crossing == next_gamma)
        successor = int(candidates[np.argmax(slope[candidates])])
        if next_gamma > gamma:
            segments.append((current, gamma, next_gamma))
        current, gamma = successor, next_gamma
    return segments


def expected_maximum_profit(
    labels: object, scores: object, economics: EconomicsConfig
) -> ExpectedMaxProfit:
    """EMP per customer (Verbraken et al. 2013), integrated exactly over γ ~ Beta(α, β)."""
    cutoffs = targeting_cutoffs(labels, scores)
    slope, intercept = _profit_lines(cutoffs, economics)
    a, b = economics.acceptance_alpha, economics.acceptance_beta
    mean = a / (a + b)
    targeted = (cutoffs.true_positives + cutoffs.false_positives) / cutoffs.n_rows
    emp = share = 0.0
    for line, low, high in _upper_envelope(slope, intercept):
        probability = betainc(a, b, high) - betainc(a, b, low)
        partial_mean = mean * (betainc(a + 1, b, high) - betainc(a + 1, b, low))
        emp += slope[line] * partial_mean + intercept[line] * probability
        share += targeted[line] * probability
    return ExpectedMaxProfit(emp=float(emp), targeted_share=float(share))


def classification_metrics(
    labels: object,
    probabilities: object,
    economics: EconomicsConfig,
    top_fraction: float = 0.1,
    calibration_bins: int = 10,
) -> dict[str, float]:
    """Every headline metric of one model on one set of rows."""
    y, p = label_score_arrays(labels, probabilities)
    if y.min() == y.max():
        raise MetricError("metrics need both churners and non-churners among the rows")
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    emp = expected_maximum_profit(y, p, economics)
    best = max_profit(y, p, economics)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p, calibration_bins),
        "top_lift": lift_at(y, p, top_fraction),
        "top_recall": recall_at(y, p, top_fraction),
        "emp": emp.emp,
        "emp_targeted_share": emp.targeted_share,
        "max_profit": best.profit_per_customer,
        "max_profit_targeted_share": best.targeted_share,
        "max_profit_threshold": best.threshold,
        "churn_rate": float(y.mean()),
        "mean_probability": float(p.mean()),
        "rows": float(y.size),
    }


def score_for(metric: str, labels: object, scores: object, economics: EconomicsConfig) -> float:
    """The primary metric by name: ``pr_auc``, ``roc_auc`` or ``emp`` (higher is better)."""
    y, s = label_score_arrays(labels, scores)
    if metric == "pr_auc":
        return float(average_precision_score(y, s))
    if metric == "roc_auc":
        return float(roc_auc_score(y, s))
    if metric == "emp":
        return expected_maximum_profit(y, s, economics).emp
    raise MetricError(f"unknown primary metric {metric!r}; expected pr_auc, roc_auc or emp")


def curve_points(values: pd.DataFrame, x: str, points: int) -> pd.DataFrame:
    """At most ``points`` rows of a curve, evenly spaced by row, first and last kept.

    Keeps DVC plot files small enough to commit without changing the curve's shape visibly.
    """
    if len(values) <= points:
        return values.reset_index(drop=True)
    index = np.unique(np.linspace(0, len(values) - 1, points).round().astype(int))
    return values.iloc[index].sort_values(x, kind="stable").reset_index(drop=True)
