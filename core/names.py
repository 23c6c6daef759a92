"""Column names written in params, checked against the columns a stage reads.

A name a table lacks is often legitimate: the family or export column that makes it is absent
from this data, and the stage skips it with a warning. But a name one or two letters away from a
column it does have (``static_plna``) is a typo, and skipping it would quietly drop a segment
or, for ``train.exclude_features``, quietly learn from a column meant to be kept out. Those are
refused, naming the setting and the column meant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

MAX_EDITS = 2
"""The most edits (a letter wrong, missing, extra, or two swapped) by which an absent name may
differ from a present column to be taken for its misspelling: ``static_plna`` is a typo of
``static_plan``, ``events_count_90d_sms_click`` (4 edits) is no typo of
``events_count_90d_email_click``."""
SHORT_NAME = 12
"""Names shorter than this allow a single edit: in ``rfm_x`` two edits make another name."""

GLOB_CHARACTERS = frozenset("*?[")


class SettingNameError(ValueError):
    """A column name in params is a near miss of a column the table has: a typo."""


def absent_names(settings: Mapping[str, Sequence[str]], columns: Iterable[str]) -> list[str]:
    """The names in ``settings`` (setting path -> names) that ``columns`` lacks, in order.

    Raises :class:`SettingNameError` for those that are near misses of a column, each with its
    setting and the column meant. Glob patterns are not checked.
    """
    present = list(dict.fromkeys(columns))
    known = set(present)
    absent: list[str] = []
    typos: list[str] = []
    for setting, names in settings.items():
        for name in names:
            if name in known or GLOB_CHARACTERS & set(name):
                continue
            meant = _closest(name, present)
            if meant is not None:
                typos.append(f"{setting}: {name!r} is not a column; did you mean {meant!r}?")
            elif name not in absent:
                absent.append(name)
    if typos:
        raise SettingNameError("; ".join(typos))
    return absent


def _closest(name: str, columns: Sequence[str]) -> str | None:
    """The column ``name`` misspells (fewest edits, then first), or None."""
    allowed = 1 if len(name) < SHORT_NAME else MAX_EDITS
    best: tuple[int, str] | None = None
    for column in columns:
        if abs(len(column) - len(name)) > allowed:
            continue
        edits = edit_distance(name, column)
        if edits <= allowed and (best is None or edits < best[0]):
            best = (edits, column)
    return None if best is None else best[1]


def edit_distance(first: str, second: str) -> int:
    """Letters inserted, deleted, replaced, or adjacent pairs swapped, to turn one into the
    other (the optimal string alignment distance)."""
    previous_row: list[int] = []
    row = list(range(len(second) + 1))
    for i, a in enumerate(first, start=1):
        before, previous_row, row = previous_row, row, [i] + [0] * len(second)
        for j, b in enumerate(second, start=1):
            row[j] = min(
                previous_row[j] + 1,
                row[j - 1] + 1,
                previous_row[j - 1] + (a != b),
            )
            if i > 1 and j > 1 and a == second[j - 2] and first[i - 2] == b:
                row[j] = min(row[j], before[j - 2] + 1)
    return row[-1]
