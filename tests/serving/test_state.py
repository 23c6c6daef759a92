"""How the service checks each request feature's values, from the snapshot's column types."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving.state import _kind


@pytest.mark.parametrize(
    ("column", "categorical", "kind"),
    [
        (pd.Series([True, False]), True, "bool"),
        (pd.Series(pd.array([True, None], dtype="boolean")), True, "bool"),
        # pandas reads a Parquet boolean with nulls as objects: still a yes/no feature
        (pd.Series([True, None, False], dtype=object), True, "bool"),
        (pd.Series(["plus", None], dtype=object), True, "string"),
        (pd.Series([None, None], dtype=object), True, "string"),
        (pd.Series([1.0, np.nan]), False, "number"),
    ],
)
def test_request_values_are_checked_by_the_snapshot_column_type(
    column: pd.Series, categorical: bool, kind: str
) -> None:
    assert _kind(column, categorical) == kind
