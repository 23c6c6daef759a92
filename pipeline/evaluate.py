"""DVC stage ``evaluate``: the champion and every candidate on the test cutoff, as DVC metrics
and plots, per segment, against the synthetic world's oracle, and a rolling-origin backtest.

Reads the features, ``paths.models_dir`` (written by ``churn train``) and, where it exists, the
truth folder; writes ``paths.evaluation_dir`` (small files meant for git, so ``dvc metrics diff``
and ``dvc plots diff`` compare commits):

* ``metrics.json``: per model (``champion``, each candidate, ``oracle``) ROC AUC, PR AUC, log
  loss, Brier, ECE, top-fraction lift and recall, EMP and profit at the best threshold; the
  model/oracle ratios;
* ``segments.json``: the champion's metrics per plan, channel, tenure band and value band;
* ``backtest.json``: the winning candidate refitted at earlier test cutoffs, and its spread;
* ``plots/<curve>/<model>.csv``: ROC, precision-recall, calibration, gains, profit.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from core.atomic import atomic_dir, atomic_path, json_text, rounded
from core.config import Config
from core.logging import get_logger
from core.names import SettingNameError
from models import tracking
from models.candidates import FeatureColumns
from models.evaluation import (
    ORACLE,
    backtest,
    curve_tables,
    metrics_of,
    oracle_ratios,
    oracle_scores,
    segment_labels,
    segment_metrics,
    stability,
)
from models.split import LABEL, CutoffSplit, rolling_origins
from models.training import MetricSettings, predict_churn
from pipeline.errors import fail, read_json_output
from pipeline.recorded import load_training, read_registered, recorded_test_rows
from pipeline.truth import truth_folder

_log = get_logger(__name__)

CHAMPION = "champion"


def run(config: Config) -> dict[str, Any]:
    """Write the evaluation folder; return the content of ``metrics.json``."""
    registered = read_registered(config.paths.models_dir)
    frame = load_training(config.paths.features_dir)
    split = CutoffSplit.from_dict(registered["split"])
    test = recorded_test_rows(frame, registered, "evaluate")
    try:  # before any model is scored: a misspelt segment column is a usage error
        test_segments = segment_labels(test, config.evaluate)
    except SettingNameError as error:
        fail(str(error), code=2)
    columns = FeatureColumns.from_dict(registered["feature_columns"])
    settings = MetricSettings.of(config)
    labels = test[LABEL].to_numpy(dtype=int)
    scores = {
        name: predict_churn(tracking.load_saved_model(path), test, columns)
        for name, path in _model_folders(config.paths.models_dir).items()
    }
    truth = _read_truth(config, split.test)
    oracle_matched = None
    if truth is not None:
        scores[ORACLE], oracle_matched = oracle_scores(test, truth)
    per_model = {name: metrics_of(labels, values, settings) for name, values in scores.items()}
    metrics: dict[str, Any] = {
        "test_cutoff": split.test.isoformat(),
        "champion_version": registered["champion_version"],
        "models": per_model,
    }
    if ORACLE in per_model:
        metrics["oracle_rows_matched"] = oracle_matched
        metrics["model_vs_oracle"] = {
            name: oracle_ratios(values, per_model[ORACLE])
            for name, values in per_model.items()
            if name != ORACLE
        }
    segments = segment_metrics(
        labels,
        scores[CHAMPION],
        test_segments,
        settings,
        config.evaluate.min_segment_rows,
    )
    backtest_rows = _backtest(config, frame, registered, columns, truth)
    # Only this stage's own files are replaced: the folder also holds other stages' metrics
    # (offers). Each file and the plots folder are written in full before any is swapped in.
    folder = config.paths.evaluation_dir
    backtest_summary = {
        "origins": backtest_rows,
        "stability": {m: stability(backtest_rows, m) for m in ("roc_auc", "pr_auc", "ece")},
    }
    with (
        atomic_path(folder / "metrics.json") as metrics_file,
        atomic_path(folder / "segments.json") as segments_file,
        atomic_path(folder / "backtest.json") as backtest_file,
        atomic_dir(folder / "plots") as plots,
    ):
        metrics_file.write_text(json_text(rounded(metrics)), encoding="utf-8")
        segments_file.write_text(json_text(rounded(segments)), encoding="utf-8")
        backtest_file.write_text(json_text(rounded(backtest_summary)), encoding="utf-8")
        for name, values in scores.items():
            for curve, table in curve_tables(
                labels, values, settings, config.evaluate.curve_points
            ).items():
                path = plots / curve / f"{name}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                table.round(6).to_csv(path, index=False)
    _echo_summary(metrics)
    return metrics


def _model_folders(models_dir: Path) -> dict[str, Path]:
    """The champion first, then the candidates in params order (their folder names)."""
    folders = {CHAMPION: models_dir / CHAMPION}
    candidates = read_json_output(models_dir / "training.json", "train")
    return folders | {name: models_dir / "candidates" / name for name in candidates}


def _read_truth(config: Config, test_cutoff: dt.date) -> pd.DataFrame | None:
    folder = truth_folder(config, "oracle comparison")
    if folder is None:
        return None
    truth_horizon = config.generate.truth.horizon_days
    if truth_horizon != config.churn.horizon_days:
        # the truth's probabilities are of churning within its own horizon: scored against
        # labels of another horizon, the "oracle" would be miscalibrated and its ratios void
        _log.warning(
            "the truth's horizon differs from the labels': the oracle comparison is skipped; "
            "set generate.truth.horizon_days to churn.horizon_days and run churn generate",
            truth_horizon_days=truth_horizon,
            churn_horizon_days=config.churn.horizon_days,
        )
        return None
    truth = pd.read_parquet(folder, columns=["customer_id", "cutoff_date", "p_churn_no_offer"])
    truth_cutoffs = set(pd.to_datetime(truth["cutoff_date"]).dt.date)
    if test_cutoff not in truth_cutoffs:
        # generate.truth's grid differs from the features' (every_days, snapshot): every test
        # row would get probability 1 and the "oracle" metrics would be meaningless.
        _log.warning(
            "the truth has no rows at the test cutoff: the oracle comparison is skipped; align "
            "generate.truth with features.cutoffs",
            test_cutoff=str(test_cutoff),
            truth_cutoffs=len(truth_cutoffs),
        )
        return None
    return truth


def _backtest(
    config: Config,
    frame: pd.DataFrame,
    registered: dict[str, Any],
    columns: FeatureColumns,
    truth: pd.DataFrame | None,
) -> list[dict[str, Any]]:
    origins = rolling_origins(
        sorted(pd.to_datetime(frame["cutoff_date"]).dt.date.unique()),
        config.churn.horizon_days,
        config.train.split.embargo,
        config.evaluate.backtest.origins,
        config.evaluate.backtest.min_train_cutoffs,
    )
    winner = registered["winner"]
    return backtest(
        frame,
        origins,
        winner["kind"],
        winner["params"],
        columns,
        config.train,
        MetricSettings.of(config),
        config.seed,
        truth,
    )


def _echo_summary(metrics: dict[str, Any]) -> None:
    for name, values in metrics["models"].items():
        typer.echo(
            f"{name:>12}: ROC AUC {values['roc_auc']:.4f}  PR AUC {values['pr_auc']:.4f}  "
            f"ECE {values['ece']:.4f}  EMP {values['emp']:.3f}"
        )


if __name__ == "__main__":
    import sys

    from pipeline.cli import app

    app(["evaluate", *sys.argv[1:]])
