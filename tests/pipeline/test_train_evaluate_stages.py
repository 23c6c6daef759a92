"""``churn train`` twice and ``churn evaluate`` on a tiny feature table with a real MLflow store."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
import yaml

from core.config import CandidateConfig, Config, MlflowConfig
from models import tracking
from models.candidates import feature_columns, model_inputs
from pipeline import evaluate, train
from tests.models.frames import CUTOFFS, feature_table

pytestmark = pytest.mark.slow

FIRST_MODELS = "models-after-first-train"

PARAMS = {
    "seed": 7,
    "churn": {"horizon_days": 60},
    "generate": {"truth": {"horizon_days": 60}},  # the hand-made truth below is for 60 days
    "train": {
        "tuning": {"n_trials": 2},
        "candidates": [
            {
                "name": "logistic",
                "kind": "logistic_regression",
                "search": {"C": {"type": "float", "low": 0.01, "high": 10, "log": True}},
            },
            {
                "name": "xgboost",
                "kind": "xgboost",
                "params": {"n_estimators": 100, "early_stopping_rounds": 10},
            },
        ],
    },
    "evaluate": {"backtest": {"origins": 2}, "min_segment_rows": 20},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    table = feature_table(customers=150)
    (root / "data/features").mkdir(parents=True)
    table.to_parquet(root / "data/features/training.parquet", index=False)
    truth = table[["customer_id", "cutoff_date"]].iloc[::2].assign(p_churn_no_offer=0.3)
    (root / "data/truth/churn_probabilities").mkdir(parents=True)
    truth.to_parquet(root / "data/truth/churn_probabilities/part-00000.parquet", index=False)
    (root / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    return root


@pytest.fixture(scope="module")
def runs(project: Path) -> tuple[dict, dict]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)  # mlflow.db and mlruns/ land in the project, as under dvc repro
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = Config.load(project / "params.yaml")
        first = train.run(config)
        shutil.copytree(project / "data/models", project / FIRST_MODELS)
        second = train.run(config)
        evaluate.run(config)
    return first, second


@contextmanager
def scratch_copy(project: Path, root: Path) -> Iterator[Config]:
    """The project's features and params copied to ``root`` and run from there, with a fresh
    MLflow store (so registry versions start at 1)."""
    (root / "data").mkdir()
    shutil.copytree(project / "data/features", root / "data/features")
    shutil.copy(project / "params.yaml", root / "params.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield Config.load(root / "params.yaml")


def test_first_model_becomes_champion_and_an_equal_one_does_not_replace_it(
    project: Path, runs: tuple[dict, dict]
) -> None:
    first, second = runs
    decision = json.loads((project / "data/models/promotion.json").read_text())

    assert (first["challenger_version"], first["champion_version"]) == ("1", "1")
    assert (second["challenger_version"], second["champion_version"]) == ("2", "1")
    assert second["previous_champion_version"] == "1"
    assert not decision["promote"]
    # same params and data: the retrained winner scores exactly like the registered champion
    assert decision["challenger_primary"] == decision["champion_primary"]
    assert decision["challenger_ece"] == decision["champion_ece"]


def test_a_kept_champion_is_saved_as_a_promoted_one_is(
    project: Path, runs: tuple[dict, dict]
) -> None:
    """The second run kept v1: data/models/champion was the registry's folder (its run and
    model ids, the clock, three more files); now it is saved as a promoted one is. The pickle
    itself differs: a model loaded back pickles to other bytes than the one trained."""
    promoted, kept = project / FIRST_MODELS / "champion", project / "data/models/champion"
    files = sorted(path.name for path in promoted.iterdir())
    assert files == sorted(path.name for path in kept.iterdir())
    saved, copied = (
        yaml.safe_load((folder / "MLmodel").read_text()) for folder in (promoted, kept)
    )
    assert set(copied) == set(saved)
    assert copied.get("run_id") is None and copied.get("model_id") is None
    assert copied["utc_time_created"] == saved["utc_time_created"]  # the data's end, not a clock
    assert copied["signature"] == saved["signature"]
    rows = feature_table(customers=20)
    model = tracking.load_saved_model(promoted)
    columns = feature_columns(rows, [])
    np.testing.assert_array_equal(
        tracking.load_saved_model(kept).predict_proba(model_inputs(rows, columns)),
        model.predict_proba(model_inputs(rows, columns)),
    )


def test_same_data_and_params_give_the_same_model_folder_bytes(
    project: Path, runs: tuple[dict, dict], tmp_path: Path
) -> None:
    """A fresh project (its own, empty registry) trains the same table: every file of
    ``data/models`` is byte-identical to the first run's, so ``dvc.lock`` does not move."""
    first, _ = runs
    with scratch_copy(project, tmp_path) as config:
        again = train.run(config)

    assert again["candidate_runs"] != first["candidate_runs"]  # new runs, yet the same files:
    before, after = project / FIRST_MODELS, tmp_path / "data/models"
    files = sorted(path.relative_to(before) for path in before.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(after) for path in after.rglob("*") if path.is_file())
    assert len(files) == 18  # 3 JSON files; 2 candidates and the champion, 5 files each
    for name in files:
        assert (after / name).read_bytes() == (before / name).read_bytes(), name
    saved = yaml.safe_load((after / "champion/MLmodel").read_text())
    assert str(saved["utc_time_created"]).startswith(str(CUTOFFS[-1] + dt.timedelta(days=60)))


