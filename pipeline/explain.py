"""DVC stage ``explain``: SHAP values of the champion on the test cutoff, the analysts' report,
and reason codes for every customer of the scoring snapshot.

Reads ``paths.features_dir`` and ``paths.models_dir`` (the champion written by ``churn train``);
writes, as DVC outputs:

* ``paths.explain_dir`` (``data/explain``): ``shap_values.parquet`` (test-cutoff rows: keys,
  label, churn probability, margin and one log-odds contribution per feature),
  ``snapshot_reasons.parquet`` (``customer_id``, ``churn_probability``, ``reasons`` as JSON,
  ``reason_texts``) and ``summary.json`` (path, base value, timings, importance);
* ``paths.reports_dir`` (``reports``): ``shap_report.html`` (self-contained) and
  ``shap/*.png``, also logged to the champion's MLflow run under ``shap_report/``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer

from core.atomic import atomic_dir, write_json, write_parquet
from core.config import Config
from core.layout import REASONS_FILE, SHAP_VALUES_FILE, SNAPSHOT_FILE
from core.logging import first_line, get_logger
from core.names import SettingNameError
from models import tracking
from models.candidates import FeatureColumns
from models.explain import ChurnExplainer, Explanation, analysis
from models.explain.report import ReportInputs, build_report
from models.reasons import REASON_SEPARATOR, reasons_for_rows, reasons_json
from models.split import KEYS, LABEL
from models.training import predict_churn
from pipeline.errors import fail, read_output
from pipeline.recorded import load_training, read_registered, recorded_test_rows

_log = get_logger(__name__)

REPORT_PAGE = "shap_report.html"
MLFLOW_FOLDER = "shap_report"
CHECK_ROWS = 64  # test rows the store's champion must score like data/models' copy


def run(config: Config) -> dict[str, Any]:
    """Explain, report, write reason codes, log the report; return ``summary.json``'s content."""
    started = time.perf_counter()
    settings = config.explain
    registered = read_registered(config.paths.models_dir)
    model = tracking.load_saved_model(config.paths.models_dir / "champion")
    explainer = ChurnExplainer.from_model(model, n_jobs=settings.n_jobs)
    test = _test_rows(config, registered)
    try:  # before the SHAP pass: a misspelt segment column is a usage error
        segments = analysis.segments(
            test,
            settings.segment_columns,
            settings.value_feature,
            settings.tenure_feature,
            settings.bands,
        )
    except SettingNameError as error:
        fail(str(error), code=2)
    champion_run = _champion_run(config, registered, model, test, explainer.parts.columns)

    shap_started = time.perf_counter()
    explanation = explainer.explain(test, model)
    test_seconds = time.perf_counter() - shap_started
    _log.info("test cutoff explained", rows=len(test), seconds=round(test_seconds, 1))

    snapshot = _read_snapshot(config.paths.features_dir)
    shap_started = time.perf_counter()
    snapshot_explanation = explainer.explain(snapshot, model)
    snapshot_seconds = time.perf_counter() - shap_started
    reasons = _snapshot_reasons(
        snapshot, snapshot_explanation, settings.top_reasons, settings.reason_min_log_odds
    )

    report = build_report(
        ReportInputs(
            explanation=explanation,
            churned=test[LABEL],
            segments=segments,
            title="Why customers churn: SHAP report of the champion model",
            context={
                "model": f"{registered['registered_model']} v{registered['champion_version']} "
                f"({type(explainer.parts.classifier).__name__}, champion)",
                "test cutoff": str(registered["split"]["test"]),
                "observed churn rate": f"{test[LABEL].mean():.1%}",
            },
            top_features=settings.top_features,
            dependence_features=settings.dependence_features,
            plot_rows=settings.plot_rows,
            risk_tiers=settings.risk_tiers,
            seed=config.seed,
            top_reasons=settings.top_reasons,
            reason_min_log_odds=settings.reason_min_log_odds,
        )
    )
    summary = _summary(explanation, len(snapshot))
    # both folders are written in full before either is swapped in
    with (
        atomic_dir(config.paths.reports_dir) as pages,
        atomic_dir(config.paths.explain_dir) as folder,
    ):
        report.write(pages, REPORT_PAGE)
        write_parquet(folder / SHAP_VALUES_FILE, _shap_table(test, explanation))
        write_parquet(folder / REASONS_FILE, reasons)
        write_json(folder / "summary.json", summary)
    tracking.replace_folder_on_run(champion_run, config.paths.reports_dir, MLFLOW_FOLDER)
    _log.info("report logged to MLflow", run_id=champion_run, folder=MLFLOW_FOLDER)
    typer.echo(
        f"explained {len(test):,} test rows ({explanation.path}, {test_seconds:.1f} s) and "
        f"{len(snapshot):,} snapshot customers ({snapshot_seconds:.1f} s) in "
        f"{time.perf_counter() - started:.1f} s; report: {config.paths.reports_dir / REPORT_PAGE}"
    )
    return summary


