"""Reason codes: the two or three plain reasons behind one customer's churn risk.

Contributions are first summed per reason group (``features.reason_templates.GROUPS``), so ten
correlated columns of one driver make one reason and cannot crowd out the others. Within a group
the feature pushing hardest in the group's direction is the *lead*, and its template words the
reason with the customer's own values. Each code carries its family and whether the business
can act on it, so the CRM can show what to do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.reason_templates import GROUPS, render, state_text, template_for

Direction = Literal["raises", "lowers"]

SAME_MODEL_TOLERANCE = 1e-6
"""How far two churn probabilities of one snapshot customer may be apart and still come from the
same champion (the reasons file's, the targets', a re-score): it scores identically to the last
bit, another model or snapshot does not."""

REASON_SEPARATOR = " | "
"""Between a customer's reason texts in one text column (``reason_texts``): no template uses it,
where "; " appears inside texts ("Usually orders every 104 days; last order 70 days ago")."""


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


@dataclass(frozen=True)
class RowGroups:
    """The reason group each feature's contribution counts in, row by row.

    Mostly a feature's template's group; a template's ``regroup`` moves it to another group in
    the rows where its condition holds (a decline over a window without any order is the
    recency story). The condition reads the row's value of another input; a model without that
    input keeps every feature in its own group.
    """

    features: tuple[str, ...]
    names: tuple[str, ...]
    membership: np.ndarray
    """One-hot (feature, group) of each feature's own group."""
    natives: tuple[tuple[int, ...], ...]
    """Per group, the positions of the features whose own group it is."""
    moves: tuple[tuple[int, int, int], ...]
    """Per move: (feature position, own group, target group)."""
    conditions: tuple[str, ...]
    """The inputs the moves' conditions read."""
    condition_of: np.ndarray
    """Per move, the position of its input in :attr:`conditions`."""
    more_than: np.ndarray
    """Per move, the value its input must exceed (or be missing) for the move to apply."""
    positions: np.ndarray
    """Per move, the position of its feature."""
    targets: np.ndarray
    """One-hot (move, group) of each move's target group."""

    @classmethod
    def of(cls, features: Sequence[str]) -> RowGroups:
        resolved = [template_for(feature) for feature in features]
        regroups = [(i, r.template.regroup) for i, r in enumerate(resolved)]
        moving = [(i, r) for i, r in regroups if r is not None and r.when in features]
        own = [r.group.name for r in resolved]
        names = list(dict.fromkeys(own + [r.group for _, r in moving]))
        home = [names.index(name) for name in own]
        membership = np.zeros((len(features), len(names)))
        membership[np.arange(len(features)), home] = 1.0
        natives = tuple(
            tuple(i for i, g in enumerate(home) if g == group) for group in range(len(names))
        )
        conditions = tuple(dict.fromkeys(r.when for _, r in moving))
        targets = np.zeros((len(moving), len(names)))
        targets[np.arange(len(moving)), [names.index(r.group) for _, r in moving]] = 1.0
        return cls(
            features=tuple(features),
            names=tuple(names),
            membership=membership,
            natives=natives,
            moves=tuple((i, home[i], names.index(r.group)) for i, r in moving),
            conditions=conditions,
            condition_of=np.array([conditions.index(r.when) for _, r in moving], dtype=int),
            more_than=np.array([r.more_than for _, r in moving], dtype=float),
            positions=np.array([i for i, _ in moving], dtype=int),
            targets=targets,
        )

    def moved(self, values: Callable[[str], np.ndarray], rows: int) -> np.ndarray:
        """Per (row, move) whether the move applies; ``values(name)`` is that input's column as
        floats, NaN where the row has no value (as the templates read a missing one)."""
        if not self.moves:
            return np.zeros((rows, 0), dtype=bool)
        read = np.column_stack([values(name) for name in self.conditions])
        compared = read[:, self.condition_of]
        return np.isnan(compared) | (compared > self.more_than)

    def totals(self, matrix: np.ndarray, moved: np.ndarray) -> np.ndarray:
        """Summed contribution per (row, group). A moved contribution is taken out of its own
        group (not subtracted from its sum), so a group a row's moves empty sums to exactly 0."""
        if not moved.any():
            return matrix @ self.membership
        kept = matrix.copy()
        kept[:, self.positions] = np.where(moved, 0.0, matrix[:, self.positions])
        shifted = np.where(moved, matrix[:, self.positions], 0.0)
        return kept @ self.membership + shifted @ self.targets

    def members(self, moved: np.ndarray, group: int) -> tuple[list[str], list[str]]:
        """One row's features in ``group``, and those of them whose own group it is."""
        left = {m[0] for m, on in zip(self.moves, moved, strict=True) if on and m[1] == group}
        joined = [m[0] for m, on in zip(self.moves, moved, strict=True) if on and m[2] == group]
        native = [self.features[i] for i in self.natives[group] if i not in left]
        return native + [self.features[i] for i in joined], native