def test_excluding_every_feature_stops_train_with_a_message_naming_the_exclusion(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with scratch_copy(project, tmp_path) as config:
        train_config = config.train.model_copy(update={"exclude_features": ["*"]})
        with pytest.raises(typer.Exit) as stopped:
            train.run(config.model_copy(update={"train": train_config}))

    assert stopped.value.exit_code == 1
    message = capsys.readouterr().err
    assert "no feature columns besides keys and label" in message
    assert "once train.exclude_features ['*'] are left out" in message
    assert not (tmp_path / "data/models").exists()


def test_a_misspelt_exclusion_stops_train_as_a_usage_error(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with scratch_copy(project, tmp_path) as config:
        train_config = config.train.model_copy(update={"exclude_features": ["static_pln"]})
        with pytest.raises(typer.Exit) as stopped:
            train.run(config.model_copy(update={"train": train_config}))

    assert stopped.value.exit_code == 2
    assert "train.exclude_features: 'static_pln' is not a column; did you mean 'static_plan'?" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "data/models").exists()


@pytest.mark.parametrize(
    ("kind", "params"),
    [("logistic_regression", {"C": "abc"}), ("xgboost", {"max_depth": "deep"})],
)
def test_params_an_estimator_refuses_at_fit_stop_train_naming_the_candidate(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    params: dict[str, str],
) -> None:
    with scratch_copy(project, tmp_path) as config:
        candidate = CandidateConfig(name="odd", kind=kind, params=params)  # type: ignore[arg-type]
        train_config = config.train.model_copy(update={"candidates": [candidate]})
        with pytest.raises(typer.Exit) as stopped:
            train.run(config.model_copy(update={"train": train_config}))

    assert stopped.value.exit_code == 1
    message = capsys.readouterr().err
    assert f"train.candidates 'odd' ({kind}) cannot be fitted with params {params}" in message
    assert sum(line.startswith("error:") for line in message.splitlines()) == 1
    assert "Traceback" not in message and "Stack trace" not in message  # XGBoost appends one
    assert not (tmp_path / "data/models").exists()


def test_a_truncated_feature_table_exits_1_naming_the_stage_to_rerun(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with scratch_copy(project, tmp_path) as config:
        training = config.paths.features_dir / "training.parquet"
        training.write_bytes(training.read_bytes()[:1000])
        with pytest.raises(typer.Exit) as stopped:
            train.run(config)

    assert stopped.value.exit_code == 1
    message = capsys.readouterr().err
    assert f"{training}: not a readable Parquet file" in message
    assert "run `churn features` again" in message


def test_the_gate_fails_closed_unless_the_champion_was_built_on_other_features(
    project: Path, tmp_path: Path
) -> None:
    """An unreadable champion stops the stage (it used to wave any challenger through); one
    trained on another feature set is replaced, saying why."""
    training = tmp_path / "data/features/training.parquet"
    with scratch_copy(project, tmp_path) as config:
        train.run(config)

        def store_is_down(*_: object, **__: object) -> None:
            raise OSError("artifact store unreachable")

        with pytest.MonkeyPatch.context() as outage:
            outage.setattr(tracking, "load_model", store_is_down)
            with pytest.raises(typer.Exit) as stopped:
                train.run(config)
        champion_after_outage = tracking.version_by_alias(
            config.mlflow.registered_model, "champion"
        )
        pd.read_parquet(training).drop(columns="lifecycle_days_since_signup").to_parquet(training)

        def disk_full(*_: object, **__: object) -> None:
            raise OSError("no space left on device")

        with pytest.MonkeyPatch.context() as full:  # promoted, but data/models cannot be written
            full.setattr(tracking, "save_model", disk_full)
            with pytest.raises(typer.Exit) as stopped_writing:  # not an OSError traceback
                train.run(config)
        champion_after_failed_write = tracking.version_by_alias(
            config.mlflow.registered_model, "champion"
        )
        failed_runs = tracking.mlflow.search_runs(
            filter_string="attributes.status = 'FAILED' and attributes.run_name = 'train'",
            output_format="list",
        )
        changed = train.run(config)

    assert stopped.value.exit_code == 1
    assert champion_after_outage is not None and str(champion_after_outage.version) == "1"
    assert champion_after_failed_write is not None
    assert str(champion_after_failed_write.version) == "1"  # the alias moves only after the write
    assert stopped_writing.value.exit_code == 1
    # the run that promoted but could not write is FAILED, not a finished run saying promote=1
    # (newest first; the outage's run before it failed at the gate, before any decision)
    assert [run.data.metrics.get("gate.promote") for run in failed_runs] == [1.0, None]
    decision = json.loads((tmp_path / "data/models/promotion.json").read_text())
    assert changed["champion_version"] == changed["challenger_version"] == "4"
    assert decision["reason"].startswith(
        "champion v1 was trained on other features (1 no longer built, 0 new)"
    )


def test_a_champion_trained_for_another_churn_label_is_replaced_saying_why(
    project: Path, tmp_path: Path
) -> None:
    """Its probabilities mean churn over another horizon: a higher PR AUC on this test cutoff
    would have kept a 60-day model serving as 90-day risk."""
    with scratch_copy(project, tmp_path) as config:
        train.run(config)
        longer = config.model_copy(
            update={"churn": config.churn.model_copy(update={"horizon_days": 90})}
        )
        changed = train.run(longer)
        version = tracking.MlflowClient().get_model_version(
            config.mlflow.registered_model, changed["challenger_version"]
        )

    decision = json.loads((tmp_path / "data/models/promotion.json").read_text())
    assert changed["champion_version"] == changed["challenger_version"] == "2"
    assert decision["reason"].startswith(
        "champion v1 was trained for another churn label (churn.horizon_days 60 vs 90)"
    )
    assert version.tags["churn.horizon_days"] == "90"


def test_a_champion_another_run_moved_while_this_one_trained_is_not_overwritten(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gate compared with v1; by the time it would promote, a concurrent run had made its
    own version champion: the stage stops before writing, and that champion stays."""
    training = tmp_path / "data/features/training.parquet"
    with scratch_copy(project, tmp_path) as config:
        train.run(config)
        first_models = (tmp_path / "data/models/registered.json").read_bytes()
        # Another feature set: this run's winner is promoted over v1 unchecked.
        pd.read_parquet(training).drop(columns="lifecycle_days_since_signup").to_parquet(training)
        real_register = tracking.register

        def register_while_another_run_promotes(uri: str, name: str, tags: dict) -> str:
            other = real_register(uri, name, {"candidate": "another run"})
            tracking.set_alias(name, "champion", other)
            return real_register(uri, name, tags)

        with pytest.MonkeyPatch.context() as race, pytest.raises(typer.Exit) as stopped:
            race.setattr(tracking, "register", register_while_another_run_promotes)
            train.run(config)
        champion = tracking.version_by_alias(config.mlflow.registered_model, "champion")

    assert stopped.value.exit_code == 1
    assert "alias of churn-classifier moved from v1 to v2" in capsys.readouterr().err
    assert champion is not None and str(champion.version) == "2"
    assert (tmp_path / "data/models/registered.json").read_bytes() == first_models


def test_parent_run_has_a_nested_run_per_candidate_and_provenance(
    project: Path, runs: tuple[dict, dict]
) -> None:
    first, _ = runs
    tracking.connect(MlflowConfig(tracking_uri=f"sqlite:///{project / 'mlflow.db'}"))
    parent = tracking.mlflow.get_run(first["parent_run_id"])
    children = {
        name: tracking.mlflow.get_run(run_id) for name, run_id in first["candidate_runs"].items()
    }

    assert set(children) == {"logistic", "xgboost"}
    assert {c.data.tags["mlflow.parentRunId"] for c in children.values()} == {parent.info.run_id}
    assert {"git_commit", "features_dvc_md5"} <= set(parent.data.tags)
    assert parent.data.metrics["gate.promote"] == 1.0
    params = parent.data.params  # enough to tell two runs apart, every candidate in full
    assert params["churn.horizon_days"] == "60" and params["features.families.support"] == "True"
    assert params["train.candidates.xgboost.params.early_stopping_rounds"] == "10"
    assert "test_roc_auc" in children["xgboost"].data.metrics


def test_champion_from_the_registry_predicts_like_the_saved_copy(
    project: Path, runs: tuple[dict, dict]
) -> None:
    tracking.connect(MlflowConfig(tracking_uri=f"sqlite:///{project / 'mlflow.db'}"))
    table = pd.read_parquet(project / "data/features/training.parquet")
    inputs = model_inputs(table[table["cutoff_date"] == CUTOFFS[-1]], feature_columns(table))

    registered = tracking.load_model("churn-classifier", alias="champion")
    saved = tracking.load_saved_model(project / "data/models/champion")

    np.testing.assert_array_equal(registered.predict_proba(inputs), saved.predict_proba(inputs))


def test_features_rebuilt_after_train_stop_evaluate_naming_the_stage_to_run(
    project: Path, runs: tuple[dict, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Features rebuilt from an export that ends earlier lack the recorded test cutoff: it was a
    scikit-learn traceback ("Found array with 0 sample(s)")."""
    for folder in ("data/features", "data/models"):
        shutil.copytree(project / folder, tmp_path / folder)
    training = tmp_path / "data/features/training.parquet"
    frame = pd.read_parquet(training)
    test_cutoff = json.loads((tmp_path / "data/models/registered.json").read_text())["split"][
        "test"
    ]
    frame[pd.to_datetime(frame["cutoff_date"]) < pd.Timestamp(test_cutoff)].to_parquet(training)
    (tmp_path / "params.yaml").write_text((project / "params.yaml").read_text())

    with pytest.raises(typer.Exit) as stopped:
        evaluate.run(Config.load(tmp_path / "params.yaml"))

    assert stopped.value.exit_code == 1
    error = capsys.readouterr().err
    assert f"no rows at the test cutoff {pd.Timestamp(test_cutoff).date()}" in error
    assert "run `churn train` before `churn evaluate`" in error
    assert not (tmp_path / "evaluation").exists()


def test_a_misspelt_segment_column_stops_evaluate_before_any_output(
    project: Path, runs: tuple[dict, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was a warning and a segments.json without the plan segments."""
    for folder in ("data/features", "data/models"):
        shutil.copytree(project / folder, tmp_path / folder)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["evaluate"] = {"segment_columns": ["static_plna"]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    with pytest.raises(typer.Exit) as stopped:
        evaluate.run(Config.load(tmp_path / "params.yaml"))

    assert stopped.value.exit_code == 2
    assert (
        "evaluate.segment_columns: 'static_plna' is not a column; did you mean 'static_plan'?"
        in (capsys.readouterr().err)
    )
    assert not (tmp_path / "evaluation").exists()


@pytest.mark.parametrize("mismatch", ["own_export", "other_grid", "other_horizon"])
def test_no_oracle_from_a_truth_that_does_not_describe_the_data(
    project: Path, runs: tuple[dict, dict], tmp_path: Path, mismatch: str
) -> None:
    """With raw_dir on a company's own export, or a truth grid without the test cutoff, ids
    would match strangers (or nothing): evaluate writes no oracle instead of a wrong one."""
    for folder in ("data/features", "data/models", "data/truth"):
        shutil.copytree(project / folder, tmp_path / folder)
    params = yaml.safe_load((project / "params.yaml").read_text())
    if mismatch == "own_export":
        params["paths"] = {"raw_dir": "exports/crm"}
    elif mismatch == "other_horizon":  # 90-day truth against 60-day labels: ECE 0.26, ratios void
        params["generate"] = {"truth": {"horizon_days": 90}}
    else:
        truth = tmp_path / "data/truth/churn_probabilities/part-00000.parquet"
        moved = pd.read_parquet(truth)
        moved["cutoff_date"] = pd.to_datetime(moved["cutoff_date"]) + pd.Timedelta(days=1)
        moved.to_parquet(truth, index=False)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    metrics = evaluate.run(Config.load(tmp_path / "params.yaml"))

    assert set(metrics["models"]) == {"champion", "logistic", "xgboost"}
    assert "model_vs_oracle" not in metrics and "oracle_rows_matched" not in metrics


def test_evaluate_writes_metrics_oracle_segments_backtest_and_plots(
    project: Path, runs: tuple[dict, dict]
) -> None:
    folder = project / "evaluation"
    metrics = json.loads((folder / "metrics.json").read_text())
    segments = json.loads((folder / "segments.json").read_text())
    backtest = json.loads((folder / "backtest.json").read_text())

    assert set(metrics["models"]) == {"champion", "logistic", "xgboost", "oracle"}
    assert metrics["test_cutoff"] == CUTOFFS[-1].isoformat()
    assert metrics["oracle_rows_matched"] == pytest.approx(0.5, abs=0.01)
    ratio = metrics["model_vs_oracle"]["champion"]["roc_auc"]
    oracle_auc = metrics["models"]["oracle"]["roc_auc"]
    assert ratio == pytest.approx(metrics["models"]["champion"]["roc_auc"] / oracle_auc, rel=1e-4)
    assert set(segments) == {
        "static_plan",
        "static_acquisition_channel",
        "tenure_band",
        "value_band",
    }
    assert set(segments["value_band"]) == {"q1", "q2", "q3", "q4"}
    assert [row["test_cutoff"] for row in backtest["origins"]] == [
        CUTOFFS[-1].isoformat(),
        CUTOFFS[-2].isoformat(),
    ]
    for curve in ("roc", "precision_recall", "calibration", "gains", "profit"):
        assert (folder / "plots" / curve / "champion.csv").is_file()
    roc = pd.read_csv(folder / "plots/roc/oracle.csv")
    assert roc["tpr"].iloc[-1] == 1.0


def test_a_run_from_a_clean_checkout_is_not_dirty_because_dvc_rewrote_its_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dvc repro rewrites dvc.lock for the stages before train: git_dirty said True on every
    run, and so told nothing."""
    import subprocess

    from pipeline.provenance import provenance

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x")
    monkeypatch.chdir(tmp_path)
    config = Config.from_mapping({})

    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    lock_only = provenance(config)["git_dirty"]
    (tmp_path / "params.yaml").write_text("seed: 2\n")
    edited = provenance(config)["git_dirty"]

    assert (lock_only, edited) == ("False", "True")