def _test_rows(config: Config, registered: dict[str, Any]) -> pd.DataFrame:
    """The test cutoff's rows (the split ``churn train`` recorded), sampled if configured."""
    test = recorded_test_rows(load_training(config.paths.features_dir), registered, "explain")
    sample = config.explain.sample_rows
    if sample is not None and sample < len(test):
        test = test.sample(n=sample, random_state=config.seed).sort_index()
    return test.reset_index(drop=True)


def _read_snapshot(features_dir: Path) -> pd.DataFrame:
    path = features_dir / SNAPSHOT_FILE
    return read_output(path, "features")


def _snapshot_reasons(
    snapshot: pd.DataFrame, explanation: Explanation, top_k: int, min_log_odds: float
) -> pd.DataFrame:
    codes = reasons_for_rows(explanation, top_k=top_k, min_contribution=min_log_odds)
    return pd.DataFrame(
        {
            "customer_id": snapshot["customer_id"].astype(str).to_numpy(),
            "churn_probability": explanation.churn_probability,
            "reasons": [reasons_json(row) for row in codes],
            "reason_texts": [REASON_SEPARATOR.join(code.text for code in row) for row in codes],
        }
    )


def _shap_table(test: pd.DataFrame, explanation: Explanation) -> pd.DataFrame:
    keys = test[[*KEYS, LABEL]].reset_index(drop=True)
    keys["churn_probability"] = explanation.churn_probability
    keys["margin"] = explanation.margin
    keys["base_value"] = explanation.base_value
    contributions = explanation.contributions.reset_index(drop=True).add_prefix("shap_")
    return pd.concat([keys, contributions], axis=1)


def _summary(explanation: Explanation, snapshot_rows: int) -> dict[str, Any]:
    """What was explained and what drives it; no timings, so a rerun writes the same bytes."""
    importance = analysis.importance(explanation)
    groups = analysis.group_importance(explanation)
    rows = len(explanation.contributions)
    return {
        "path": explanation.path,
        "output": explanation.output,
        "test_rows": rows,
        "snapshot_rows": snapshot_rows,
        "base_value": round(explanation.base_value, 6),
        "base_probability": round(explanation.base_probability, 6),
        "additivity_error_below": 1e-4,
        "top_features": {
            name: round(float(value), 6)
            for name, value in importance["mean_abs_log_odds"].head(15).items()
        },
        "groups_probability_points": {
            name: round(float(value), 6) for name, value in groups["mean_abs_probability"].items()
        },
    }


def _champion_run(
    config: Config,
    registered: dict[str, Any],
    model: Any,
    rows: pd.DataFrame,
    columns: FeatureColumns,
) -> str:
    """The run that logged the champion version, where the report goes; checked before anything
    is written. The version must exist in the store in use and be the model ``data/models``
    holds: a moved or switched store (``MLFLOW_TRACKING_URI``) may hold another model under the
    same version number, whose run would silently get this model's report."""
    name, version = registered["registered_model"], str(registered["champion_version"])
    where = f"data/models names {name} v{version} as champion"
    try:
        uri = tracking.require_store(config.mlflow)
        tracking.configure(config.mlflow)
        run_id = tracking.version_run_id(name, version)
        stored = tracking.load_model(name, version=version)
    except Exception as error:  # the store down, the version or its artefact missing
        fail(
            f"cannot attach the report to the champion's MLflow run: {first_line(error)}; "
            f"{where}: restore the tracking store train used (or point {tracking.TRACKING_URI_ENV} "
            "at it), or re-run train; nothing was written"
        )
    sample = rows.head(CHECK_ROWS)
    ours, theirs = predict_churn(model, sample, columns), predict_churn(stored, sample, columns)
    if not np.allclose(ours, theirs, rtol=0, atol=1e-9):
        fail(
            f"the tracking store {uri} holds another model as {name} v{version} than "
            f"{config.paths.models_dir / 'champion'} ({where}, trained against another store?): "
            "re-run train against this store, or point the tracking URI at the one train used; "
            "nothing was written"
        )
    return run_id


if __name__ == "__main__":
    import sys

    from pipeline.cli import app

    app(["explain", *sys.argv[1:]])
