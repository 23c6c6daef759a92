"""Against a real MLflow SQLite store in a temporary folder (creating one takes ~10 s)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pytest

from core.config import EconomicsConfig, MlflowConfig
from models import tracking
from models.calibration import calibrate
from models.candidates import feature_columns, fit_candidate, model_inputs
from models.split import plan_split, split_frame
from tests.models.frames import CUTOFFS, feature_table


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowConfig:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = MlflowConfig(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=str(tmp_path / "mlruns"),
        experiment="test",
        registered_model="churn-test",
    )
    tracking.configure(config)
    return config


@pytest.mark.slow
def test_registered_model_loaded_by_alias_predicts_like_the_one_in_memory(
    store: MlflowConfig,
) -> None:
    table = feature_table(customers=60)
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    columns = feature_columns(table)
    fitted = fit_candidate("logistic_regression", {}, columns, frames.train, frames.validation, 1)
    valid_inputs = model_inputs(frames.validation, columns)
    model = calibrate(fitted, valid_inputs, frames.validation["churned"], "sigmoid")
    test_inputs = model_inputs(frames.test, columns)

    with tracking.parent_run("train", {"git_commit": "abc"}) as parent_id:
        logged = tracking.log_candidate(
            "logistic",
            model,
            {"C": 1.0},
            {"test": {"roc_auc": 0.8}},
            {"trials": []},
            test_inputs,
            frames.test["churned"].to_numpy(),
            EconomicsConfig(),
        )
    version = tracking.register(logged.model_uri, store.registered_model, {"candidate": "x"})
    tracking.set_alias(store.registered_model, "champion", version)
    loaded = tracking.load_model(store.registered_model, alias="champion")

    assert tracking.version_by_alias(store.registered_model, "champion").version == int(version)
    np.testing.assert_array_equal(
        loaded.predict_proba(test_inputs), model.predict_proba(test_inputs)
    )
    run = tracking.mlflow.get_run(logged.run_id)
    assert run.data.tags["mlflow.parentRunId"] == parent_id
    assert run.data.metrics["test_roc_auc"] == 0.8


@pytest.mark.slow
def test_a_missing_alias_or_model_is_none(store: MlflowConfig) -> None:
    assert tracking.version_by_alias("no-such-model", "champion") is None


def test_env_overrides_the_params_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.team:5000")

    assert tracking.tracking_uri(MlflowConfig()) == "http://mlflow.team:5000"


def test_a_relative_sqlite_store_is_pinned_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two projects in one process must not share MLflow's engine cached for "sqlite:///x.db"."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uris = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        uris.append(tracking.tracking_uri(MlflowConfig()))

    assert uris == [f"sqlite:///{tmp_path / name / 'mlflow.db'}" for name in ("one", "two")]
    assert tracking.tracking_uri(MlflowConfig(tracking_uri="sqlite:///:memory:")).endswith(
        ":memory:"
    )


def test_a_dvc_experiment_copy_of_the_project_uses_the_project_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dvc exp run --temp`` (and queued runs) run in ``.dvc/tmp/exps/<tmp>/``, deleted after:
    a store there would hold no champion to gate against and vanish with its versions."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    project = tmp_path / "project"
    for copy in ("tmpab12cd", "standalone/tmpef34gh"):
        workspace = project / ".dvc/tmp/exps" / copy
        workspace.mkdir(parents=True)
        monkeypatch.chdir(workspace)

        assert tracking.tracking_uri(MlflowConfig()) == f"sqlite:///{project / 'mlflow.db'}"
        assert tracking.store_folder() == project
    assert tracking.store_folder(tmp_path / "elsewhere") == tmp_path / "elsewhere"


def test_flat_params_keep_every_candidate_of_a_list() -> None:
    candidates = [{"name": "lr", "params": {"C": 1}}, {"name": "xgb", "params": {"depth": 3}}]
    assert tracking.flat_params({"train": {"candidates": candidates, "tags": ["a", "b"]}}) == {
        "train.candidates.lr.name": "lr",
        "train.candidates.lr.params.C": "1",
        "train.candidates.xgb.name": "xgb",
        "train.candidates.xgb.params.depth": "3",
        "train.tags": "['a', 'b']",
    }


def test_the_uri_mlflow_writes_into_the_environment_is_not_taken_for_an_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI; a second project in the same
    process must still get its own store from params."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = MlflowConfig(tracking_uri=f"sqlite:///{tmp_path / 'one.db'}")
    second = MlflowConfig(tracking_uri=f"sqlite:///{tmp_path / 'two.db'}")

    tracking.connect(first)
    assert tracking.tracking_uri(second) == second.tracking_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.team:5000")
    assert tracking.tracking_uri(second) == "http://mlflow.team:5000"


def test_flat_params_nest_with_dots() -> None:
    assert tracking.flat_params({"a": {"b": 1, "c": {"d": "x"}}, "e": 2.5}) == {
        "a.b": "1",
        "a.c.d": "x",
        "e": "2.5",
    }


def test_mlflows_pickle_warning_is_left_out_and_its_other_warnings_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The format is chosen once (README); only that one warning of MLflow's is dropped."""
    table = feature_table(customers=30)
    columns = feature_columns(table)
    inputs = model_inputs(table, columns)
    model = fit_candidate("logistic_regression", {}, columns, table, table, 1)
    mlflow_sklearn = logging.getLogger("mlflow.sklearn")
    mlflow_sklearn.addHandler(caplog.handler)
    try:
        tracking.save_model(model, tmp_path / "model", inputs, dt.datetime(2024, 1, 1))
        mlflow_sklearn.warning("another warning")
    finally:
        mlflow_sklearn.removeHandler(caplog.handler)

    messages = [record.getMessage() for record in caplog.records]
    assert "another warning" in messages
    assert not [m for m in messages if m.startswith("Saving scikit-learn models in the pickle")]
    assert tracking.load_saved_model(tmp_path / "model").predict_proba(inputs).shape[1] == 2
