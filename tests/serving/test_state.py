"""How the service checks request values by the snapshot's column types, and what it says when
it cannot load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from structlog.testing import capture_logs

from core.config import Config
from models import tracking
from serving.settings import ServiceSettings
from serving.state import ServingHolder, _kind


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


def test_a_first_load_that_fails_says_nothing_serves_not_that_a_previous_state_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before any load succeeded there is no previous state to keep serving."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = Config.from_mapping(
        {"mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}}, base_dir=tmp_path
    )
    holder = ServingHolder(ServiceSettings.from_config(config))
    tracking.connect(config.mlflow)
    with capture_logs() as logs:
        outcome = holder.refresh()
    assert holder.current is None
    assert (outcome.changed, outcome.message) == (False, "load failed")
    assert "no MLflow store at" in (outcome.error or "")  # a misnamed store is not created
    assert not (tmp_path / "mlflow.db").exists()
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == [
        "load failed; nothing serves until one succeeds"
    ]
    with capture_logs() as logs:
        again = holder.refresh()  # the next poll, failing the same way
    assert again == outcome
    assert not [entry for entry in logs if entry["log_level"] == "error"]  # once, not every poll
    with capture_logs() as logs:
        holder.refresh(force=True)  # an admin's reload: their 409 says to read the log
    assert [entry["log_level"] for entry in logs] == ["error"]
