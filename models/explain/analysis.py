"""Tables behind the analysts' report: what drives churn overall, per segment, per outcome.

Pure functions of an :class:`~models.explain.contributions.Explanation` (and the explained
rows), so the report only draws. Importance is mean absolute SHAP value, in log-odds and in
probability points; reason groups (``features.reason_templates``) sum their features first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.logging import get_logger
from core.names import absent_names
from features.reason_templates import template_for
from models.explain.contributions import Explanation

_log = get_logger(__name__)

TIER_NAMES = ("low", "medium", "high", "very high", "extreme")


def feature_groups(features: Sequence[str]) -> dict[str, str]:
    """``{feature: reason group}`` for every feature."""
    return {feature: template_for(feature).group.name for feature in features}


def by_group(contributions: pd.DataFrame) -> pd.DataFrame:
    """Contributions summed per reason group (columns: groups, in first-feature order)."""
    groups = feature_groups(contributions.columns)
    order = list(dict.fromkeys(groups.values()))
    return contributions.T.groupby(pd.Series(groups)).sum().T[order]


def importance(explanation: Explanation) -> pd.DataFrame:
    """Per feature: mean |SHAP| in log-odds and probability points, group, family; largest first."""
    log_odds = explanation.contributions.abs().mean()
    points = explanation.probability_contributions().abs().mean()
    groups = feature_groups(log_odds.index)
    table = pd.DataFrame(
        {
            "mean_abs_log_odds": log_odds,
            "mean_abs_probability": points,
            "group": pd.Series(groups),
            "family": [template_for(f).definition.family for f in log_odds.index],
        }
    )
    return table.sort_values("mean_abs_log_odds", ascending=False)


def group_importance(explanation: Explanation) -> pd.DataFrame:
    """Per reason group: mean |summed SHAP| in log-odds and probability points; largest first."""
    log_odds = by_group(explanation.contributions).abs().mean()
    points = by_group(explanation.probability_contributions()).abs().mean()
    table = pd.DataFrame({"mean_abs_log_odds": log_odds, "mean_abs_probability": points})
    return table.sort_values("mean_abs_log_odds", ascending=False)


def segments(
    frame: pd.DataFrame,
    columns: Sequence[str],
    value_feature: str,
    tenure_feature: str,
    bands: int,
) -> dict[str, pd.Series]:
    """Segment labels per row: each categorical column, and quantile bands of value and tenure.

    Missing columns are skipped (a family switched off); a name that misspells a column raises
    ``SettingNameError`` (``core.names``). A feature with too few distinct values for ``bands``
    bands gets as many as it has.
    """
    labels: dict[str, pd.Series] = {}
    named = {
        "explain.segment_columns": columns,
        "explain.value_feature": [value_feature],
        "explain.tenure_feature": [tenure_feature],
    }
    absent = absent_names(named, frame.columns)
    if absent:
        _log.warning(
            "segment columns not in the feature table skipped",
            reason="a typo, or the family or table that makes them is absent",
            settings="explain.segment_columns, value_feature, tenure_feature",
            columns=absent,
        )
    for column in columns:
        if column in frame.columns:
            labels[column.removeprefix("static_")] = frame[column].astype(str).fillna("missing")
    names = {value_feature: ("value", "low", "high"), tenure_feature: ("tenure", "new", "long")}
    for feature, (what, low, high) in names.items():
        if feature not in frame.columns:
            continue
        band = pd.qcut(frame[feature].astype(float), bands, labels=False, duplicates="drop")
        top = band.max()
        labels[what] = band.map(
            lambda b, top=top, low=low, high=high: (
                "missing"
                if pd.isna(b)
                else low
                if b == 0
                else high
                if b == top
                else f"band {int(b) + 1}"
            )
        )
    return labels


def segment_drivers(
    explanation: Explanation, labels: dict[str, pd.Series], min_rows: int = 30
) -> pd.DataFrame:
    """Mean summed SHAP (probability points) per reason group, one row per segment value.

    Signed means: a positive cell is a group pushing that segment's churn risk up on average.
    Segments with fewer than ``min_rows`` rows are left out.
    """
    grouped = by_group(explanation.probability_contributions())
    rows = []
    for segment, values in labels.items():
        values = values.set_axis(grouped.index)
        for value, members in grouped.groupby(values):
            if len(members) >= min_rows:
                mean = members.mean()
                mean.name = f"{segment}: {value} ({len(members)})"
                rows.append(mean)
    return pd.DataFrame(rows)


def outcome_drivers(explanation: Explanation, churned: pd.Series) -> pd.DataFrame:
    """Mean summed SHAP (probability points) per reason group for churners and stayers, and
    the difference (churners minus stayers), largest difference first."""
    grouped = by_group(explanation.probability_contributions())
    outcome = churned.set_axis(grouped.index).astype(int)
    table = pd.DataFrame(
        {
            "churners": grouped[outcome == 1].mean(),
            "stayers": grouped[outcome == 0].mean(),
        }
    )
    table["difference"] = table["churners"] - table["stayers"]
    return table.sort_values("difference", ascending=False)


def risk_tiers(probability: np.ndarray, cut_points: Sequence[float]) -> np.ndarray:
    """Tier name per row: ``low`` below the first cut point, then ``medium``, ``high``, …"""
    if len(cut_points) + 1 > len(TIER_NAMES):
        raise ValueError(f"at most {len(TIER_NAMES) - 1} risk-tier cut points")
    index = np.searchsorted(np.asarray(cut_points), probability, side="right")
    return np.asarray(TIER_NAMES)[index]


def tier_examples(explanation: Explanation, cut_points: Sequence[float]) -> dict[str, int]:
    """One example row position per tier: the customer at the tier's median churn probability
    (a typical member, not an outlier); tiers without customers are left out."""
    tiers = risk_tiers(explanation.churn_probability, cut_points)
    examples: dict[str, int] = {}
    for tier in TIER_NAMES[: len(cut_points) + 1]:
        positions = np.flatnonzero(tiers == tier)
        if positions.size:
            probabilities = explanation.churn_probability[positions]
            median = np.median(probabilities)
            examples[tier] = int(positions[np.argmin(np.abs(probabilities - median))])
    return examples
