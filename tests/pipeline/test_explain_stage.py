"""``churn explain`` after ``churn train`` on a tiny feature table, with a real MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from core.config import Config, MlflowConfig
from models import tracking
from models.explain.report import SECTIONS
from pipeline import explain, train
from tests.models.frames import feature_table

pytestmark = pytest.mark.slow

PARAMS = {
    "seed": 7,
    "churn": {"horizon_days": 60},
    "train": {
        "tuning": {"n_trials": 1},
        "candidates": [
            {
                "name": "xgboost",
                "kind": "xgboost",
                "params": {"n_estimators": 60, "early_stopping_rounds": 10, "max_depth": 3},
            }
        ],
    },
    "explain": {"top_features": 5, "dependence_features": 2, "plot_rows": 200, "n_jobs": 1},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    table = feature_table(customers=150)
    (root / "data/features").mkdir(parents=True)
    table.to_parquet(root / "data/features/training.parquet", index=False)
    snapshot = table[table["cutoff_date"] == table["cutoff_date"].max()].drop(columns="churned")
    snapshot.head(40).to_parquet(root / "data/features/snapshot.parquet", index=False)
    (root / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    return root


@pytest.fixture(scope="module")
def summary(project: Path) -> dict:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = Config.load(project / "params.yaml")
        train.run(config)
        return explain.run(config)


def test_shap_values_add_up_to_the_margin_for_every_test_row(project: Path, summary: dict) -> None:
    table = pd.read_parquet(project / "data/explain/shap_values.parquet")
    shap_columns = [c for c in table.columns if c.startswith("shap_")]

    total = table["base_value"] + table[shap_columns].sum(axis=1)

    assert len(table) == 150 == summary["test_rows"]
    np.testing.assert_allclose(total, table["margin"], atol=1e-4)
    assert summary["path"] == "xgboost_native"
    assert "shap_static_plan" in table.columns  # one-hot columns summed back


def test_snapshot_reasons_carry_up_to_three_raising_codes_per_customer(project: Path) -> None:
    reasons = pd.read_parquet(project / "data/explain/snapshot_reasons.parquet")

    assert list(reasons.columns) == ["customer_id", "churn_probability", "reasons", "reason_texts"]
    assert len(reasons) == 40
    for codes, texts in zip(reasons["reasons"], reasons["reason_texts"], strict=True):
        parsed = json.loads(codes)
        assert len(parsed) <= 3
        assert all(code["direction"] == "raises" for code in parsed)
        assert texts == " | ".join(code["text"] for code in parsed)
    assert reasons["reason_texts"].str.len().gt(0).any()


def test_report_and_pngs_are_written_and_logged_to_the_champion_run(project: Path) -> None:
    registered = json.loads((project / "data/models/registered.json").read_text())
    page = (project / "reports/shap_report.html").read_text()
    pngs = sorted(p.name for p in (project / "reports/shap").glob("*.png"))

    tracking.connect(MlflowConfig(tracking_uri=f"sqlite:///{project / 'mlflow.db'}"))
    run_id = tracking.version_run_id("churn-classifier", registered["champion_version"])
    client = tracking.MlflowClient()
    logged = {a.path for a in client.list_artifacts(run_id, "shap_report")}
    logged_pngs = {a.path for a in client.list_artifacts(run_id, "shap_report/shap")}

    assert all(f"id='{section_id}'" in page for section_id, _ in SECTIONS)
    assert "shap_report/shap_report.html" in logged
    assert logged_pngs == {f"shap_report/shap/{name}" for name in pngs}
    assert len(pngs) >= 8


def test_a_lost_or_switched_tracking_store_stops_explain_before_it_writes(
    project: Path, summary: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A moved store used to end in a TrackingError traceback after the outputs were replaced
    (and left an empty mlflow.db behind); another store holding another model under the same
    version number silently got this model's report."""
    import typer

    reports = (project / "reports/shap_report.html").read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = Config.load(project / "params.yaml")
        lost = config.model_copy(
            update={"mlflow": MlflowConfig(tracking_uri=f"sqlite:///{tmp_path / 'moved.db'}")}
        )
        with pytest.raises(typer.Exit) as stopped_lost:
            explain.run(lost)
        lost_message = capsys.readouterr().err

        other_root = tmp_path / "other"
        (other_root / "data").mkdir(parents=True)
        other = config.model_copy(
            update={
                "mlflow": MlflowConfig(
                    tracking_uri=f"sqlite:///{other_root / 'mlflow.db'}",
                    artifact_location=str(other_root / "mlruns"),
                ),
                "paths": config.paths.model_copy(update={"models_dir": other_root / "models"}),
                "train": config.train.model_copy(
                    update={
                        "candidates": [
                            config.train.candidates[0].model_copy(
                                update={"params": {"n_estimators": 20, "max_depth": 2}}
                            )
                        ]
                    }
                ),
            }
        )
        train.run(other)  # v1 of the other store: another model
        switched = config.model_copy(update={"mlflow": other.mlflow})
        with pytest.raises(typer.Exit) as stopped_switched:
            explain.run(switched)
        switched_message = capsys.readouterr().err

    assert stopped_lost.value.exit_code == stopped_switched.value.exit_code == 1
    assert "no MLflow store at" in lost_message and "nothing was written" in lost_message
    assert not (tmp_path / "moved.db").exists()
    assert "holds another model as churn-classifier v1" in switched_message
    assert (project / "reports/shap_report.html").read_bytes() == reports


def test_a_rerun_replaces_the_report_on_the_champion_run_instead_of_adding_to_it(
    project: Path, summary: dict
) -> None:
    """Logging only adds files: a plot an earlier explain made and this one does not (fewer
    dependence plots) stayed on the run beside the new report."""
    registered = json.loads((project / "data/models/registered.json").read_text())
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = Config.load(project / "params.yaml")
        tracking.connect(config.mlflow)
        run_id = tracking.version_run_id("churn-classifier", registered["champion_version"])
        client = tracking.MlflowClient()
        client.log_text(run_id, "an earlier run's plot", "shap_report/shap/dependence_old.png")
        explain.run(config)
        logged = {a.path for a in client.list_artifacts(run_id, "shap_report/shap")}

    pngs = {f"shap_report/shap/{p.name}" for p in (project / "reports/shap").glob("*.png")}
    assert logged == pngs


def test_a_misspelt_segment_column_stops_explain_before_the_shap_pass(
    project: Path, summary: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    reports = (project / "reports/shap_report.html").read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = Config.load(project / "params.yaml")
        misspelt = config.model_copy(
            update={
                "explain": config.explain.model_copy(update={"value_feature": "rfm_spend_356d"})
            }
        )
        with pytest.raises(typer.Exit) as stopped:
            explain.run(misspelt)

    assert stopped.value.exit_code == 2
    assert (
        "explain.value_feature: 'rfm_spend_356d' is not a column; did you mean 'rfm_spend_365d'?"
        in (capsys.readouterr().err)
    )
    assert (project / "reports/shap_report.html").read_bytes() == reports