def row_values(
    values: pd.DataFrame | Sequence[Mapping[str, Any]],
) -> Callable[[str], np.ndarray]:
    """:meth:`RowGroups.moved`'s column reader over a frame or a list of row mappings; a column
    or key the rows lack reads as NaN."""

    def column(name: str) -> np.ndarray:
        if isinstance(values, pd.DataFrame):
            if name not in values.columns:
                return np.full(len(values), np.nan)
            return pd.to_numeric(values[name], errors="coerce").to_numpy(dtype=float)
        return np.array([_number(row.get(name)) for row in values], dtype=float)

    return column


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def group_contributions(
    contributions: Mapping[str, float] | pd.Series, values: Mapping[str, Any] | None = None
) -> dict[str, float]:
    """Summed contribution per reason group: every feature counts in its template's group, or,
    given the row's ``values``, in the group its template's ``regroup`` picks for the row."""
    row = {feature: float(value) for feature, value in dict(contributions).items()}
    groups = RowGroups.of(list(row))
    moved = (
        groups.moved(row_values([dict(values)]), 1)
        if values is not None
        else np.zeros((1, len(groups.moves)), dtype=bool)
    )
    totals = groups.totals(np.array([list(row.values())]), moved)[0]
    return {
        name: float(totals[g])
        for g, name in enumerate(groups.names)
        if groups.members(moved[0], g)[0]
    }


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
    groups = RowGroups.of(list(row))
    matrix = np.array([list(row.values())], dtype=float)
    moved = groups.moved(row_values([values]), 1)
    totals = groups.totals(matrix, moved)
    return row_codes(
        groups, matrix[0], moved[0], totals[0], values, top_k, include_lowering, min_contribution
    )


def reasons_for_rows(
    explanation: Any,
    top_k: int = 3,
    include_lowering: bool = False,
    min_contribution: float = 0.0,
) -> list[list[ReasonCode]]:
    """:func:`reason_codes` for every row of a ``models.explain.Explanation``, in row order.

    Group totals are computed for all rows at once, so only the chosen reasons are worded
    (thousands of customers in seconds).
    """
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    contributions = explanation.contributions
    groups = RowGroups.of(list(contributions.columns))
    matrix = contributions.to_numpy(dtype=float)
    values = explanation.values
    moved = groups.moved(row_values(values), len(matrix))
    totals = groups.totals(matrix, moved)
    return [
        row_codes(
            groups,
            matrix[position],
            moved[position],
            totals[position],
            _LazyRow(values, position),
            top_k,
            include_lowering,
            min_contribution,
        )
        for position in range(len(matrix))
    ]


class _LazyRow(Mapping[str, Any]):
    """One row of a values frame, read only if a reason is worded (most rows need none)."""

    def __init__(self, frame: pd.DataFrame, position: int) -> None:
        self._frame, self._position = frame, position
        self._row: dict[str, Any] | None = None

    def _values(self) -> dict[str, Any]:
        if self._row is None:
            self._row = self._frame.iloc[self._position].to_dict()
        return self._row

    def __getitem__(self, key: str) -> Any:
        return self._values()[key]

    def __iter__(self) -> Any:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())


def row_codes(
    groups: RowGroups,
    contributions: np.ndarray,
    moved: np.ndarray,
    totals: np.ndarray,
    values: Mapping[str, Any],
    top_k: int,
    include_lowering: bool,
    min_contribution: float,
) -> list[ReasonCode]:
    """One row's reason codes from its contributions, moves and group totals: the one place
    every path (one row, many rows, the service's fast path) picks and words them."""
    chosen = choose(totals, top_k, include_lowering, min_contribution)
    if not chosen:
        return []
    row = dict(zip(groups.features, contributions, strict=True))
    codes = []
    for g, direction in chosen:
        inside, native = groups.members(moved, g)
        codes.append(
            code_for_group(
                groups.names[g], inside, row, values, direction, totals[g], lead_from=native
            )
        )
    return codes


def choose(
    row_totals: np.ndarray, top_k: int, include_lowering: bool, min_contribution: float
) -> list[tuple[int, Direction]]:
    """The group positions a row's reasons come from: the ``top_k`` raising most, then (with
    ``include_lowering``) the ``top_k`` lowering most, beyond ``min_contribution``."""
    order = np.argsort(-row_totals, kind="stable")
    chosen: list[tuple[int, Direction]] = [
        (int(g), "raises") for g in order if row_totals[g] > min_contribution
    ][:top_k]
    if include_lowering:
        order = np.argsort(row_totals, kind="stable")
        chosen += [(int(g), "lowers") for g in order if row_totals[g] < -min_contribution][:top_k]
    return chosen


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
    lead_from: list[str] | None = None,
) -> ReasonCode:
    """One group's reason code.

    The lead, whose template words the reason, is the feature of ``lead_from`` (the group's own
    features; all of ``features`` when none) pushing hardest in the group's direction. Where one
    of the group's states holds in the row (not enrolled, unsubscribed), its text replaces the
    lead's.
    """
    sign = 1.0 if direction == "raises" else -1.0
    lead = max(lead_from or features, key=lambda feature: sign * row[feature])
    text = state_text(GROUPS[group], values) or render(lead, values, raises=direction == "raises")
    return ReasonCode(
        feature=lead,
        family=GROUPS[group].family,
        group=group,
        text=text,
        direction=direction,
        contribution=float(total),
        actionable=GROUPS[group].actionable,
    )


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in payload.items()}
