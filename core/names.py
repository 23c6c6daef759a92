"""Column names written in params, checked against the columns a stage reads.

A name a table lacks is often legitimate: the family or export column that makes it is absent
from this data, and the stage skips it with a warning. But a name one or two letters away from a
column it does have (``static_plna``) is a typo, and skipping it would quietly drop a segment
or, for ``train.exclude_features``, quietly learn from a column meant to be kept out. Those are
refused, naming the setting and the column meant.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

TYPO_SIMILARITY = 0.85
"""``difflib`` ratio from which an absent name counts as a misspelling of a present column:
one wrong, missing or swapped letter in a feature name of 15 or more characters."""

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
            meant = difflib.get_close_matches(name, present, n=1, cutoff=TYPO_SIMILARITY)
            if meant:
                typos.append(f"{setting}: {name!r} is not a column; did you mean {meant[0]!r}?")
            elif name not in absent:
                absent.append(name)
    if typos:
        raise SettingNameError("; ".join(typos))
    return absent
