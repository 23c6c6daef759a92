"""Reason codes: the two or three plain reasons behind one customer's churn risk.

Contributions are first summed per reason group (``features.reason_templates.GROUPS``), so ten
correlated columns of one driver make one reason and cannot crowd out the others. Within a group
the feature pushing hardest in the group's direction is the *lead*, and its template words the
reason with the customer's own values. Each code carries its family and whether the business
can act on it, so the CRM can show what to do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.reason_templates import render, template_for

Direction = Literal["raises", "lowers"]


@dataclass(frozen=True)
class ReasonCode:
    """One reason: the group's summed contribution (log-odds) worded from its lead feature."""

    feature: str
    family: str
    group: str
    text: str
    direction: Direction
    contribution: float
    actionable: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def group_contributions(contributions: Mapping[str, float] | pd.Series) -> dict[str, float]:
    """Summed contribution per reason group (every feature belongs to exactly one)."""
    totals: dict[str, float] = {}
    for feature, value in dict(contributions).items():
        group = template_for(feature).group.name
        totals[group] = totals.get(group, 0.0) + float(value)
    return totals


def reason_codes(
    contributions: Mapping[str, float] | pd.Series,
    values: Mapping[str, Any] | pd.Series,
    top_k: int = 3,
    include_lowering: bool = False,
    min_contribution: float = 0.0,
) -> list[ReasonCode]:
    """The ``top_k`` groups raising risk most (largest first), then, with ``include_lowering``,
    the ``top_k`` lowering it most.

    ``contributions`` are one row's SHAP values on original feature names (log-odds);
    ``values`` that row's feature values (the template quotes them). Groups whose summed
    contribution is not beyond ``min_contribution`` in their direction are left out.
    """
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    row = {feature: float(value) for feature, value in dict(contributions).items()}
    values = dict(values)
    members: dict[str, list[str]] = {}
    for feature in row:
        members.setdefault(template_for(feature).group.name, []).append(feature)
    totals = {group: sum(row[f] for f in features) for group, features in members.items()}
    raising = sorted(
        (g for g, total in totals.items() if total > min_contribution), key=lambda g: -totals[g]
    )
    codes = [
        code_for_group(g, members[g], row, values, "raises", totals[g]) for g in raising[:top_k]
    ]
    if include_lowering:
        lowering = sorted(
            (g for g, total in totals.items() if total < -min_contribution),
            key=lambda g: totals[g],
        )
        codes += [
            code_for_group(g, members[g], row, values, "lowers", totals[g])
            for g in lowering[:top_k]
        ]
    return codes


def reasons_for_rows(
    explanation: Any,
    top_k: int = 3,
    include_lowering: bool = False,
    min_contribution: float = 0.0,
) -> list[list[ReasonCode]]:
    """:func:`reason_codes` for every row of a ``models.explain.Explanation``, in row order.

    Same result as calling :func:`reason_codes` per row; group totals are computed for all rows
    at once, so only the chosen reasons are worded (thousands of customers in seconds).
    """
    contributions = explanation.contributions
    features = list(contributions.columns)
    groups = [template_for(feature).group.name for feature in features]
    names = list(dict.fromkeys(groups))
    membership = np.array([[group == name for name in names] for group in groups], dtype=float)
    matrix = contributions.to_numpy(dtype=float)
    totals = matrix @ membership
    members = {name: [i for i, g in enumerate(groups) if g == name] for name in names}
    values = explanation.values
    result = []
    for position in range(len(matrix)):
        row_totals = totals[position]
        chosen: list[tuple[int, Direction]] = []
        order = np.argsort(-row_totals, kind="stable")
        chosen += [(g, "raises") for g in order if row_totals[g] > min_contribution][:top_k]
        if include_lowering:
            order = np.argsort(row_totals, kind="stable")
            chosen += [(g, "lowers") for g in order if row_totals[g] < -min_contribution][:top_k]
        codes = []
        if chosen:
            row = dict(zip(features, matrix[position], strict=True))
            row_values = values.iloc[position].to_dict()
            for g, direction in chosen:
                group_features = [features[i] for i in members[names[g]]]
                codes.append(
                    code_for_group(
                        names[g], group_features, row, row_values, direction, row_totals[g]
                    )
                )
        result.append(codes)
    return result


def reasons_json(codes: list[ReasonCode]) -> str:
    """The codes as the JSON list the snapshot file and the service carry."""
    return json.dumps([_jsonable(code.as_dict()) for code in codes], sort_keys=True)


def code_for_group(
    group: str,
    features: list[str],
    row: Mapping[str, float],
    values: Mapping[str, Any],
    direction: Direction,
    total: float,
) -> ReasonCode:
    """One group's reason code; public because the service's fast path words its codes with it."""
    sign = 1.0 if direction == "raises" else -1.0
    lead = max(features, key=lambda feature: sign * row[feature])
    resolved = template_for(lead)
    return ReasonCode(
        feature=lead,
        family=resolved.definition.family,
        group=group,
        text=render(lead, values, raises=direction == "raises"),
        direction=direction,
        contribution=float(total),
        actionable=resolved.group.actionable,
    )


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in payload.items()}
